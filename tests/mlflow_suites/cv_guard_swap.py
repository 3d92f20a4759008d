"""pytest plugin for running MLflow's own SQLAlchemy store suites against mlflow-cv's guarded stores.

Loaded by ``scripts/mlflow_store_suites.py`` as ``-p cv_guard_swap`` (this folder on ``PYTHONPATH``),
with the rootdir in a folder that holds MLflow's ``tests/`` tree. It provides:

- the few fixtures of MLflow's ``tests/conftest.py`` that the store suites use (``cached_db``,
  ``db_uri``, ``disable_workspace_mode_by_default``, the autouse ``clear_engine_map``), so that MLflow's
  huge root conftest (which imports half of MLflow's test tree) is not needed;
- with ``--cv-guard``: after collection, every ``SqlAlchemyStore`` name bound in a module of MLflow's
  ``tests`` package (the test modules and their conftests) is rebound to the guarded subclass, so each
  ``store`` fixture, ``_get_store`` helper and direct construction builds the guarded store. The cached
  database is then created through the plugin entry points (``build_tracking_store``/``build_store`` on
  a ``cv-guard-sqlite:///`` URI), which also checks that they build exactly the classes swapped in.

Nothing here imports MLflow's test modules: it only rebinds names in the ones pytest imported.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from shutil import copy2
from typing import Any

import pytest

GUARD_OPTION = "--cv-guard"
_SWAPPED: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        GUARD_OPTION,
        action="store_true",
        default=False,
        help="run MLflow's store suites with mlflow-cv's guarded SqlAlchemy stores swapped in",
    )


def _guarded(config: pytest.Config) -> bool:
    return bool(config.getoption(GUARD_OPTION))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "notrackingurimock: MLflow's marker (no tracking URI mock)")
    # MLflow's root conftest runs everything with _MLFLOW_TESTING on; a tracking URI in the environment
    # would make the store fixtures use that database instead of a fresh SQLite file.
    os.environ["MLFLOW_TESTING"] = "TRUE"
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)
    # The webhook tests use https://example.com: MLflow resolves a webhook's host to refuse private IPs,
    # which fails on a machine without DNS. Skipping that lookup changes nothing the guard touches.
    os.environ.setdefault("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")


def _store_classes() -> dict[type, type]:
    """MLflow's SQLAlchemy store class → the guarded subclass that replaces it."""
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

    from mlflow_cv.server.registry_store import GuardedRegistryStore
    from mlflow_cv.server.tracking_store import GuardedTrackingStore

    return {RegistryStore: GuardedRegistryStore, TrackingStore: GuardedTrackingStore}


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[Any]) -> None:
    if not _guarded(config):
        return
    swaps = _store_classes()
    for name, module in sorted(sys.modules.items()):
        if module is None or not (name == "tests" or name.startswith("tests.")):
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, type) and value in swaps:
                setattr(module, attr, swaps[value])
                _SWAPPED.append(f"{name}.{attr} -> {swaps[value].__module__}.{swaps[value].__qualname__}")


def pytest_report_header(config: pytest.Config) -> str:
    return f"mlflow-cv guard: {'ON (guarded stores swapped in)' if _guarded(config) else 'off (MLflow stores)'}"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _guarded(config):
        terminalreporter.write_line(f"mlflow-cv guard: {len(_SWAPPED)} names rebound")
        for line in _SWAPPED:
            terminalreporter.write_line(f"  {line}")


# --- the fixtures of MLflow's tests/conftest.py that the store suites use ------------------------


@pytest.fixture(scope="session")
def cached_db(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Path:
    """A migrated SQLite database, made once per session; tests copy it (as MLflow's conftest does)."""
    tmp_dir = tmp_path_factory.mktemp("sqlite_db")
    db_path = tmp_dir / "mlflow.db"
    artifact_uri = (tmp_dir / "artifacts").as_uri()
    if _guarded(pytestconfig):
        from mlflow_cv.server.stores import build_registry_store, build_tracking_store

        swaps = _store_classes()
        tracking = build_tracking_store(f"cv-guard-sqlite:///{db_path}", artifact_uri)
        registry = build_registry_store(f"cv-guard-sqlite:///{db_path}")
        assert type(tracking) in swaps.values() and type(registry) in swaps.values(), (type(tracking), type(registry))
        tracking.engine.dispose()
        registry.engine.dispose()
    else:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        SqlAlchemyStore(f"sqlite:///{db_path}", artifact_uri).engine.dispose()
    return db_path


@pytest.fixture
def db_uri(cached_db: Path) -> Iterator[str]:
    """A fresh SQLite URI for each test, a copy of the cached database."""
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp_dir:
        db_path = Path(tmp_dir) / "mlflow.db"
        copy2(cached_db, db_path)
        yield f"sqlite:///{db_path}"


@pytest.fixture
def disable_workspace_mode_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "false")


@pytest.fixture(autouse=True)
def clear_engine_map() -> None:
    """Each store caches engines by URI; clear the caches between tests (as MLflow's conftest does)."""
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

    TrackingStore._engine_map.clear()
    RegistryStore._engine_map.clear()
    try:
        from mlflow.store.jobs.sqlalchemy_store import SqlAlchemyJobStore
    except ImportError:  # pragma: no cover - older MLflow
        return
    SqlAlchemyJobStore._engine_map.clear()
