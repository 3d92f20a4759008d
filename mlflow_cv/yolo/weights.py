"""Ultralytics checkpoints as data: read without running code, hashed, and rebuilt from plain tensors.

:func:`read_checkpoint` is the one read of a ``.pt`` file in mlflow-cv: ``torch.load(weights_only=True)``
against Ultralytics' allow-list of its own and torch's model classes, so a pickle naming anything else is
refused before any of it is built. Training hashes its best weights with it (:func:`weights_info`: the
file, :func:`tensor_digest` of the tensors, :func:`arch_sha256` of the architecture) and the
``mlflow_cv_yolo`` flavor takes them apart with it (:func:`plain_model`), to ship tensors and architecture
without a pickle and to build a predicting model from them again (:func:`build_yolo`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow_cv.errors import ServingError

__all__ = [
    "PlainModel",
    "WeightsInfo",
    "arch_sha256",
    "build_yolo",
    "plain_model",
    "read_checkpoint",
    "tensor_digest",
    "weights_info",
]

_MODEL_CLASSES = {
    "detect": "DetectionModel",
    "segment": "SegmentationModel",
    "pose": "PoseModel",
    "classify": "ClassificationModel",
}


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint dict of an Ultralytics ``.pt`` file, read without executing code from it.

    Ultralytics' restricted loader (``torch_safe_load(safe_only=True)``): ``torch.load(weights_only=True)``
    with an allow-list of the torch and Ultralytics model classes the checkpoint names. A pickle naming any
    other callable (code to run) is refused with :class:`ServingError` before anything in it is built; so is
    every read on a torch too old to restrict it (Ultralytics would fall back to plain unpickling there).
    """
    import torch
    from ultralytics.nn.tasks import _SafeLoad, torch_safe_load

    if not _SafeLoad.SUPPORTED:
        raise ServingError(
            f"torch {torch.__version__} cannot read {path} without unpickling arbitrary code; install torch>=2.6"
        )
    try:
        ckpt, _ = torch_safe_load(str(path), safe_only=True)  # type: ignore[no-untyped-call]
    except (TypeError, RuntimeError, ValueError) as exc:
        raise ServingError(f"{path} is not an Ultralytics checkpoint that loads without code: {exc}") from None
    return dict(ckpt)


@dataclass(frozen=True)
class WeightsInfo:
    """The hashes training records of its best weights (``cv.weights.*``, ``cv.model.arch_sha256``)."""

    sha256: str  # of the file (covers a date and training metadata too)
    digest: str  # of the tensors: equal for two deterministic trainings
    arch_sha256: str  # of the architecture (the model's YAML dict, canonical JSON)


def weights_info(path: Path) -> WeightsInfo:
    """Hashes of an Ultralytics checkpoint: the file, its tensors (name, dtype, shape, bytes) and its
    architecture. Read with :func:`read_checkpoint`: a checkpoint whose pickle would run code is refused."""
    from mlflow_cv.data.hashing import sha256_file

    model = _network(read_checkpoint(path))
    return WeightsInfo(
        sha256=sha256_file(path), digest=tensor_digest(model.state_dict()), arch_sha256=arch_sha256(model.yaml)
    )


def tensor_digest(tensors: Mapping[str, Any]) -> str:
    """Digest of named tensors (``cv.weights.digest``): name, dtype, shape and bytes of each, sorted by name.
    Equal for a checkpoint's state dict and the safetensors file the flavor saves from it."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(tensors.items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def arch_sha256(arch: Mapping[str, Any]) -> str:
    """Hash of an architecture, a model's YAML dict without ``yaml_file`` (``cv.model.arch_sha256``)."""
    from mlflow_cv.canonical import canonical_sha256

    return canonical_sha256(_arch_spec(arch))


def _arch_spec(yaml: Mapping[str, Any]) -> dict[str, Any]:
    spec = {k: v for k, v in dict(yaml).items() if k != "yaml_file"}
    return dict(json.loads(json.dumps(spec)))  # plain JSON types (tuples → lists), as arch.json holds it


def _network(ckpt: Mapping[str, Any]) -> Any:
    """The model a checkpoint holds: its EMA weights when it keeps them (what Ultralytics predicts with)."""
    return ckpt.get("ema") or ckpt["model"]


# --- weights as plain tensors: what the mlflow_cv_yolo flavor ships, and rebuilding a model from them ------


@dataclass(frozen=True)
class PlainModel:
    """An Ultralytics model as data: tensors plus the architecture they fit, nothing that needs unpickling."""

    tensors: dict[str, Any]  # name → tensor as the checkpoint stores it (the EMA weights, FP16 for best.pt)
    arch: dict[str, Any]  # the model's YAML dict without ``yaml_file``: what cv.model.arch_sha256 hashes
    task: str


def plain_model(path: Path) -> PlainModel:
    """The tensors and architecture of an Ultralytics checkpoint, read with :func:`read_checkpoint` (even
    this one read of the pickle cannot run code); a checkpoint outside that format is refused."""
    from ultralytics.nn.tasks import guess_model_task

    ckpt = read_checkpoint(path)
    if ckpt.get("modelopt"):
        raise ServingError(f"{path} is a quantization-aware checkpoint; export its float weights first")
    model = _network(ckpt)
    task = str(getattr(model, "task", None) or guess_model_task(model))  # type: ignore[no-untyped-call]
    if task not in _MODEL_CLASSES:
        raise ServingError(f"{path} holds a {task} model; the flavor serves {', '.join(_MODEL_CLASSES)}")
    tensors = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    return PlainModel(tensors=tensors, arch=_arch_spec(model.yaml), task=task)


def build_yolo(plain: PlainModel, *, names: Mapping[int, str], source: Path) -> Any:
    """A ``YOLO`` predicting with ``plain``'s tensors, built as Ultralytics builds one from its YAML.

    The network is constructed under Ultralytics' restricted mode (known layer classes only, no ``eval``
    of the architecture's strings), its tensors loaded with ``strict=True``; ``source`` (the weights file,
    not a ``.pt``) is only recorded by Ultralytics as the model's path, never read.
    """
    import copy

    from ultralytics import YOLO  # type: ignore[attr-defined]
    from ultralytics.nn import tasks
    from ultralytics.utils import DEFAULT_CFG_DICT

    if not tasks._SafeLoad.SUPPORTED:
        raise ServingError("this torch cannot build an Ultralytics model without eval; install the requirements")
    network_class = getattr(tasks, _MODEL_CLASSES[plain.task])
    local = tasks._SafeLoad._local  # the per-thread flag parse_model reads: build with known layers only, no eval
    before = getattr(local, "active", False)
    local.active = True
    try:
        network = network_class(cfg=copy.deepcopy(plain.arch), ch=int(plain.arch.get("channels", 3)), verbose=False)
    except Exception as exc:  # an architecture Ultralytics refuses or cannot build
        raise ServingError(f"the architecture cannot be built: {type(exc).__name__}: {exc}") from None
    finally:
        local.active = before
    try:
        network.load_state_dict(plain.tensors, strict=True)
    except RuntimeError as exc:
        raise ServingError(f"the tensors do not fit the architecture: {str(exc)[:500]}") from None
    network.names = dict(names)
    network.task = plain.task
    network.args = {**DEFAULT_CFG_DICT, "task": plain.task}
    network = network.float().eval()
    yolo = YOLO(str(source), task=plain.task)  # a path that is not .pt: Ultralytics records it, loads nothing
    if type(yolo) is not YOLO:  # metadata beside the file re-routed it (RT-DETR, World): not ours
        raise ServingError(f"Ultralytics took {source} for a {type(yolo).__name__} model")
    yolo.model = network
    return yolo
