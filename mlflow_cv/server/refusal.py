"""How the guard stores say no: an ``MlflowException`` with ``INVALID_PARAMETER_VALUE`` (HTTP 400) whose
message starts ``mlflow-cv guard:``. Light: imported by both guards. (The URI scheme they answer to is
:data:`mlflow_cv.tags.GUARD_SCHEME`.)"""

from __future__ import annotations

from typing import Any

__all__ = ["refuse"]


def refuse(message: str, *, code: str = "INVALID_PARAMETER_VALUE") -> Any:
    """A refusal of the guard (raise it): HTTP 400, or 403 with ``code="PERMISSION_DENIED"``."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos import databricks_pb2

    return MlflowException(f"mlflow-cv guard: {message}", error_code=getattr(databricks_pb2, code))
