"""The mlflow_cv_yolo flavor: round trip, signature, parity with Ultralytics, integrity, REST serving."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mlflow_cv.errors import WeightsMismatchError
from mlflow_cv.project import Project
from mlflow_cv.serving import flavor
from tests.helpers.projects import client_for
from tests.helpers.servers import free_port, running

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def logged(train_project: Project, trained: tuple[str, list[str]]) -> tuple[str, str]:
    """(tracking URI, models:/<id>) of the model train.py logged for the shared trained run."""
    tags = client_for(train_project).get_run(trained[0]).data.tags
    return f"sqlite:///{train_project.root / 'mlflow.db'}", f"models:/{tags['cv.model.id']}"


@pytest.fixture(scope="module")
def val_images(train_project: Project) -> list[bytes]:
    checkout = next((train_project.state_dir / "checkouts").glob("DS-1.0.0-*"))
    lines = (checkout / "val.txt").read_text().splitlines()[:12]
    return [(checkout / line).read_bytes() for line in lines]


@pytest.fixture
def tracking(logged: tuple[str, str]) -> str:
    """The tracking URI of the shared trained run (conftest puts it back after the test); its models:/ URI."""
    mlflow.set_tracking_uri(logged[0])
    return logged[1]


def test_round_trip_signature_and_example(tracking: str, val_images: list[bytes]) -> None:
    model = mlflow.pyfunc.load_model(tracking)
    sig = model.metadata.signature
    assert sig.inputs.input_names() == ["image"]
    assert {p.name for p in sig.params.params} == {"conf", "iou", "imgsz", "max_det"}
    assert sig.outputs.input_names() == ["image_index", "class_id", "class_name", "confidence", "x1", "y1", "x2", "y2"]
    local = Path(mlflow.artifacts.download_artifacts(tracking))
    serving_example = (local / "serving_input_example.json").read_text()
    out = mlflow.models.validate_serving_input(tracking, serving_example)  # the example really serves
    assert list(out.columns) == sig.outputs.input_names()
    assert json.loads((local / "labelmap.json").read_text()) == {"0": "circle", "1": "square", "2": "triangle"}
    raw = flavor.load_model(tracking)
    assert raw.settings.imgsz == 64 and raw.names[0] == "circle"
    frame = model.predict(pd.DataFrame({"image": val_images}), params={"conf": 0.001})
    assert len(frame) > 0 and set(frame["image_index"]) <= set(range(len(val_images)))
    assert set(frame["class_name"]) <= {"circle", "square", "triangle"}


def direct_rows(weights: Path, images: list[bytes], **settings: Any) -> list[tuple[int, int, list[float]]]:
    """(image index, class id, box) of every detection ``YOLO(weights)`` makes, loading the pickle itself."""
    import cv2
    from ultralytics import YOLO

    arrays = [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR) for b in images]
    results = YOLO(str(weights)).predict(arrays, **{"iou": 0.7, "max_det": 300, "batch": 16, **settings}, verbose=False)
    return [
        (i, int(c), xyxy)
        for i, r in enumerate(results)
        for c, xyxy in zip(r.boxes.cls.numpy(), r.boxes.xyxy.numpy().tolist(), strict=True)
    ]


def assert_same_rows(ours: pd.DataFrame, direct: list[tuple[int, int, list[float]]]) -> float:
    """Same detections in the same order, boxes within 1e-3 px; returns the largest box difference."""
    assert len(direct) == len(ours) > 0
    worst = 0.0
    for (i, cls, box), (_, row) in zip(direct, ours.iterrows(), strict=True):
        assert (row.image_index, row.class_id) == (i, cls)
        worst = max(worst, float(np.abs(np.array(box) - [row.x1, row.y1, row.x2, row.y2]).max()))
    assert worst <= 1e-3
    return worst


def test_parity_with_ultralytics(
    train_project: Project, trained: tuple[str, list[str]], tracking: str, val_images: list[bytes], tmp_path: Path
) -> None:
    """The logged model (tensors + architecture, no pickle) predicts what ``YOLO(best.pt)`` predicts."""
    local = Path(mlflow.artifacts.download_artifacts(tracking))
    assert not list(local.rglob("*.pt")) and (local / "weights" / "model.safetensors").is_file()
    best = Path(client_for(train_project).download_artifacts(trained[0], "weights/best.pt", str(tmp_path)))
    ours = mlflow.pyfunc.load_model(str(local)).predict(pd.DataFrame({"image": val_images}), params={"conf": 0.001})
    assert_same_rows(ours, direct_rows(best, val_images, imgsz=64, conf=0.001))


def test_tampered_weights_are_refused_before_loading(tracking: str, tmp_path: Path) -> None:
    local = Path(shutil.copytree(mlflow.artifacts.download_artifacts(tracking), tmp_path / "m"))
    weights = local / "weights" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(WeightsMismatchError, match="not the .* recorded at save time"):
        mlflow.pyfunc.load_model(str(local))


def test_segment_and_classify_outputs(tmp_path: Path, val_images: list[bytes]) -> None:
    """Output columns per task, and the same predictions as ``YOLO(weights)`` for these architectures too."""
    import torch
    from ultralytics import YOLO

    for task, arch in (("segment", "yolov8n-seg.yaml"), ("classify", "yolov8n-cls.yaml")):
        weights = tmp_path / f"{task}.pt"
        torch.manual_seed(0)  # the random weights, and so the number of detections, do not depend on test order
        YOLO(arch, task=task).save(str(weights))  # untrained: outputs, not accuracy, are under test
        names = {i: f"c{i}" for i in range(1000 if task == "classify" else 80)}
        flavor.save_model(weights, tmp_path / task, labelmap=names, task=task, imgsz=64)
        out = mlflow.pyfunc.load_model(str(tmp_path / task)).predict(
            pd.DataFrame({"image": val_images[:2]}), params={"conf": 0.0, "max_det": 5}
        )
        if task == "classify":
            assert list(out.columns) == ["image_index", "rank", "class_id", "class_name", "confidence"]
            assert list(out["rank"]) == [0, 1, 2, 3, 4] * 2
            import cv2

            arrays = [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR) for b in val_images[:2]]
            direct = YOLO(str(weights)).predict(arrays, imgsz=64, verbose=False)
            for i, result in enumerate(direct):  # ties among an untrained model's scores: compare the values
                top5 = np.sort(result.probs.data.numpy())[::-1][:5]
                assert np.allclose(out[out.image_index == i]["confidence"], top5, atol=1e-6)
        else:
            assert "polygon" in out.columns and len(out) > 0
            assert all(isinstance(p, list) for p in out["polygon"])
            assert_same_rows(out, direct_rows(weights, val_images[:2], imgsz=64, conf=0.0, max_det=5))


# --- mlflow models serve ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(train_project: Project, trained: tuple[str, list[str]], logged: tuple[str, str]) -> Any:
    """``mlflow models serve -m models:/served@production`` on 127.0.0.1, the version promoted through the gates."""
    from mlflow_cv import promote, register, registry_client

    client = registry_client(logged[0])
    registration = register(client, trained[0], name="served", project=train_project)
    promote(client, "served", str(registration.semver), alias="production", project=train_project)
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "MLFLOW_TRACKING_URI": logged[0], "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    cmd = [
        str(bin_dir / "mlflow"),
        "models",
        "serve",
        "-m",
        "models:/served@production",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    with running(cmd, env=env, log=train_project.root / "serve.log", ready=f"http://127.0.0.1:{port}/ping") as url:
        yield url


def post_raw(url: str, body: Any) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"{url}/invocations", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def post(url: str, body: Any) -> tuple[int, Any]:
    status, raw = post_raw(url, body)
    return status, json.loads(raw)


def test_rest_all_four_formats(served: str, val_images: list[bytes]) -> None:
    b64 = [base64.b64encode(b).decode() for b in val_images[:3]]
    params = {"conf": 0.001}
    bodies = [
        {"dataframe_split": {"columns": ["image"], "data": [[x] for x in b64]}, "params": params},
        {"dataframe_records": [{"image": x} for x in b64], "params": params},
        {"instances": [{"image": x} for x in b64], "params": params},
        {"inputs": {"image": b64}, "params": params},
    ]
    answers = []
    for body in bodies:
        status, reply = post(served, body)
        assert status == 200, reply
        answers.append(reply["predictions"])
    assert answers[0] and all(a == answers[0] for a in answers)
    assert set(answers[0][0]) == {"image_index", "class_id", "class_name", "confidence", "x1", "y1", "x2", "y2"}


def test_rest_bad_input_is_400_and_the_server_keeps_answering(served: str, val_images: list[bytes]) -> None:
    good = base64.b64encode(val_images[0]).decode()
    buf = io.BytesIO()
    Image.new("L", (10000, 10000)).save(buf, "PNG")
    huge = base64.b64encode(buf.getvalue()).decode()
    cases = [  # body, what the message says, whether the model answers (else MLflow's schema checks do)
        ({"inputs": {"image": [good, base64.b64encode(b"not an image").decode()]}}, "row 1: not an image", True),
        ({"inputs": {"image": [good[:500]]}}, "row 0:", True),
        ({"inputs": {"image": ["%%% not base64 %%%"]}}, "row 0: not an image", True),
        ({"dataframe_records": [{"image": "%%% not base64 %%%"}]}, "Invalid base64", False),  # MLflow decodes these
        ({"inputs": {"image": [huge]}}, "row 0: 10000×10000 is larger than 40 megapixels", True),
        ({"inputs": {"image": []}}, "", True),
        ({"inputs": {"picture": [good]}}, "image", False),
        ({"inputs": {"image": [good]}, "params": {"conf": "high"}}, "conf", False),
        ({"inputs": {"image": [good]}, "params": {"imgsz": 5}}, "imgsz in [32, 4096]", True),
    ]
    for body, message, ours in cases:
        status, raw = post_raw(served, body)
        reply = json.loads(raw)
        assert status == 400, (body.keys(), reply)
        assert message in reply["message"], reply["message"][:500]
        if ours:  # the reason first, the request not echoed (the huge image made a 519 KB body)
            assert raw.startswith(b'{"message": "') and len(raw) < 4096, raw[:500]
        ok, answer = post(served, {"inputs": {"image": [good]}})
        assert ok == 200 and "predictions" in answer


def test_rest_unknown_params_are_400_naming_them(served: str, val_images: list[bytes]) -> None:
    """MLflow's params schema drops unknown names (with a log line); the model refuses them instead."""
    good = base64.b64encode(val_images[0]).decode()
    for params, named in (({"foo": 1}, ["'foo'"]), ({"conf": 0.5, "foo": 1, "b" * 5000: 2}, ["'foo'", "'bbbb"])):
        status, raw = post_raw(served, {"inputs": {"image": [good]}, "params": params})
        assert status == 400, raw[:500]
        reply = json.loads(raw)
        assert reply["message"].startswith("unknown params") and all(n in reply["message"] for n in named)
        assert len(raw) < 1000, reply["message"]  # a 5,000-character name is not echoed whole
    status, answer = post(served, {"inputs": {"image": [good]}, "params": {"conf": 0.5}})
    assert status == 200 and "predictions" in answer


def test_rest_a_large_bad_image_gets_a_short_400(served: str) -> None:
    """The scoring server prefixes a model's error with the whole request; ours keeps the reason alone."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, 400_000, dtype=np.uint8).tobytes()
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (400, 400, 3), dtype=np.uint8)).save(buf, "PNG")
    corrupt = buf.getvalue()[:100] + noise  # a PNG header, then garbage
    for blob, reason in ((noise, "row 0: not an image"), (corrupt, "row 0: ")):
        status, raw = post_raw(served, {"inputs": {"image": [base64.b64encode(blob).decode()]}})
        assert status == 400 and len(blob) >= 300_000
        assert len(raw) < 4096, raw[:300]
        assert raw.startswith(b'{"message": "1 of 1 image(s) cannot be predicted'), raw[:300]
        assert reason in json.loads(raw)["message"]
