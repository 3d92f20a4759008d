"""Where a snapshot dataset comes from, for MLflow: the ``mlflow.dataset_source`` entry point.

A module of its own because MLflow imports every ``mlflow.dataset_source`` entry point while
``mlflow.data`` itself is being imported: the module that first imports ``mlflow.data``
(:mod:`mlflow_cv.tracking.dataset`) cannot be the entry point, or MLflow finds it half-imported.
Import this module only after ``mlflow.data`` (as :mod:`mlflow_cv.tracking.dataset` does).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.data.dataset_source import DatasetSource

if TYPE_CHECKING:
    from mlflow_cv.data.manifest import Manifest

__all__ = ["SOURCE_TYPE", "SnapshotSource"]

SOURCE_TYPE = "mlflow_cv_snapshot"


class SnapshotSource(DatasetSource):
    """Where a snapshot is defined: its frozen manifest (entry point ``mlflow.dataset_source``)."""

    def __init__(self, *, snapshot_id: str, manifest_sha256: str, uri: str) -> None:
        self.snapshot_id = snapshot_id
        self.manifest_sha256 = manifest_sha256
        self.uri = uri

    @staticmethod
    def _get_source_type() -> str:
        return SOURCE_TYPE

    def load(self) -> Manifest:
        """The manifest, read from ``uri`` and checked against its stored hash."""
        from urllib.parse import urlparse
        from urllib.request import url2pathname

        from mlflow_cv.data.manifest import read_manifest

        return read_manifest(Path(url2pathname(urlparse(self.uri).path)))

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False  # built explicitly from a manifest, never guessed from a string

    @classmethod
    def _resolve(cls, raw_source: Any) -> SnapshotSource:
        raise NotImplementedError("build a SnapshotSource from a manifest")

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot_id": self.snapshot_id, "manifest_sha256": self.manifest_sha256, "uri": self.uri}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> SnapshotSource:
        return cls(
            snapshot_id=source_dict["snapshot_id"],
            manifest_sha256=source_dict["manifest_sha256"],
            uri=source_dict["uri"],
        )
