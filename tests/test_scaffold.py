"""``mlflow-cv init DIR``: a project of one's own that works as it is, and never overwrites a file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mlflow_cv.cli import cli
from mlflow_cv.data.snapshots import create_snapshot
from mlflow_cv.errors import ConfigError
from mlflow_cv.project import Project
from mlflow_cv.scaffold import TEMPLATE, init_project
from mlflow_cv.training import compose_job, preflight_job
from tests.helpers import REPO
from tests.helpers.data import write_yolo
from tests.helpers.projects import commit_all


def test_the_repository_root_is_the_template() -> None:
    """One home: the root's and the demo's train.py and conf groups are links into the package's template."""
    for project in (REPO, REPO / "examples" / "shapes", REPO / "examples" / "roads"):  # root and examples
        for rel in ("train.py", "conf/config.yaml", "conf/model", "conf/train"):
            assert (project / rel).is_symlink() and (project / rel).resolve() == (TEMPLATE / rel).resolve(), rel


def test_a_new_project_snapshots_and_passes_the_preflight(tmp_path: Path) -> None:
    done = init_project(tmp_path / "roads")
    root = done.root
    assert done.git_init and (root / ".git").is_dir()
    assert {"train.py", "conf/config.yaml", "conf/model/yolo-seg.yaml", ".gitignore", "README.md"} <= set(done.written)
    ignored = [line for line in (root / ".gitignore").read_text().splitlines() if not line.startswith("#")]
    assert ".mlflow-cv/" in ignored and not any("conf" in p or "manifests" in p for p in ignored)  # pins committed
    assert "# roads" in (root / "README.md").read_text()
    project = Project(root=root)
    write_yolo(tmp_path / "export", {"a": "0 0.5 0.5 0.2 0.2\n", "b": "1 0.4 0.4 0.2 0.2\n"}, names=("road", "car"))
    create_snapshot(project, tmp_path / "export", snapshot_id="ROADS-1.0.0")
    commit_all(root, "ROADS-1.0.0")
    report = preflight_job(compose_job(root, ["data=ROADS-1.0.0", "model=yolo"]), project=project)
    assert not report.failed and report.pinned_run is not None, report.failed  # a fresh project's pins hold


def test_init_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "mine" / "conf").mkdir(parents=True)
    (tmp_path / "mine" / "train.py").write_text("# my own\n")
    with pytest.raises(ConfigError, match="would overwrite") as info:
        init_project(tmp_path / "mine")
    assert info.value.problems == ("train.py",)
    assert (tmp_path / "mine" / "train.py").read_text() == "# my own\n" and not (
        tmp_path / "mine" / ".gitignore"
    ).exists()
    out = CliRunner().invoke(cli, ["init", str(tmp_path / "cli")])
    assert out.exit_code == 0, out.output
    assert "created the mlflow-cv project" in out.output and (tmp_path / "cli" / "train.py").is_file()
