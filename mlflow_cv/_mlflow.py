"""Every private MLflow name mlflow-cv uses, in one place, each with the MLflow version it was checked
against. MLflow may change these without notice: when it does, this module is the one to mend.

Nothing here imports MLflow when the module is imported (``import mlflow_cv`` and the CLI stay fast):

- a constant is copied, and ``tests/test_mlflow_shim.py`` compares it with MLflow's own;
- a function imports its private name inside, and does nothing else with it than MLflow does, so a call
  site reads ``save_example(model, example, path)`` and this module is the only one that knows where
  MLflow keeps ``_save_example``. The test imports every private name this module names.

Two helpers lean on MLflow's behaviour, not on a name: :func:`bad_request` (the scoring server rewrites
the message of a model's ``MlflowException``) and :func:`params_as_sent` (MLflow's params schema drops
unknown names before the model sees them). MLflow offers no supported way to do either (checked in
3.17.2: ``mlflow/pyfunc/scoring_server/__init__.py`` and ``mlflow.models.utils._enforce_params_schema``).

No module of mlflow-cv but this one imports a private MLflow name (``tests/test_layout.py`` fails if one
does).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CHECKED_AGAINST",
    "CONDA_ENV_FILE",
    "CONSTRAINTS_FILE",
    "DEFAULT_AWAIT_MAX_SLEEP_SECONDS",
    "PYTHON_ENV_FILE",
    "REQUIREMENTS_FILE",
    "SERVER_ARTIFACT_ROOT_ENV_VAR",
    "add_code_to_system_path",
    "bad_request",
    "check_env_arguments",
    "conda_env",
    "copy_code_paths",
    "download_artifact",
    "download_file",
    "flavor_configuration",
    "init_packages_to_modules_map",
    "is_serving_proxied_artifacts",
    "params_as_sent",
    "pinned_requirement",
    "prepare_save_path",
    "process_conda_env",
    "process_pip_requirements",
    "proxied_artifact_path",
    "save_example",
    "server_tracking_store",
    "tracking_store",
    "user_permission",
    "write_python_env",
]

CHECKED_AGAINST = "3.17.2"  # the MLflow version every name below was checked against

# --- constants (copies; the test compares them with MLflow's) --------------------------------------------
CONDA_ENV_FILE = "conda.yaml"  # mlflow.utils.environment._CONDA_ENV_FILE_NAME (3.17.2)
REQUIREMENTS_FILE = "requirements.txt"  # mlflow.utils.environment._REQUIREMENTS_FILE_NAME (3.17.2)
CONSTRAINTS_FILE = "constraints.txt"  # mlflow.utils.environment._CONSTRAINTS_FILE_NAME (3.17.2)
PYTHON_ENV_FILE = "python_env.yaml"  # mlflow.utils.environment._PYTHON_ENV_FILE_NAME (3.17.2)
# mlflow.tracking._tracking_service.utils._SERVER_ARTIFACT_ROOT_ENV_VAR (3.17.2): `mlflow server`'s artifact root
SERVER_ARTIFACT_ROOT_ENV_VAR = "_MLFLOW_SERVER_ARTIFACT_ROOT"
# mlflow.tracking._model_registry.DEFAULT_AWAIT_MAX_SLEEP_SECONDS (3.17.2): log_model's registration wait
DEFAULT_AWAIT_MAX_SLEEP_SECONDS = 300


# --- saving a model (mlflow.utils.environment, mlflow.utils.model_utils, mlflow.models.utils) ------------
def pinned_requirement(package: str) -> str:
    """``package==<installed version>``: ``mlflow.utils.requirements_utils._get_pinned_requirement`` (3.17.2)."""
    from mlflow.utils.requirements_utils import _get_pinned_requirement

    return str(_get_pinned_requirement(package))


def conda_env(additional_pip_deps: list[str]) -> dict[str, Any]:
    """MLflow's conda environment plus ``additional_pip_deps``: ``mlflow.utils.environment._mlflow_conda_env``
    (3.17.2)."""
    from mlflow.utils.environment import _mlflow_conda_env

    env: dict[str, Any] = _mlflow_conda_env(additional_pip_deps=additional_pip_deps)
    return env


def check_env_arguments(conda_env: Any, pip_requirements: Any, extra_pip_requirements: Any) -> None:
    """Refuse more than one of the three: ``mlflow.utils.environment._validate_env_arguments`` (3.17.2)."""
    from mlflow.utils.environment import _validate_env_arguments

    _validate_env_arguments(conda_env, pip_requirements, extra_pip_requirements)


def process_pip_requirements(
    default: list[str], pip_requirements: Any, extra_pip_requirements: Any
) -> tuple[dict[str, Any], list[str], list[str]]:
    """(conda env, requirements, constraints): ``mlflow.utils.environment._process_pip_requirements`` (3.17.2)."""
    from mlflow.utils.environment import _process_pip_requirements

    env, requirements, constraints = _process_pip_requirements(default, pip_requirements, extra_pip_requirements)
    return env, list(requirements), list(constraints)


def process_conda_env(conda_env: Any) -> tuple[dict[str, Any], list[str], list[str]]:
    """(conda env, requirements, constraints) of a given conda env: ``mlflow.utils.environment._process_conda_env``
    (3.17.2)."""
    from mlflow.utils.environment import _process_conda_env

    env, requirements, constraints = _process_conda_env(conda_env)
    return env, list(requirements), list(constraints)


def write_python_env(path: str | os.PathLike[str]) -> None:
    """This interpreter's ``python_env.yaml``: ``mlflow.utils.environment._PythonEnv`` (3.17.2)."""
    from mlflow.utils.environment import _PythonEnv

    _PythonEnv.current().to_yaml(str(path))


def prepare_save_path(path: str | os.PathLike[str]) -> None:
    """Create ``path``, refusing a non-empty one: ``mlflow.utils.model_utils._validate_and_prepare_target_save_path``
    (3.17.2)."""
    from mlflow.utils.model_utils import _validate_and_prepare_target_save_path

    _validate_and_prepare_target_save_path(str(path))


def copy_code_paths(code_paths: list[str] | None, path: str | os.PathLike[str]) -> str | None:
    """Copy ``code_paths`` into the model's ``code/``; its subpath, None without any:
    ``mlflow.utils.model_utils._validate_and_copy_code_paths`` (3.17.2)."""
    from mlflow.utils.model_utils import _validate_and_copy_code_paths

    subpath: str | None = _validate_and_copy_code_paths(code_paths, str(path))
    return subpath


def save_example(model: Any, input_example: Any, path: str | os.PathLike[str]) -> None:
    """Write the input example (and its serving form) beside MLmodel: ``mlflow.models.utils._save_example``
    (3.17.2)."""
    from mlflow.models.utils import _save_example

    _save_example(model, input_example, str(path))


# --- loading a model ------------------------------------------------------------------------------------
def download_artifact(uri: str, output_path: str | None = None) -> str:
    """The local copy of ``uri`` (``runs:/``, ``models:/``, a path): ``mlflow.tracking.artifact_utils.
    _download_artifact_from_uri`` (3.17.2; ``models:/`` URIs leave ``registered_model_meta`` beside MLmodel)."""
    from mlflow.tracking.artifact_utils import _download_artifact_from_uri

    return str(_download_artifact_from_uri(artifact_uri=uri, output_path=output_path))


def flavor_configuration(path: str | os.PathLike[str], flavor_name: str) -> dict[str, Any]:
    """MLmodel's entry for ``flavor_name``: ``mlflow.utils.model_utils._get_flavor_configuration`` (3.17.2)."""
    from mlflow.utils.model_utils import _get_flavor_configuration

    conf: dict[str, Any] = _get_flavor_configuration(str(path), flavor_name)
    return conf


def add_code_to_system_path(path: str | os.PathLike[str], conf: Mapping[str, Any]) -> None:
    """Put the model's ``code`` folder first on ``sys.path``: ``mlflow.utils.model_utils.
    _add_code_from_conf_to_system_path`` (3.17.2)."""
    from mlflow.utils.model_utils import _add_code_from_conf_to_system_path

    _add_code_from_conf_to_system_path(str(path), dict(conf))


def init_packages_to_modules_map() -> None:
    """Build MLflow's map of installed packages now (the first ``log_model`` builds it otherwise, for seconds):
    ``mlflow.utils.requirements_utils._init_packages_to_modules_map`` (3.17.2). Without it (a newer MLflow),
    nothing: ``log_model`` builds what it needs itself, only later."""
    try:
        from mlflow.utils.requirements_utils import _init_packages_to_modules_map
    except ImportError:
        return
    _init_packages_to_modules_map()


# --- the tracking server (mlflow.server.handlers, mlflow.tracking._tracking_service) ---------------------
def server_tracking_store() -> Any:
    """The tracking store of this ``mlflow server``: ``mlflow.server.handlers._get_tracking_store`` (3.17.2)."""
    from mlflow.server.handlers import _get_tracking_store

    return _get_tracking_store()


def tracking_store(uri: str | None) -> Any:
    """The tracking store for ``uri`` (the client's): ``mlflow.tracking._tracking_service.utils._get_store``
    (3.17.2)."""
    from mlflow.tracking._tracking_service.utils import _get_store

    return _get_store(uri)


def is_serving_proxied_artifacts() -> bool:
    """Whether this server proxies artifacts: ``mlflow.server.handlers._is_serving_proxied_artifacts`` (3.17.2)."""
    from mlflow.server.handlers import _is_serving_proxied_artifacts

    return bool(_is_serving_proxied_artifacts())


def proxied_artifact_path(uri: str) -> str | None:
    """Where a proxied ``mlflow-artifacts:`` URI lies under the artifacts destination:
    ``mlflow.server.handlers._get_proxied_run_artifact_destination_path`` (3.17.2)."""
    from mlflow.server.handlers import _get_proxied_run_artifact_destination_path

    path: str | None = _get_proxied_run_artifact_destination_path(uri)
    return path


def user_permission(auth: Any, user: str, resource_type: str, resource_id: str) -> Any:
    """``user``'s effective permission on a resource, as MLflow's auth app decides it; ``auth`` is the loaded
    ``mlflow.server.auth`` module: its ``_resolve_user_permission_for_resource`` (3.17.2)."""
    return auth._resolve_user_permission_for_resource(user, resource_type, resource_id)


def download_file(repo: Any, remote_path: str, local_path: str) -> None:
    """Download one file of an artifact repository, without first asking whether it is a folder (the public
    ``download_artifacts`` does, one request more): ``ArtifactRepository._download_file`` (3.17.2)."""
    repo._download_file(remote_path, local_path)


# --- the scoring server (mlflow models serve) -----------------------------------------------------------
@functools.cache
def _bad_request_class() -> type[Exception]:
    from mlflow.exceptions import MlflowException

    class BadRequest(MlflowException):
        """HTTP 400 whose message is the reason alone.

        ``mlflow models serve`` rewrites the message of an MlflowException raised by the model to
        ``Failed to predict data '<the whole request>'. Error: …`` (a 389 KB image made a 519 KB body
        with the reason at its end): here the message is the one given first, and leads the JSON body.
        """

        def __init__(self, message: str) -> None:
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            super().__init__(message, error_code=INVALID_PARAMETER_VALUE)

        @property
        def message(self) -> str:
            return str(self.__dict__["_reason"])

        @message.setter
        def message(self, value: str) -> None:
            self.__dict__.setdefault("_reason", value)

        def serialize_as_json(self) -> str:
            return json.dumps({"message": self.message, **json.loads(super().serialize_as_json())})

    return BadRequest


def bad_request(message: str) -> Exception:
    """The exception a pyfunc model raises for an HTTP 400 whose JSON body starts with ``message`` alone.

    An ``MlflowException`` with ``INVALID_PARAMETER_VALUE`` is MLflow's supported 400, but the scoring server
    (3.17.2: ``invocations`` in ``mlflow/pyfunc/scoring_server/__init__.py``) sets its ``message`` to one
    that repeats the whole request first; this one keeps its first message.
    """
    return _bad_request_class()(message)


def params_as_sent(model: object, params: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The params as the caller passed them to ``PyFuncModel.predict`` of the pyfunc wrapper ``model``.

    MLflow enforces the signature's params schema before calling the model: names outside it are dropped
    with only a log line, so ``{"foo": 1}`` would be answered as if it were not there. The caller's dict is
    still the ``params`` of ``PyFuncModel.predict`` up the stack (3.17.2: the frame's ``self._predict_fn`` is
    the wrapper's ``predict``); called another way, ``params`` is it.
    """
    from mlflow.pyfunc import PyFuncModel

    code = inspect.unwrap(PyFuncModel.predict).__code__
    frame = inspect.currentframe()
    for _ in range(12):
        if frame is None:
            break
        if frame.f_code is code:
            caller = frame.f_locals.get("self")
            if getattr(getattr(caller, "_predict_fn", None), "__self__", None) is model:
                sent = frame.f_locals.get("params")
                return sent if isinstance(sent, Mapping) else params
        frame = frame.f_back
    return params
