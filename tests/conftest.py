"""Fixtures and the suite's own rules: slow work is marked ``slow``, no test leaks MLflow state, and a
session leaves nothing in the repository. Plain helpers live in ``tests/helpers``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlflow_cv.project import Project
from tests.helpers import REPO
from tests.helpers.data import ShapeStages, age_files
from tests.helpers.projects import EXPERIMENT, TINY, make_train_project, run_id_of, run_train
from tests.helpers.servers import Server, free_port, guarded_mlflow_server

# A test that needs one of these trains a model or starts a server (or shares a session that did):
# it is marked slow, so `make test-fast` (pytest -m "not slow") leaves it out. A test that trains or
# serves on its own carries @pytest.mark.slow (tests/test_suite_hygiene.py checks both).
# MLflow's own store tests, copied: tests/test_mlflow_store_suites.py runs them in a pytest of their own.
collect_ignore = ["mlflow_suites"]

SLOW_FIXTURES = frozenset(
    {"train_project", "trained", "mlflow_server", "pg_mlflow_server", "guarded_server", "scored_run"}
)


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


# --- nothing left in the repository ----------------------------------------------------------------------

_CACHES = (".venv/", ".pytest_cache/", ".hypothesis/", ".ruff_cache/", ".mypy_cache/")
_LEFTOVERS = pytest.StashKey[frozenset[str]]()


def _untracked() -> frozenset[str] | None:
    """Untracked and ignored paths of the repository, tool caches aside; None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--ignored", "-z"], cwd=REPO, capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    paths = {entry[3:] for entry in out.stdout.split("\0") if entry[:2] in ("??", "!!")}
    return frozenset(p for p in paths if not p.startswith(_CACHES) and "__pycache__" not in p and ".egg-info" not in p)


def pytest_sessionstart(session: pytest.Session) -> None:
    before = _untracked()
    if before is not None:
        session.config.stash[_LEFTOVERS] = before


def pytest_sessionfinish(session: pytest.Session) -> None:
    before = session.config.stash.get(_LEFTOVERS, None)
    after = _untracked() if before is not None else None
    if before is None or after is None or not (new := sorted(after - before)):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"the tests left {len(new)} new path(s) in {REPO} (write under tmp_path instead):", *new]
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", "repository leftovers", red=True)
        for line in lines:
            reporter.write_line(line)
    else:
        print("\n".join(lines), file=sys.stderr)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- MLflow state does not leak from one test to the next ------------------------------------------------


@pytest.fixture(autouse=True)
def _mlflow_state() -> Iterator[None]:
    """After each test: fail it if it left an MLflow run active (ending it), and put the tracking URI
    and $MLFLOW_TRACKING_URI back as they were. Costs nothing in tests that never import mlflow."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    utils = sys.modules.get("mlflow.tracking._tracking_service.utils")
    uri = getattr(utils, "_tracking_uri", None)
    yield
    mlflow = sys.modules.get("mlflow")
    leaked = []
    if mlflow is not None:
        while (run := mlflow.active_run()) is not None and len(leaked) < 100:
            leaked.append(run.info.run_id)
            try:
                mlflow.end_run("KILLED")
            except Exception:  # the store may be gone with the test's tmp_path: forget the run anyway
                mlflow.tracking.fluent._active_run_stack.get().pop()
        if getattr(sys.modules.get("mlflow.tracking._tracking_service.utils"), "_tracking_uri", None) != uri:
            mlflow.set_tracking_uri(uri)
    if env is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = env
    if leaked:
        pytest.fail(f"the test left MLflow run(s) active: {', '.join(leaked)} (ended as KILLED)")


# --- data and projects -------------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(root=tmp_path / "project")


@pytest.fixture(scope="session")
def shape_stages(tmp_path_factory: pytest.TempPathFactory) -> ShapeStages:
    """The shapes dataset's stages, each rendered at most once a session."""
    return ShapeStages(tmp_path_factory.mktemp("shape-stages"))


@pytest.fixture
def shapes_dir(tmp_path: Path, shape_stages: ShapeStages) -> Callable[[str], Path]:
    """Bring a shapes dataset folder to a stage of the guide's Example 1 and return it."""
    dest = tmp_path / "shapes"

    def make(stage: str = "1.0.0") -> Path:
        shape_stages.bring(dest, stage)
        return dest

    return make


@pytest.fixture
def snap(project: Project, shapes_dir: Callable[[str], Path]) -> tuple[Project, Path]:
    """DS-1.0.0 made from shapes files at rest (older than the racy window): ``(project, source)``."""
    from mlflow_cv.data.snapshots import create_snapshot

    src = shapes_dir("1.0.0")
    age_files(src)
    create_snapshot(project, src, snapshot_id="DS-1.0.0")
    return project, src


@pytest.fixture(scope="session")
def train_project(tmp_path_factory: pytest.TempPathFactory, shape_stages: ShapeStages) -> Project:
    """One committed project shared by the training tests (which must not dirty it)."""
    return make_train_project(tmp_path_factory.mktemp("train") / "project", shapes=shape_stages)


@pytest.fixture(scope="session")
def trained(train_project: Project) -> tuple[str, list[str]]:
    overrides = [
        "data=DS-1.0.0",
        "model=yolo",
        *TINY,
        "train.epochs=2",
        "train.plots=true",
        f"tracking.experiment={EXPERIMENT}",
    ]
    return run_id_of(run_train(train_project, *overrides)), overrides


# --- a real MLflow server ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``mlflow server`` on 127.0.0.1 with a SQLite backend, proxied artifacts and mlflow-cv's guards (tracking and registry)."""
    root = tmp_path_factory.mktemp("server")
    with guarded_mlflow_server(f"sqlite:///{root / 'mlflow.db'}", root) as server:
        yield server


@pytest.fixture(scope="session")
def pg_mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``mlflow server --workers 4`` backed by a real PostgreSQL (scripts/postgres.sh), with proxied
    artifacts and both guards (``cv-guard-postgresql://…``)."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="cv-pg-"))
    os.chmod(base, 0o755)  # as root, PostgreSQL runs as "postgres" and must reach its data folder
    script, data, pg_port = str(REPO / "scripts" / "postgres.sh"), str(base / "data"), str(free_port())
    started = subprocess.run([script, "start", data, pg_port], capture_output=True, text=True)
    if started.returncode == 3:
        pytest.skip(started.stderr.strip())  # not installed and not root: CI (root) installs it
    assert started.returncode == 0, started.stderr
    try:
        with guarded_mlflow_server(started.stdout.strip(), base, workers=4) as server:
            yield server
    finally:
        subprocess.run([script, "stop", data], check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def guarded_server(request: pytest.FixtureRequest) -> Server:
    """Each of the two: SQLite with one worker, PostgreSQL with four."""
    return request.getfixturevalue("mlflow_server" if request.param == "sqlite" else "pg_mlflow_server")  # type: ignore[no-any-return]
