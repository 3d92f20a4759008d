"""Every task end to end, as a user runs it: a snapshot of the task's data, ``train.py`` with the task's
model group, register, promote through the gates, ``mlflow models serve``, an HTTP answer with the task's
output, and ``evaluate`` with the task's per-class metrics (detection has its own, longer tests)."""

from __future__ import annotations

import base64
import json
import os
import sys
import urllib.request
from pathlib import Path

import pytest

from mlflow_cv import evaluate, promote, register, registry_client
from mlflow_cv.data.snapshots import create_snapshot
from tests.helpers.data import ShapeStages, shapes_as_task
from tests.helpers.projects import EXPERIMENT, TINY, commit_all, new_project, run_id_of, run_train
from tests.helpers.servers import free_port, running

TASKS = {  # task → (model group, the answer's own column, an overall metric, a per-class metric prefix)
    "segment": ("yolo-seg", "polygon", "eval/mask_mAP50", "eval/mask_AP50-95/"),
    "classify": ("yolo-cls", "rank", "eval/accuracy_top1", "eval/accuracy/"),
    "pose": ("yolo-pose", "keypoints", "eval/pose_mAP50", "eval/pose_AP50-95/"),
}


@pytest.mark.slow
@pytest.mark.parametrize("task", list(TASKS))
def test_snapshot_train_register_promote_serve_and_evaluate(
    task: str, tmp_path: Path, shape_stages: ShapeStages
) -> None:
    group, column, overall, per_class = TASKS[task]
    data = shapes_as_task(shape_stages.tree("1.1.1"), tmp_path / "data", task, limit=90)
    project = new_project(tmp_path / "project")
    create_snapshot(project, data, snapshot_id="DS-1.0.0", task=task, attributes=[tmp_path / "data-attributes.csv"])
    commit_all(project.root, f"a {task} project")
    size = "train.imgsz=32" if task == "classify" else "train.imgsz=64"
    run_id = run_id_of(
        run_train(project, "data=DS-1.0.0", f"model={group}", *TINY, size, f"tracking.experiment={EXPERIMENT}")
    )
    tracking = f"sqlite:///{project.root / 'mlflow.db'}"
    client = registry_client(tracking)
    run = client.get_run(run_id)
    assert run.data.tags["cv.model.task"] == task
    assert any(k.startswith(per_class.replace("eval/", "val/")) for k in run.data.metrics), sorted(run.data.metrics)

    name = f"shapes-{task}"
    registration = register(client, run_id, name=name, project=project)
    assert promote(client, name, str(registration.semver), alias="production", project=project).moved

    image = next((data / ("circle" if task == "classify" else "images")).glob("*.jpg")).read_bytes()
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    cmd = [
        str(bin_dir / "mlflow"),
        "models",
        "serve",
        "-m",
        f"models:/{name}@production",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    with running(cmd, env=env, log=tmp_path / "serve.log", ready=f"http://127.0.0.1:{port}/ping") as url:
        body = {"inputs": {"image": [base64.b64encode(image).decode()]}, "params": {"conf": 0.0001}}
        request = urllib.request.Request(
            f"{url}/invocations", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as reply:
            rows = json.loads(reply.read())["predictions"]
    assert rows and all(column in row for row in rows), rows[:2]
    if task == "classify":
        assert [r["rank"] for r in rows] == [0, 1, 2] and {r["class_name"] for r in rows} == {
            "circle",
            "square",
            "triangle",
        }
    elif task == "pose":
        assert all(len(row["keypoints"]) == 3 for row in rows)  # 3 keypoints a shape, each (x, y, visibility)
    else:
        assert all(len(row["polygon"]) >= 3 for row in rows)

    done = evaluate(client, f"{name}@production", project=project, data="DS-1.0.0", split="val")
    assert overall in done.metrics and any(k.startswith(per_class) for k in done.metrics), sorted(done.metrics)
    assert done.slices and all(n > 0 for n in done.slices.values()), done.slices
    assert any(k.startswith("eval/slice/time_of_day:night/") for k in done.metrics)
