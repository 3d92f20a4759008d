"""``mlflow-cv evaluate``: a real trained model scored on pinned data, per class and per slice, logged as
an evaluation run, reused when nothing changed, and recorded on the registered version as evidence the
guard checks."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException

from mlflow_cv import evaluate, register, registry_client
from mlflow_cv.data.manifest import load_manifest
from mlflow_cv.data.snapshots import create_snapshot
from mlflow_cv.errors import DatasetError, SnapshotNotFoundError
from mlflow_cv.project import Project
from mlflow_cv.tags import eval_record_key as record_key
from tests.helpers.data import ShapeStages, age_files
from tests.helpers.projects import EXPERIMENT, LEARNS, run_id_of, run_train

NIGHT = "time_of_day:night"


@pytest.fixture(scope="module")
def scored_run(train_project: Project) -> str:
    """A training long enough that its detector finds some shapes (mAP above 0), so that equal numbers
    mean something: 8 epochs at 96 px."""
    return run_id_of(
        run_train(train_project, "data=DS-1.0.0", "model=yolo", *LEARNS, f"tracking.experiment={EXPERIMENT}")
    )


@pytest.fixture(scope="module")
def eval_data(tmp_path_factory: pytest.TempPathFactory, shape_stages: ShapeStages) -> tuple[Project, Project]:
    """DS-1.0.0 of the shapes with every third image 'night' (a sidecar file), and, in another project,
    DS-1.0.0 of only those night images."""
    root = tmp_path_factory.mktemp("eval")
    full, night = Project(root=root / "full"), Project(root=root / "night")
    src = root / "shapes"
    shape_stages.bring(src, "1.0.0")
    images = sorted(p.relative_to(src).as_posix() for p in (src / "images").rglob("*.jpg"))
    dark = {path for n, path in enumerate(images) if n % 3 == 0}
    (root / "attrs.csv").write_text(
        "path,time_of_day\n" + "".join(f"{p},{'night' if p in dark else 'day'}\n" for p in images)
    )
    age_files(src)
    create_snapshot(full, src, snapshot_id="DS-1.0.0", attributes=[root / "attrs.csv"])
    only = root / "night-shapes"
    shutil.copytree(src, only)
    for image in set(images) - dark:  # keep the night images (and their labels) only
        (only / image).unlink()
        (only / image.replace("images/", "labels/", 1)).with_suffix(".txt").unlink(missing_ok=True)
    age_files(only)
    create_snapshot(night, only, snapshot_id="DS-1.0.0")
    assert load_manifest(night, "DS-1.0.0").stats.images == len(dark) > 0
    return full, night


@pytest.mark.slow
def test_a_slice_scores_as_a_snapshot_of_only_its_images(
    train_project: Project, scored_run: str, eval_data: tuple[Project, Project]
) -> None:
    full, night = eval_data
    client = registry_client(f"sqlite:///{train_project.root / 'mlflow.db'}")
    run_id = scored_run
    first = evaluate(client, run_id, project=full, data="DS-1.0.0", split="all")
    assert not first.reused and first.slices[NIGHT] > 0 and first.slices["time_of_day:day"] > 0
    alone = evaluate(client, run_id, project=night, data="DS-1.0.0", split="all", slices=())
    assert alone.images == first.slices[NIGHT]
    compared = [k for k in alone.metrics if k.startswith("eval/") and "latency" not in k]
    assert compared and any(alone.metrics[k] > 0 for k in compared), alone.metrics
    for key in compared:  # overall and per class: the same numbers, from the same predictions
        assert first.metrics[f"eval/slice/{NIGHT}/{key.removeprefix('eval/')}"] == pytest.approx(alone.metrics[key])
    assert {"eval/latency_ms_p50", "eval/latency_ms_p95"} <= set(first.metrics)

    again = evaluate(client, run_id, project=full, data="DS-1.0.0", split="all")
    assert again.reused and again.run_id == first.run_id and again.metrics == first.metrics
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["cv.eval.of"] == run_id
    assert run.data.tags["cv.eval.manifest_sha256"] == load_manifest(full, "DS-1.0.0").sha256
    assert run.data.tags["cv.eval.split"] == "all" and run.data.tags["cv.eval.device"].startswith("cpu")
    logged = client.get_logged_model(client.get_run(run_id).data.tags["cv.model.id"])
    assert any(m.key == "eval/mAP50" and m.dataset_name == "DS-1.0.0/all" for m in logged.metrics or [])
    for chart in ("charts/per_class.png", "charts/per_slice.png"):  # real PNGs, logged with the run
        assert Path(client.download_artifacts(first.run_id, chart)).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [a.path for a in client.list_artifacts(alone.run_id, "charts")] == ["charts/per_class.png"]  # no slices


@pytest.mark.slow
def test_a_registered_version_gets_an_evaluation_record_the_guard_checks(
    train_project: Project, trained: tuple[str, list[str]], eval_data: tuple[Project, Project]
) -> None:
    full, _ = eval_data
    client = registry_client(f"sqlite:///{train_project.root / 'mlflow.db'}")  # the embedded store's guard
    name = f"eval-{uuid.uuid4().hex[:6]}"
    register(client, trained[0], name=name, project=train_project)
    done = evaluate(client, f"models:/{name}/1", project=full, data="DS-1.0.0", split="val")
    sha = load_manifest(full, "DS-1.0.0").sha256
    assert client.get_model_version(name, "1").tags[record_key(sha, "val")] == done.run_id
    for forged, why in ((trained[0], "it evaluated no run"), ("0" * 32, "no evaluation run")):
        with pytest.raises(MlflowException, match=f"mlflow-cv guard: .*{why}"):
            client.set_model_version_tag(name, "1", record_key(sha, "test"), forged)
    with pytest.raises(MlflowException, match="evaluated another split"):
        client.set_model_version_tag(name, "1", record_key(sha, "test"), done.run_id)


@pytest.mark.slow
def test_bad_references_data_and_slices_are_named(
    train_project: Project,
    trained: tuple[str, list[str]],
    eval_data: tuple[Project, Project],
    tmp_path: Path,
    shape_stages: ShapeStages,
) -> None:
    full, _ = eval_data
    client = registry_client(f"sqlite:///{train_project.root / 'mlflow.db'}")
    with pytest.raises(SnapshotNotFoundError):
        evaluate(client, trained[0], project=full, data="DS-9.9.9")
    with pytest.raises(DatasetError, match="has no attribute camera"):
        evaluate(client, trained[0], project=full, data="DS-1.0.0", slices=("camera",))
    with pytest.raises(DatasetError, match="--split 'train'"):
        evaluate(client, trained[0], project=full, data="DS-1.0.0", split="train")
    other = Project(root=tmp_path / "other")
    shape_stages.bring(tmp_path / "src", "1.0.0")
    (tmp_path / "src" / "data.yaml").write_text("names:\n  0: road\n  1: lane\n  2: car\n")
    age_files(tmp_path / "src")
    create_snapshot(other, tmp_path / "src", snapshot_id="DS-1.0.0")
    with pytest.raises(DatasetError, match="evaluate on a snapshot with the model's class map"):
        evaluate(client, trained[0], project=other, data="DS-1.0.0")


@pytest.mark.slow
def test_mlflow_evaluate_is_the_same_evaluation(
    train_project: Project, scored_run: str, eval_data: tuple[Project, Project]
) -> None:
    """``mlflow.models.evaluate(…, evaluators="mlflow_cv")`` on a snapshot dataset: the numbers of
    ``mlflow-cv evaluate`` (one implementation, two doors), with the same tags."""
    import mlflow

    from mlflow_cv import snapshot_dataset

    full, _ = eval_data
    uri = f"sqlite:///{train_project.root / 'mlflow.db'}"
    client = registry_client(uri)
    ours = evaluate(client, scored_run, project=full, data="DS-1.0.0", split="val")
    model_id = client.get_run(scored_run).data.tags["cv.model.id"]
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(experiment_id=client.get_run(scored_run).info.experiment_id) as run:
        result = mlflow.models.evaluate(
            f"models:/{model_id}",
            data=snapshot_dataset("DS-1.0.0", "val", project=full),
            model_type="detect",
            evaluators="mlflow_cv",
        )
    same = [k for k in ours.metrics if "latency" not in k]
    assert same and all(result.metrics[k] == pytest.approx(ours.metrics[k]) for k in same)
    tags = client.get_run(run.info.run_id).data.tags
    assert tags["cv.eval.of"] == scored_run and tags["cv.eval.split"] == "val"
    assert tags["cv.eval.settings_sha256"] == client.get_run(ours.run_id).data.tags["cv.eval.settings_sha256"]
    with pytest.raises(Exception, match="evaluators='mlflow_cv' scores a snapshot split"):
        import pandas as pd

        mlflow.models.evaluate(
            f"models:/{model_id}", data=pd.DataFrame({"image": ["x"]}), model_type="detect", evaluators="mlflow_cv"
        )


@pytest.mark.slow
def test_promote_compares_both_versions_on_the_gate_data(
    train_project: Project, trained: tuple[str, list[str]], scored_run: str
) -> None:
    """The holder and the candidate are evaluated on the same data (the newer training snapshot's test
    split), and those numbers decide; the evaluations stay as the versions' records."""
    from mlflow_cv import promote
    from mlflow_cv.errors import GateError

    client = registry_client(f"sqlite:///{train_project.root / 'mlflow.db'}")
    name = f"gated-{uuid.uuid4().hex[:6]}"
    register(client, scored_run, name=name, project=train_project)
    register(client, trained[0], name=name, project=train_project)
    assert promote(client, name, "1.0.0", alias="production", project=train_project).moved
    with pytest.raises(GateError) as info:
        promote(client, name, "1.1.0", alias="production", project=train_project)
    assert info.value.problems[0].startswith("metrics: on DS-1.0.0/test (manifest "), info.value.problems
    sha = load_manifest(train_project, "DS-1.0.0").sha256
    for number in ("1", "2"):
        assert record_key(sha, "test") in client.get_model_version(name, number).tags


@pytest.mark.slow
def test_a_classifier_is_scored_per_class_and_per_slice(tmp_path: Path, shape_stages: ShapeStages) -> None:
    """Classification: one crop per shape, one folder per class, every fifth image 'night'. Top-1 equals
    Ultralytics' own validation of the same weights on the same split; the slices partition it."""
    from ultralytics import YOLO

    from mlflow_cv.data.checkout import checkout
    from tests.helpers.data import shapes_as_task
    from tests.helpers.projects import TINY, commit_all, new_project

    src = shapes_as_task(shape_stages.tree("1.1.1"), tmp_path / "crops", "classify", limit=150)
    project = new_project(tmp_path / "project")
    create_snapshot(
        project, src, snapshot_id="DS-1.0.0", task="classify", attributes=[tmp_path / "crops-attributes.csv"]
    )
    commit_all(project.root, "classifier")
    run_id = run_id_of(
        run_train(
            project, "data=DS-1.0.0", "model=yolo-cls", *TINY, "train.imgsz=32", f"tracking.experiment={EXPERIMENT}"
        )
    )
    client = registry_client(f"sqlite:///{project.root / 'mlflow.db'}")
    done = evaluate(client, run_id, project=project, data="DS-1.0.0", split="val")
    m = done.metrics
    assert {"eval/accuracy_top1", "eval/accuracy_top5", "eval/accuracy/circle"} <= set(m), m
    day, night = (done.slices[f"time_of_day:{v}"] for v in ("day", "night"))
    assert day > 0 and night > 0 and day + night == done.images
    parts = day * m["eval/slice/time_of_day:day/accuracy_top1"] + night * m[f"eval/slice/{NIGHT}/accuracy_top1"]
    assert parts == pytest.approx(done.images * m["eval/accuracy_top1"])
    weights = client.download_artifacts(run_id, "weights/best.pt", str(tmp_path))
    tree = checkout(project, "DS-1.0.0", tmp_path / "tree")
    own = YOLO(weights).val(data=str(tree), split="val", imgsz=32, batch=16, plots=False, verbose=False, workers=0)
    assert m["eval/accuracy_top1"] == pytest.approx(own.top1) and m["eval/accuracy_top5"] == pytest.approx(own.top5)
    assert [a.path for a in client.list_artifacts(done.run_id, "charts")] == [
        "charts/per_class.png",
        "charts/per_slice.png",
    ]
