"""Which tracking store a run goes to, and whether it answers, decided before any training work."""

from __future__ import annotations

import contextlib
import os
import sys
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlflow_cv.errors import ConfigError
from mlflow_cv.health import health_problem
from mlflow_cv.tags import GUARD_SCHEME, guarded_uri

__all__ = [
    "ARTIFACTS_DIR",
    "DEFAULT_DB",
    "artifact_location",
    "artifact_location_problem",
    "default_artifact_root",
    "guarded_server_argv",
    "open_ui",
    "resolve_tracking_uri",
    "tracking_client",
    "tracking_problem",
    "using_tracking_uri",
]

DEFAULT_DB = "mlflow.db"
ARTIFACTS_DIR = "mlruns"  # where experiments created in the embedded SQLite store keep artifacts
ENV = "MLFLOW_TRACKING_URI"
_SQLITE = "sqlite:///"


def resolve_tracking_uri(configured: str | None, *, project_root: Path) -> str:
    """``configured``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<project>/mlflow.db``; made absolute.

    A relative SQLite path is taken from the project root, not the current directory (which Hydra may
    have changed). MLflow 3's file store is refused: it raises on first use.
    """
    uri = configured or os.environ.get(ENV) or f"{_SQLITE}{project_root / DEFAULT_DB}"
    if uri.startswith(_SQLITE):
        path = Path(uri[len(_SQLITE) :])
        return uri if path.is_absolute() else f"{_SQLITE}{(project_root / path).resolve()}"
    if "://" not in uri or uri.startswith("file:"):
        raise ConfigError(
            f"tracking URI {uri!r} is a file store, which MLflow 3 no longer supports; "
            f"use sqlite:///{DEFAULT_DB} (the default) or a server URL (tracking.uri=http://host:5000)"
        )
    return uri


def tracking_client(configured: str | None = None, *, project_root: Path) -> Any:
    """An ``MlflowClient`` for the tracking store :func:`resolve_tracking_uri` picks."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(resolve_tracking_uri(configured, project_root=project_root))


def tracking_problem(uri: str) -> str | None:
    """Why ``uri`` cannot take a run (unreachable server, unwritable database folder), or None."""
    if uri.startswith(("http://", "https://")):
        return health_problem(uri, what="the tracking server")
    if uri.startswith(_SQLITE):
        folder = Path(uri[len(_SQLITE) :]).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            return f"cannot write the tracking database in {folder}; create the folder"
    return None


@contextmanager
def using_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow at ``uri`` for a block, then put back both its global tracking URI and the
    ``$MLFLOW_TRACKING_URI`` that ``mlflow.set_tracking_uri`` also exports, so the next job in this
    process, another project or a test, resolves its own store.

    Until MLflow is imported, the variable is all it will read, so a training (which leaves MLflow to
    its writer process) does not pay for importing it here."""
    env_before = os.environ.get(ENV)
    mlflow = sys.modules.get("mlflow")
    before = mlflow.get_tracking_uri() if mlflow is not None else None
    os.environ[ENV] = uri
    if mlflow is not None:
        mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        if mlflow is not None:
            mlflow.set_tracking_uri(before)
        if env_before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = env_before


def artifact_location(tracking_uri: str, experiment: str, *, project_root: Path) -> str | None:
    """Where a run of ``experiment`` will write its artifacts, as the preflight checks it and the run opens
    with it: in a SQLite store the experiment's recorded location (read with sqlite3, without importing
    MLflow), else where a new experiment's go, ``<project>/mlruns`` (MLflow would use the current folder).
    None for a server: it is the server's business (``mlflow-artifacts:`` through the server)."""
    if not tracking_uri.startswith(_SQLITE):
        return None
    import sqlite3

    db = Path(tracking_uri[len(_SQLITE) :])
    if db.is_file():
        try:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
                row = conn.execute("SELECT artifact_location FROM experiments WHERE name = ?", (experiment,)).fetchone()
        except sqlite3.Error:
            row = None  # not an MLflow store yet (or locked): MLflow itself will say so
        if row and row[0]:
            return str(row[0])
    return default_artifact_root(project_root)


def default_artifact_root(project_root: Path) -> str:
    """Where experiments created in the project's embedded SQLite store keep their artifacts."""
    return (project_root / ARTIFACTS_DIR).as_uri()


def artifact_location_problem(location: str | None) -> str | None:
    """Why a local (``file:`` or plain path) artifact location cannot be written, or None."""
    if (
        location is None
        or location.startswith("mlflow-artifacts:")
        or ("://" in location and not location.startswith("file:"))
    ):
        return None  # a server or an object store: the tracking check covers reaching it
    path = Path(
        urllib.parse.unquote(urllib.parse.urlparse(location).path) if location.startswith("file:") else location
    )
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        return f"artifact location {path} cannot be created: {probe} is a file, not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"artifact location {path} is not writable ({probe} refuses writes)"
    return None


def guarded_server_argv(tracking_uri: str, *, project_root: Path, port: int = 5000) -> list[str]:
    """``mlflow server`` on 127.0.0.1 over the project's store with both guard stores (``cv-guard-…``),
    so the MLflow UI and its REST API meet the same rules as ``mlflow-cv``: the door we print is guarded."""
    if not tracking_uri.startswith(_SQLITE):
        raise ConfigError(
            f"{tracking_uri} is a tracking server already: open it in a browser (start it with "
            f"--backend-store-uri and --registry-store-uri {GUARD_SCHEME}<database URI>, see README)"
        )
    guarded, artifacts = guarded_uri(tracking_uri), default_artifact_root(project_root)
    return [
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        guarded,
        "--registry-store-uri",
        guarded,
        "--default-artifact-root",
        artifacts,
    ]


def open_ui(configured: str | None = None, *, project_root: Path, port: int = 5000) -> None:
    """Replace this process with the guarded MLflow UI of the project (:func:`guarded_server_argv`)."""
    import shutil

    argv = guarded_server_argv(
        resolve_tracking_uri(configured, project_root=project_root), project_root=project_root, port=port
    )
    mlflow = shutil.which("mlflow") or str(Path(sys.executable).parent / "mlflow")
    os.execv(mlflow, [mlflow, *argv[1:]])
