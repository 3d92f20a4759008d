"""The run context provider, the dataset input types, metric names and the run comparison."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_cv.cli import cli
from mlflow_cv.data.manifest import load_manifest
from mlflow_cv.data.snapshots import create_snapshot
from mlflow_cv.project import Project
from mlflow_cv.tracking.dataset import snapshot_datasets
from mlflow_cv.tracking.dataset_source import SnapshotSource
from mlflow_cv.tracking.lineage import Lineage, LineageRunContext, active_lineage
from mlflow_cv.yolo.scoring import metric_name

LINEAGE = Lineage(
    snapshot_id="DS-1.1.1",
    manifest_sha256="a" * 64,
    split_seed=42,
    commit="c" * 40,
    dirty=False,
    config_sha256="f" * 64,
    train_seed=0,
    preflight="passed",
    source_name="/p/train.py",
    branch="main",
)


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    """A fresh SQLite store for the test, run from tmp_path so that artifacts land there too (conftest
    fails a test that leaks an active run and puts the tracking URI back)."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    return MlflowClient(uri)


def test_provider_is_discovered_through_its_entry_point() -> None:
    from importlib.metadata import entry_points

    from mlflow.tracking.context.registry import _run_context_provider_registry

    (ep,) = [e for e in entry_points(group="mlflow.run_context_provider") if e.name == "mlflow_cv"]
    assert ep.load() is LineageRunContext
    assert any(isinstance(p, LineageRunContext) for p in _run_context_provider_registry)


def test_every_run_started_under_a_lineage_is_tagged(tracking: MlflowClient) -> None:
    with active_lineage(LINEAGE), mlflow.start_run() as run, mlflow.start_run(nested=True) as child:
        pass
    with mlflow.start_run() as outside:
        pass
    for run_id in (run.info.run_id, child.info.run_id):
        tags = tracking.get_run(run_id).data.tags
        assert tags["cv.data.snapshot"] == "DS-1.1.1"
        assert tags["cv.code.commit"] == tags["mlflow.source.git.commit"] == "c" * 40
        assert tags["cv.config.id"] == "f" * 12
    assert "cv.data.snapshot" not in tracking.get_run(outside.info.run_id).data.tags


def test_dataset_source_round_trips_and_loads_the_manifest(project: Project, shapes_dir) -> None:
    create_snapshot(project, shapes_dir("1.0.0"), snapshot_id="DS-1.0.0")
    manifest = load_manifest(project, "DS-1.0.0")
    datasets = snapshot_datasets(manifest, project.manifest_path("DS-1.0.0"))
    assert [d.split for d in datasets] == list(manifest.splits)
    source = datasets[0].source
    again = SnapshotSource.from_json(source.to_json())
    assert again.to_dict() == source.to_dict()
    assert again.load().sha256 == manifest.sha256
    assert json.loads(datasets[0].to_dict()["profile"])["images"] == len(manifest.splits[datasets[0].split])
    assert len(datasets[0].digest) == 36


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("metrics/mAP50(B)", "val/mAP50"),
        ("metrics/mAP50-95(M)", "val/mask_mAP50-95"),
        ("metrics/accuracy_top1", "val/accuracy_top1"),
        ("train/box_loss", "train/box_loss"),
        ("lr/pg0", "lr/pg0"),
        ("metrics/recall(P)", "val/pose_recall"),
        ("val/AP50/traffic-light (x)", "val/AP50/traffic-light _x_"),
    ],
)
def test_metric_names(key: str, name: str) -> None:
    assert metric_name(key) == name


def test_compare_shows_lineage_and_what_differs(tracking: MlflowClient, tmp_path: Path) -> None:
    ids = []
    for snapshot, lr, ap in (("DS-1.0.0", "0.01", 0.5), ("DS-1.1.1", "0.02", 0.7)):
        lineage = Lineage(**{**LINEAGE.__dict__, "snapshot_id": snapshot})
        with active_lineage(lineage), mlflow.start_run(experiment_id=tracking.create_experiment(f"e{snapshot}")) as r:
            mlflow.log_params({"train.lr0": lr, "train.epochs": "5"})
            mlflow.log_metrics({"val/mAP50": ap, "val/AP50/circle": ap - 0.1, "lr/pg0": 0.1})
        ids.append(r.info.run_id)
    result = CliRunner().invoke(cli, ["compare", "--project", str(tmp_path), "--json", *ids])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    assert rows["snapshot"] == ["DS-1.0.0", "DS-1.1.1"]
    assert rows["train.lr0"] == ["0.01", "0.02"]
    assert "train.epochs" not in rows and "lr/pg0" not in rows
    assert rows["val/mAP50"] == ["0.5000", "0.7000"]
    latest = CliRunner().invoke(
        cli, ["compare", "--project", str(tmp_path), "--experiment", "eDS-1.1.1", "--last", "1"]
    )
    assert latest.exit_code == 0 and "DS-1.1.1" in latest.output
    missing = CliRunner().invoke(cli, ["compare", "--project", str(tmp_path), "0" * 32])
    assert missing.exit_code == 2 and "cannot read the runs" in missing.output


@pytest.mark.parametrize("first", ["mlflow_cv.tracking.dataset", "mlflow"])
def test_mlflow_registers_the_dataset_source_whichever_is_imported_first(first: str) -> None:
    """MLflow imports every ``mlflow.dataset_source`` entry point while ``mlflow.data`` loads: ours must
    register (it failed as a half-imported module when mlflow-cv's dataset module imported MLflow first)."""
    code = (
        f"import {first}\n"
        "import mlflow_cv.tracking.dataset\n"
        "from mlflow.data.dataset_source_registry import get_dataset_source_from_json\n"
        "from mlflow_cv.tracking.dataset_source import SnapshotSource\n"
        "s = SnapshotSource(snapshot_id='DS-1.0.0', manifest_sha256='a' * 64, uri='file:///m.json')\n"
        "print(type(get_dataset_source_from_json(s.to_json(), source_type='mlflow_cv_snapshot')).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Failure attempting to register" not in out.stderr, out.stderr[-2000:]
    assert out.stdout.strip() == "SnapshotSource"
