"""Real tiny trainings through ``python train.py``: lineage, determinism, multirun, chdir, fine-tune, Ctrl-C."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mlflow_cv.config import config_digest, flat_params, hparams_digest
from mlflow_cv.data.manifest import load_manifest
from mlflow_cv.project import Project
from mlflow_cv.tracking.result_record import read_result
from mlflow_cv.training import compose_job, train
from tests.helpers.data import ShapeStages
from tests.helpers.projects import (
    LEARNS,
    RUN_LINE,
    TINY,
    client_for,
    commit_all,
    git,
    make_train_project,
    run_id_of,
    run_train,
)

pytestmark = pytest.mark.slow


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_lineage_tag_has_its_value(train_project: Project, trained: tuple[str, list[str]]) -> None:
    run_id, overrides = trained
    client = client_for(train_project)
    run = client.get_run(run_id)
    tags = run.data.tags
    manifest_path = train_project.manifest_path("DS-1.0.0")
    manifest = json.loads(manifest_path.read_text())
    job = compose_job(train_project.root, overrides)
    assert run.info.status == "FINISHED"
    assert tags["cv.data.snapshot"] == "DS-1.0.0"
    assert (
        tags["cv.data.manifest_sha256"]
        == manifest["manifest_sha256"]
        == load_manifest(train_project, "DS-1.0.0").sha256
    )
    assert tags["cv.data.split_seed"] == str(manifest["split"]["seed"]) == "42"
    assert tags["cv.code.commit"] == git(train_project.root, "rev-parse", "HEAD")
    assert tags["mlflow.source.git.commit"] == tags["cv.code.commit"]
    assert tags["mlflow.source.git.branch"] == "main"
    assert tags["cv.code.dirty"] == "false"
    assert tags["cv.config.sha256"] == config_digest(job)
    assert tags["cv.config.id"] == config_digest(job)[:12]
    assert tags["cv.config.hparams_sha256"] == hparams_digest(job) != config_digest(job)
    assert tags["cv.train.seed"] == "0"
    assert tags["cv.preflight"] == "passed"
    assert tags["cv.model.task"] == "detect"
    weights = Path(client.download_artifacts(run_id, "weights/best.pt"))
    assert tags["cv.weights.sha256"] == sha256(weights)
    # params: the flattened resolved config
    assert run.data.params == flat_params(job)
    assert run.data.params["train.epochs"] == "2" and run.data.params["model.arch"] == "yolov8n.yaml"


def test_the_experiment_opens_as_model_training(train_project: Project, trained: tuple[str, list[str]]) -> None:
    """MLflow 3's UI opens an experiment by its kind: ours are model training, not GenAI."""
    client = client_for(train_project)
    experiment = client.get_experiment(client.get_run(trained[0]).info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_dataset_inputs_one_per_split(train_project: Project, trained: tuple[str, list[str]]) -> None:
    run = client_for(train_project).get_run(trained[0])
    manifest = load_manifest(train_project, "DS-1.0.0")
    inputs = {i.dataset.name: i for i in run.inputs.dataset_inputs}
    assert set(inputs) == {f"DS-1.0.0/{s}" for s in manifest.splits}
    for name, inp in inputs.items():
        split = name.split("/")[1]
        assert inp.dataset.digest == manifest.sha256[:36]
        assert inp.dataset.source_type == "mlflow_cv_snapshot"
        source = json.loads(inp.dataset.source)
        assert source["manifest_sha256"] == manifest.sha256
        assert source["uri"] == train_project.manifest_path("DS-1.0.0").resolve().as_uri()
        assert {t.key: t.value for t in inp.tags}["mlflow.data.context"] == split
        assert json.loads(inp.dataset.profile)["images"] == len(manifest.splits[split])


def test_metrics_per_epoch_and_per_class(train_project: Project, trained: tuple[str, list[str]]) -> None:
    client = client_for(train_project)
    run = client.get_run(trained[0])
    metrics = run.data.metrics
    history = client.get_metric_history(trained[0], "val/mAP50")
    assert [m.step for m in history] == [1, 2, 3]  # two epochs, then the final validation of best.pt
    assert len(client.get_metric_history(trained[0], "train/box_loss")) == 2
    for name in ("circle", "square", "triangle"):
        for metric in ("AP50", "AP50-95", "precision", "recall"):
            assert f"val/{metric}/{name}" in metrics
    assert {"val/mAP50", "val/mAP50-95", "val/precision", "val/recall"} <= metrics.keys()


def test_artifacts_are_logged_and_hashed(train_project: Project, trained: tuple[str, list[str]]) -> None:
    run_id = trained[0]
    client = client_for(train_project)
    root = Path(client.download_artifacts(run_id, ""))
    index_text = (root / "lineage" / "artifacts.json").read_text()
    index = json.loads(index_text)
    assert client.get_run(run_id).data.tags["cv.artifacts.sha256"] == hashlib.sha256(index_text.encode()).hexdigest()
    assert {
        "weights/best.pt",
        "labelmap.json",
        "data/DS-1.0.0.json",
        "config/resolved.yaml",
        "ultralytics/results.csv",
    } <= index.keys()
    assert any(p.endswith(".png") for p in index)  # Ultralytics' plots
    for rel, digest in index.items():
        assert sha256(root / rel) == digest, rel
    assert (root / "data" / "DS-1.0.0.json").read_bytes() == train_project.manifest_path("DS-1.0.0").read_bytes()
    assert json.loads((root / "labelmap.json").read_text()) == {"0": "circle", "1": "square", "2": "triangle"}
    # the tracking store and artifacts are where the project is, not in Hydra's output folder
    assert (train_project.root / "mlflow.db").is_file()
    assert (train_project.root / "mlruns" / run_id).is_dir()


def test_deterministic_and_chdir_safe(train_project: Project, trained: tuple[str, list[str]], tmp_path: Path) -> None:
    """Same seed, same tensors; also when Hydra changes directory and train.py is given relatively."""
    run_id, overrides = trained
    out = run_train(
        train_project, *overrides, "hydra.job.chdir=true", f"hydra.run.dir={tmp_path}/out", script="train.py"
    )
    again = run_id_of(out)
    client = client_for(train_project)
    first, second = client.get_run(run_id).data.tags, client.get_run(again).data.tags
    assert second["cv.weights.digest"] == first["cv.weights.digest"]
    assert second["cv.config.id"] == first["cv.config.id"]
    assert second["mlflow.source.git.commit"] == git(train_project.root, "rev-parse", "HEAD")
    assert second["mlflow.source.name"] == str(train_project.root / "train.py")
    assert not list(tmp_path.rglob("mlflow.db")) and not list(tmp_path.rglob("mlruns"))


def test_multirun_gives_one_run_per_combination(train_project: Project) -> None:
    out = run_train(
        train_project,
        "-m",
        "data=DS-1.0.0,DS-1.1.0",
        "model=yolo",
        *TINY,
        "tracking.experiment=multirun",
        "registry.name=multi",
    )
    ids = RUN_LINE.findall(out.stdout)
    assert "registered multi v1.0.0 (NONE)" in out.stdout and "registered multi v1.1.0 (MINOR)" in out.stdout
    assert len(ids) == 2
    client = client_for(train_project)
    experiment = client.get_experiment_by_name("multirun")
    runs = client.search_runs([experiment.experiment_id])
    assert {r.info.run_id for r in runs} == set(ids)
    assert sorted(r.data.tags["cv.data.snapshot"] for r in runs) == ["DS-1.0.0", "DS-1.1.0"]


def test_fine_tune_from_local_weights(train_project: Project, trained: tuple[str, list[str]], tmp_path: Path) -> None:
    client = client_for(train_project)
    weights = Path(client.download_artifacts(trained[0], "weights/best.pt", str(tmp_path)))
    job = compose_job(
        train_project.root, ["data=DS-1.1.0", *TINY, f"model.weights={weights}", "tracking.experiment=ft"]
    )
    result = train(job, project=train_project, output_dir=tmp_path / "out")
    tags = client.get_run(result.run_id).data.tags
    assert tags["cv.model.init_sha256"] == sha256(weights)
    assert client.get_run(result.run_id).data.params["model.weights"] == str(weights)
    assert tags["cv.data.snapshot"] == "DS-1.1.0"
    assert tags["cv.weights.digest"] != client.get_run(trained[0]).data.tags["cv.weights.digest"]


def test_override_is_recorded(tmp_path: Path, shape_stages: ShapeStages) -> None:
    project = make_train_project(tmp_path / "p", shapes=shape_stages, stages=("1.0.0",))
    (project.root / "train.py").write_text((project.root / "train.py").read_text() + "\n# edited\n")
    job = compose_job(project.root, ["data=DS-1.0.0", *TINY, "preflight.allow=[dirty_code]"])
    result = train(job, project=project, output_dir=tmp_path / "out")
    tags = client_for(project).get_run(result.run_id).data.tags
    assert tags["cv.preflight"] == "overridden: dirty_code (1 uncommitted: train.py)"
    assert tags["cv.code.dirty"] == "true"


def test_ctrl_c_marks_the_run_killed(tmp_path: Path, shape_stages: ShapeStages) -> None:
    project = make_train_project(tmp_path / "p", shapes=shape_stages, stages=("1.0.0",))
    env_cmd = [sys.executable, "train.py", "data=DS-1.0.0", *TINY, "train.epochs=200"]
    proc = subprocess.Popen(env_cmd, cwd=project.root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    client = client_for(project)
    run: Any = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(1)
        if (project.root / "mlflow.db").exists():
            runs = client.search_runs(
                client.search_experiments()[0].experiment_id and [e.experiment_id for e in client.search_experiments()]
            )
            if runs and client.get_metric_history(runs[0].info.run_id, "train/box_loss"):
                run = runs[0]
                break
    assert run is not None, "training never logged an epoch"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    final = client.get_run(run.info.run_id)
    assert final.info.status == "KILLED", err[-2000:]
    assert "cv.weights.sha256" not in final.data.tags
    assert f"run {run.info.run_id} marked KILLED" in err


def test_a_trained_run_registers_and_promotes(train_project: Project, trained: tuple[str, list[str]]) -> None:
    """Real artifacts through the registry, with the guard in-process over the embedded SQLite store."""
    from mlflow_cv import promote, register, registry_client

    client = registry_client(f"sqlite:///{train_project.root / 'mlflow.db'}")
    first = register(client, trained[0], name="shapes", project=train_project)
    assert str(first.semver) == "1.0.0"
    moved = promote(client, "shapes", "1.0.0", alias="production", why="first", project=train_project)
    assert moved.moved and all(g.passed for g in moved.gates)
    assert [g.detail for g in moved.gates if g.name == "artifacts"] == ["every hash verifies"]


def test_a_patch_registered_after_chdir_is_checked_on_the_projects_data(
    tmp_path: Path, shape_stages: ShapeStages
) -> None:
    """A code-only change registered by train.py is a PATCH, so both models are evaluated on the gate data,
    which is the project's snapshot: also when Hydra made its output folder the current directory."""
    project = make_train_project(tmp_path / "p", shapes=shape_stages, stages=("1.0.0",))
    overrides = ["data=DS-1.0.0", *TINY, "registry.name=hotfix", "hydra.job.chdir=true"]
    first = run_train(project, *overrides, f"hydra.run.dir={tmp_path}/out1")
    assert "registered hotfix v1.0.0 (NONE)" in first.stdout
    (project.root / "NOTES.md").write_text("a code-only change\n")
    commit_all(project.root, "a hotfix")
    second = run_train(project, *overrides, f"hydra.run.dir={tmp_path}/out2", check=False)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "registered hotfix v1.0.1 (PATCH)" in second.stdout
    assert not list((tmp_path / "out2").rglob("mlflow.db"))
    assert read_result(tmp_path / "out2").run_id == run_id_of(second)  # what a program running train.py reads


def test_a_store_that_refuses_the_run_stops_the_training(train_project: Project, tmp_path: Path) -> None:
    """The writer process fails to open the run (the experiment is deleted): the training stops with
    that error at its next epoch, and nothing is logged as FINISHED."""
    from mlflow_cv.errors import TrackingError

    client = client_for(train_project)
    client.delete_experiment(client.create_experiment("deleted-before-training"))
    job = compose_job(
        train_project.root, ["data=DS-1.0.0", *TINY, "train.epochs=50", "tracking.experiment=deleted-before-training"]
    )
    started = time.monotonic()
    with pytest.raises(TrackingError, match="experiment 'deleted-before-training' is deleted .* restore it"):
        train(job, project=train_project, output_dir=tmp_path / "out")
    assert time.monotonic() - started < 120, "the training went on after the writer had failed"


@pytest.mark.slow  # trains
def test_training_logs_slices_of_the_final_validation(tmp_path: Path, shape_stages: ShapeStages) -> None:
    """A snapshot with attributes: the final validation of the best weights is scored slice by slice
    from its own predictions. A slice holding every image scores exactly what Ultralytics reported."""
    rules = ("time_of_day=night:images/shape_00*.jpg", "time_of_day=day:images/shape_01*.jpg", "whole=all:**")
    project = make_train_project(tmp_path / "p", shapes=shape_stages, stages=("1.0.0",), attr_rules=rules)
    out = run_train(project, "data=DS-1.0.0", *LEARNS)
    metrics = client_for(project).get_run(run_id_of(out)).data.metrics
    assert metrics["val/mAP50"] > 0
    for key in ("mAP50", "mAP50-95", "precision", "recall", "AP50-95/circle"):
        assert metrics[f"val/slice/whole:all/{key}"] == pytest.approx(metrics[f"val/{key}"]), key
    assert {"val/slice/time_of_day:night/mAP50", "val/slice/time_of_day:day/mAP50"} <= set(metrics)
    assert metrics["val/slice/time_of_day:night/mAP50"] != metrics["val/slice/time_of_day:day/mAP50"]
