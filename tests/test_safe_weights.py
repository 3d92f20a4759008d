"""Weights that load without unpickling: the safetensors reader, the rebuilt network, and the registry check.

An attacker who can write a logged model's folder can rewrite its files *and* MLmodel together; what
they cannot rewrite is the registered version's write-once tags. Loading through ``models:/`` must
refuse such a folder, and no loading path may run code from it.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
import pytest
import torch
import yaml
from safetensors.torch import save_file as write_tensors

from mlflow_cv.errors import ServingError, WeightsMismatchError
from mlflow_cv.serving import flavor
from mlflow_cv.serving.model import read_tensors, weights_problems
from mlflow_cv.serving.processing import labelmap_json
from mlflow_cv.tags import TAG_ARCH_SHA256, TAG_LABELMAP_SHA256, TAG_WEIGHTS_DIGEST, TAG_WEIGHTS_SHA256
from mlflow_cv.yolo.weights import arch_sha256, plain_model, read_checkpoint, tensor_digest, weights_info

NAMES = {i: f"c{i}" for i in range(80)}


class Bomb:
    """Unpickling it creates ``marker``: proof that a loader executed code from the model's files."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def plant_bomb(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": Bomb(marker), "ema": None}, path)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two untrained YOLOv8n detection checkpoints with different random weights (seeds 0 and 1)."""
    from ultralytics import YOLO

    root = tmp_path_factory.mktemp("checkpoints")
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        paths.append(root / f"seed{seed}.pt")
        YOLO("yolov8n.yaml").save(str(paths[-1]))
    return paths[0], paths[1]


def tags_of(checkpoint: Path) -> dict[str, str]:
    """The tags a training sets for these weights (and mlflow-cv copies to the registered version)."""
    info = weights_info(checkpoint)
    return {
        TAG_WEIGHTS_SHA256: info.sha256,
        TAG_WEIGHTS_DIGEST: info.digest,
        TAG_ARCH_SHA256: info.arch_sha256,
        TAG_LABELMAP_SHA256: hashlib.sha256(labelmap_json(NAMES).encode()).hexdigest(),
    }


@pytest.fixture
def registered(tmp_path: Path, checkpoints: tuple[Path, Path]) -> Path:
    """``models:/det@production`` (version 1) in a fresh SQLite store: the model logged from seed 0's
    checkpoint, registered with its run's tags. Returns the logged model's folder in the artifact store."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment("safe", artifact_location=(tmp_path / "artifacts").as_uri())
    tags = tags_of(checkpoints[0])
    with mlflow.start_run(experiment_id=experiment) as run:
        info = flavor.log_model(checkpoints[0], name="model", labelmap=NAMES, task="detect", imgsz=64)
        mlflow.set_tags(tags)
    client.create_registered_model("det")
    client.create_model_version("det", source=f"models:/{info.model_id}", run_id=run.info.run_id, tags=tags)
    client.set_registered_model_alias("det", "production", "1")
    return Path(urlparse(client.get_logged_model(info.model_id).artifact_location).path)


def flavor_conf(model_dir: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((model_dir / "MLmodel").read_text())["flavors"][flavor.FLAVOR_NAME])


def rewrite_conf(model_dir: Path, **changes: str) -> None:
    doc = yaml.safe_load((model_dir / "MLmodel").read_text())
    doc["flavors"][flavor.FLAVOR_NAME].update(changes)
    (model_dir / "MLmodel").write_text(yaml.safe_dump(doc))


def swap_in(model_dir: Path, checkpoint: Path, scratch: Path) -> None:
    """Put ``checkpoint``'s weights in the logged model at ``model_dir``, and every hash MLmodel holds."""
    flavor.save_model(checkpoint, scratch, labelmap=NAMES, task="detect", imgsz=64)
    ours, theirs = flavor_conf(model_dir), flavor_conf(scratch)
    shutil.copyfile(scratch / theirs["weights"], model_dir / ours["weights"])
    rewrite_conf(model_dir, **{k: v for k, v in theirs.items() if k.endswith(("sha256", "digest"))})


# --- the attacks ------------------------------------------------------------------------------------------


def test_a_registered_model_loads_once_its_hashes_match_the_version(
    registered: Path, checkpoints: tuple[Path, Path]
) -> None:
    model = flavor.load_model("models:/det@production")
    assert model.registry is not None and model.registry[:2] == ("det", "1")
    assert not list(registered.rglob("*.pt"))
    assert weights_problems(registered, tags_of(checkpoints[0])) == []
    problems = weights_problems(registered, tags_of(checkpoints[1]))
    assert [p.split(" is ")[0] for p in problems] == [
        "the tensors' digest",
        "the SHA-256 of the checkpoint it was saved from",
    ]


def test_other_weights_with_rewritten_hashes_are_refused_from_the_registry(
    registered: Path, checkpoints: tuple[Path, Path], tmp_path: Path
) -> None:
    """Replace the weights with other valid ones and rewrite every hash MLmodel holds: a loader that
    trusts the folder serves them; the version's write-once cv.weights.digest refuses them. A pickle
    planted beside them is never opened."""
    marker = tmp_path / "payload-ran"
    plant_bomb(registered / "weights" / "best.pt", marker)
    swap_in(registered, checkpoints[1], tmp_path / "other")
    registered_digest, swapped_digest = weights_info(checkpoints[0]).digest, weights_info(checkpoints[1]).digest
    for uri in ("models:/det@production", "models:/det/1"):
        with pytest.raises(WeightsMismatchError) as refused:
            mlflow.pyfunc.load_model(uri)
        assert registered_digest in str(refused.value) and swapped_digest in str(refused.value)
        assert str(refused.value).startswith("models:/det/1: the model's files are not the ones registered")
    assert not marker.exists()


def test_the_guard_finds_planted_weights_reading_them_itself(
    registered: Path, checkpoints: tuple[Path, Path], tmp_path: Path
) -> None:
    """The server side of the artifacts gate reads the served model from the artifact store itself."""
    from mlflow.tracking._tracking_service.utils import _get_store

    from mlflow_cv.server.artifacts import artifact_problems

    client = mlflow.MlflowClient()
    version = client.get_model_version("det", "1")
    store = _get_store(mlflow.get_tracking_uri())
    assert not any("served model" in p for p in artifact_problems(store, version, dict(version.tags)))
    swap_in(registered, checkpoints[1], tmp_path / "other")
    problems = artifact_problems(store, version, dict(version.tags))
    assert any(
        p.startswith(f"the served model {version.source} is not the run's: the tensors' digest") for p in problems
    )


def test_a_pickle_in_place_of_the_weights_never_runs(registered: Path, tmp_path: Path) -> None:
    """The weights file replaced by a pickle whose unpickling runs code, its hash rewritten in MLmodel:
    loading refuses it, from the registry or from the folder, without running it."""
    marker = tmp_path / "payload-ran"
    weights = registered / flavor_conf(registered)["weights"]
    plant_bomb(weights, marker)
    plant_bomb(registered / "weights" / "best.pt", marker)
    rewrite_conf(registered, weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest())
    for uri in ("models:/det@production", str(registered)):
        try:
            mlflow.pyfunc.load_model(uri)
            refused: BaseException | None = None
        except Exception as exc:
            refused = exc
        assert not marker.exists(), f"loading {uri} ran the pickle's code"
        assert isinstance(refused, ServingError), refused


def test_training_weights_whose_pickle_would_run_code_are_refused_unrun(tmp_path: Path) -> None:
    """Training hashes its ``best.pt`` with ``weights_info`` and the flavor takes it apart with
    ``plain_model``; both read it through the one restricted loader, so a pickle that would run code is
    refused and its payload never runs."""
    marker = tmp_path / "payload-ran"
    best = tmp_path / "ultralytics" / "weights" / "best.pt"
    plant_bomb(best, marker)
    for read in (weights_info, plain_model, read_checkpoint):
        with pytest.raises(ServingError, match="is not an Ultralytics checkpoint that loads without code"):
            read(best)
        assert not marker.exists(), f"{read.__name__} ran the pickle's code"


def test_an_architecture_that_would_run_code_is_not_built(tmp_path: Path, checkpoints: tuple[Path, Path]) -> None:
    """Ultralytics evaluates a model YAML's ``activation``; the flavor builds in its restricted mode."""
    import json

    marker = tmp_path / "payload-ran"
    model_dir = tmp_path / "model"
    flavor.save_model(checkpoints[0], model_dir, labelmap=NAMES, task="detect", imgsz=64)
    arch_path = model_dir / flavor_conf(model_dir)["arch"]
    arch = json.loads(arch_path.read_text())
    arch["activation"] = f"open({str(marker)!r}, 'w')"
    arch_path.write_text(json.dumps(arch))
    rewrite_conf(model_dir, arch_sha256=arch_sha256(arch))
    with pytest.raises(ServingError, match="the architecture cannot be built"):
        flavor.load_model(str(model_dir))
    assert not marker.exists()


def test_a_version_without_the_weights_tags_is_refused(registered: Path) -> None:
    client = mlflow.MlflowClient()
    source = client.get_model_version("det", "1").source
    client.create_model_version("det", source=source)  # version 2: registered around mlflow-cv, no tags
    with pytest.raises(WeightsMismatchError, match="cv.weights.digest is not set"):
        flavor.load_model("models:/det/2")


# --- the format -------------------------------------------------------------------------------------------


def test_the_saved_hashes_are_the_ones_training_tags(checkpoints: tuple[Path, Path], tmp_path: Path) -> None:
    """The flavor's digest and architecture hash are ``cv.weights.digest`` and ``cv.model.arch_sha256``."""
    plain = plain_model(checkpoints[0])
    info = weights_info(checkpoints[0])
    write_tensors(plain.tensors, tmp_path / "w.safetensors")
    assert tensor_digest(plain.tensors) == tensor_digest(read_tensors(tmp_path / "w.safetensors")) == info.digest
    assert arch_sha256(plain.arch) == info.arch_sha256
    assert {str(t.dtype) for t in plain.tensors.values()} == {"torch.float16", "torch.int64"}  # as best.pt stores them


def test_tensors_round_trip_with_dtype_and_shape(tmp_path: Path) -> None:
    tensors = {
        "half": torch.randn(3, 4).half(),
        "float": torch.randn(2, 1, 5),
        "bf16": torch.randn(7).bfloat16(),
        "count": torch.tensor(12),
        "mask": torch.tensor([True, False]),
        "empty": torch.zeros(0, 3),
        "bytes": torch.arange(256, dtype=torch.uint8),
    }
    write_tensors(tensors, tmp_path / "t.safetensors")
    back = read_tensors(tmp_path / "t.safetensors")
    assert back.keys() == tensors.keys()
    for name, tensor in tensors.items():
        assert back[name].dtype == tensor.dtype and back[name].shape == tensor.shape and torch.equal(back[name], tensor)


OVERLAPPING = b'{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}'


def _file(header: bytes, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + data


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x01\x02", "too short"),
        (struct.pack("<Q", 10**9) + b"{}", "does not fit"),
        (_file(b"not json"), "not JSON"),
        (_file(b"[1, 2]"), "not a JSON object"),
        (_file(b'{"a": {"dtype": "PICKLE", "shape": [1], "data_offsets": [0, 1]}}', b"x"), "malformed"),
        (_file(b'{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}', b"x" * 8), "byte range"),
        (_file(OVERLAPPING, b"x" * 6), "overlap"),
    ],
)
def test_a_malformed_tensor_file_is_refused(tmp_path: Path, content: bytes, reason: str) -> None:
    (tmp_path / "bad.safetensors").write_bytes(content)  # (``reason``: what is wrong with it, for the reader)
    with pytest.raises(ServingError, match="is not a valid safetensors file"):
        read_tensors(tmp_path / "bad.safetensors")
