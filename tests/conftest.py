from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from mlflow_cv.data.snapshots import Project

REPO = Path(__file__).resolve().parents[1]


def _load_generator():  # the example generator is a script, not part of the package
    spec = importlib.util.spec_from_file_location("shapes_generate", REPO / "examples" / "shapes" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["shapes_generate"] = module
    spec.loader.exec_module(module)
    return module


shapes = _load_generator()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(root=tmp_path / "project")


@pytest.fixture
def shapes_dir(tmp_path: Path) -> Callable[[str], Path]:
    """Bring a shapes dataset folder to a stage of the guide's Example 1 and return it."""
    dest = tmp_path / "shapes"

    def make(stage: str = "1.0.0") -> Path:
        shapes.generate(dest, stage=stage)
        return dest

    return make


def write_yolo(
    root: Path, labels: dict[str, str], *, names: tuple[str, ...] = ("a", "b"), images: tuple[str, ...] = ()
) -> Path:
    """A tiny YOLO dataset: ``labels`` maps item → label text; an image is written for each item."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text("names: [" + ", ".join(names) + "]\n")
    for item in [*labels, *images]:
        path = root / "images" / f"{item}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8 fake jpeg " + item.encode())
    for item, text in labels.items():
        path = root / "labels" / f"{item}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


# --- training projects -------------------------------------------------------------------------------

# The smallest training that still exercises everything: one epoch at 64 px, no plots.
TINY = ["train.epochs=1", "train.imgsz=64", "train.batch=32", "train.plots=false", "train.workers=0"]
EXPERIMENT = "tests"


def git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def make_train_project(root: Path, stages: tuple[str, ...] = ("1.0.0", "1.1.0")) -> Project:
    """A git repository like a user's: train.py, conf/, the shapes data snapshotted, all committed."""
    from mlflow_cv.data.snapshots import create_snapshot

    root.mkdir(parents=True)
    shutil.copy(REPO / "train.py", root / "train.py")
    shutil.copytree(REPO / "conf", root / "conf", ignore=shutil.ignore_patterns("DS-*.yaml"))
    (root / ".gitignore").write_text(".mlflow-cv/\nmlflow.db\nmlruns/\noutputs/\nmultirun/\nshapes/\n")
    project = Project(root=root)
    parent = None
    for stage in stages:
        shapes.generate(root / "shapes", stage=stage)
        create_snapshot(project, root / "shapes", snapshot_id=f"DS-{stage}", parent=parent)
        parent = f"DS-{stage}"
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "project")
    return project


@pytest.fixture(scope="session")
def train_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """One committed project shared by the training tests (which must not dirty it)."""
    return make_train_project(tmp_path_factory.mktemp("train") / "project")


def run_train(project: Project, *overrides: str, cwd: Path | None = None, script: str | None = None,
              check: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``python train.py OVERRIDES`` in a subprocess, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "YOLO_"))}
    cmd = [sys.executable, script or str(project.root / "train.py"), *overrides]
    out = subprocess.run(cmd, cwd=cwd or project.root, env=env, capture_output=True, text=True, timeout=600)
    if check and out.returncode != 0:
        raise AssertionError(f"{cmd} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}")
    return out


RUN_LINE = re.compile(r"^run ([0-9a-f]{32}) finished", re.M)


def run_id_of(out: subprocess.CompletedProcess[str]) -> str:
    found = RUN_LINE.findall(out.stdout)
    assert found, out.stdout[-2000:]
    return found[-1]


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


def client_for(project: Project) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{project.root / 'mlflow.db'}")


# --- a real MLflow server ------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server(NamedTuple):
    url: str
    root: Path  # holds mlflow.db, artifacts/ and server.log


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``mlflow server`` on 127.0.0.1 with a SQLite backend, proxied artifacts and mlflow-cv's registry guard."""
    root = tmp_path_factory.mktemp("server")
    db = f"sqlite:///{root / 'mlflow.db'}"
    port = free_port()
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", db, "--registry-store-uri", f"cv-guard-{db}",
           "--artifacts-destination", str(root / "artifacts"), "--workers", "1"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    with running(cmd, env=env, log=root / "server.log", ready=f"http://127.0.0.1:{port}/health") as url:
        yield Server(url, root)


@pytest.fixture(scope="session")
def pg_mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``mlflow server`` backed by a real PostgreSQL (scripts/postgres.sh), with proxied artifacts and
    the registry guard (``cv-guard-postgresql://…``)."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="cv-pg-"))
    os.chmod(base, 0o755)  # as root, PostgreSQL runs as "postgres" and must reach its data folder
    script, data, pg_port = str(REPO / "scripts" / "postgres.sh"), str(base / "data"), str(free_port())
    started = subprocess.run([script, "start", data, pg_port], capture_output=True, text=True)
    if started.returncode == 3:
        pytest.skip(started.stderr.strip())  # not installed and not root: CI (root) installs it
    assert started.returncode == 0, started.stderr
    db = started.stdout.strip()
    port = free_port()
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", db, "--registry-store-uri", f"cv-guard-{db}",
           "--artifacts-destination", str(base / "artifacts"), "--workers", "1"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    try:
        with running(cmd, env=env, log=base / "server.log", ready=f"http://127.0.0.1:{port}/health") as url:
            yield Server(url, base)
    finally:
        subprocess.run([script, "stop", data], check=False)
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def running(cmd: list[str], *, env: dict[str, str], log: Path, ready: str, timeout: float = 180) -> Iterator[str]:
    """Run a server until the block ends; yields its base URL once ``ready`` answers."""
    import time
    import urllib.request

    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(ready, timeout=2):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{cmd[:3]} did not start:\n{log.read_text()[-3000:]}") from None
                    time.sleep(0.5)
            yield ready.rsplit("/", 1)[0]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
