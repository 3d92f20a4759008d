"""A user's training project (``train.py``, ``conf/``, snapshots, all committed) and running its training."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlflow_cv.project import Project
from tests.helpers import REPO
from tests.helpers.data import ShapeStages

# The smallest training that still exercises everything: one epoch at 64 px, no plots.
TINY = ["train.epochs=1", "train.imgsz=64", "train.batch=32", "train.plots=false", "train.workers=0"]
# Long enough that the detector finds some shapes (mAP above 0), so that equal numbers mean something.
LEARNS = [*TINY[3:], "train.epochs=8", "train.imgsz=96", "train.batch=16", "train.optimizer=AdamW", "train.lr0=0.002"]
EXPERIMENT = "tests"
RUN_LINE = re.compile(r"^run ([0-9a-f]{32}) finished", re.M)


def git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def new_project(root: Path) -> Project:
    """A user's project folder: train.py, conf/ (no snapshot options) and a .gitignore; not yet a repository."""
    root.mkdir(parents=True)
    shutil.copy(REPO / "train.py", root / "train.py")
    shutil.copytree(REPO / "conf", root / "conf", ignore=shutil.ignore_patterns("DS-*.yaml"))
    (root / ".gitignore").write_text(".mlflow-cv/\nmlflow.db\nmlruns/\noutputs/\nmultirun/\nshapes/\n")
    return Project(root=root)


def commit_all(root: Path, message: str = "project") -> None:
    """``git init`` (once) and commit everything, as a user does before training."""
    if not (root / ".git").exists():
        git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)


def make_train_project(
    root: Path, *, shapes: ShapeStages, stages: tuple[str, ...] = ("1.0.0", "1.1.0"), attr_rules: tuple[str, ...] = ()
) -> Project:
    """A git repository like a user's: train.py, conf/, the shapes data snapshotted (with ``attr_rules``
    as ``--attr``), all committed."""
    from mlflow_cv.data.snapshots import create_snapshot

    project = new_project(root)
    parent = None
    for stage in stages:
        shapes.bring(root / "shapes", stage)
        create_snapshot(project, root / "shapes", snapshot_id=f"DS-{stage}", parent=parent, attr_rules=attr_rules)
        parent = f"DS-{stage}"
    commit_all(root)
    return project


def run_train(
    project: Project, *overrides: str, cwd: Path | None = None, script: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``python train.py OVERRIDES`` in a subprocess, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "YOLO_"))}
    cmd = [sys.executable, script or str(project.root / "train.py"), *overrides]
    out = subprocess.run(cmd, cwd=cwd or project.root, env=env, capture_output=True, text=True, timeout=600)
    if check and out.returncode != 0:
        raise AssertionError(f"{cmd} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}")
    return out


def run_id_of(out: subprocess.CompletedProcess[str]) -> str:
    found = RUN_LINE.findall(out.stdout)
    assert found, out.stdout[-2000:]
    return found[-1]


def client_for(project: Project) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{project.root / 'mlflow.db'}")
