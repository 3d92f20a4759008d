"""The saved ``mlflow_cv_yolo`` model loaded: its checks, the network, and the pyfunc wrapper that serves it.

:class:`YoloModel` reads a saved model's folder (the layout is :mod:`mlflow_cv.serving.flavor`'s) and,
before anything is built, checks it, refusing with :class:`~mlflow_cv.errors.WeightsMismatchError`:

- always: the weights file's SHA-256 and its tensors' digest against those MLmodel records;
- from the registry (``models:/NAME/VERSION``, ``models:/NAME@ALIAS``: MLflow leaves the name and
  version it resolved in ``registered_model_meta`` beside MLmodel): the tensors' digest, the
  architecture and the label map against that version's write-once ``cv.weights.digest``,
  ``cv.model.arch_sha256`` and ``cv.model.labelmap_sha256``, and the checkpoint the model was made from
  against ``cv.weights.sha256``. Rewriting the files and MLmodel together does not pass these.

The tensors are parsed from ``safetensors`` (no code runs) and the network is built from the architecture
in Ultralytics' restricted mode (known layers, no ``eval``). :func:`weights_problems` runs the same hash
checks for the audit without building anything.

pyfunc input: a DataFrame with an ``image`` column of raw bytes or base64 text; params ``conf``,
``iou``, ``imgsz``, ``max_det`` (any other name is refused). Output: one row per detection,
``image_index, class_id, class_name, confidence, x1, y1, x2, y2`` in original image pixels
(segmentation adds ``polygon``, pose ``keypoints``); classification gives the top 5 per image,
``image_index, rank, class_id, class_name, confidence``. A request that cannot be predicted is refused
(HTTP 400) with the reason first and a body of a few KB at most.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow_cv._mlflow import bad_request, params_as_sent
from mlflow_cv.errors import InputError, ServingError, WeightsMismatchError
from mlflow_cv.serving.processing import OUTPUT_COLUMNS, Settings, check_param_names, decode_images, to_rows
from mlflow_cv.tags import TAG_ARCH_SHA256, TAG_LABELMAP_SHA256, TAG_WEIGHTS_DIGEST, TAG_WEIGHTS_SHA256

__all__ = [
    "ARCH",
    "CODE",
    "FLAVOR_NAME",
    "LABELMAP",
    "REGISTERED_MODEL_META",
    "SETTINGS",
    "WEIGHTS",
    "PyfuncModel",
    "YoloModel",
    "read_tensors",
    "weights_problems",
]

FLAVOR_NAME = "mlflow_cv_yolo"
# a saved model's files, relative to its folder (MLmodel's flavor entry names them too)
WEIGHTS = "weights/model.safetensors"
ARCH = "weights/arch.json"
LABELMAP = "labelmap.json"
SETTINGS = "settings.json"
CODE = "code"
REGISTERED_MODEL_META = "registered_model_meta"  # MLflow's file: the name and version a models:/ URI resolved to


class YoloModel:
    """The loaded model: the Ultralytics network plus the settings and label map it was saved with.

    Everything is checked before the network is built (see the module docstring); ``registry`` names
    the ``models:/NAME/VERSION`` it was checked against, None when it was not loaded from the registry.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from mlflow.models import Model

        from mlflow_cv.data.hashing import sha256_file
        from mlflow_cv.yolo.weights import PlainModel, build_yolo

        root = Path(path)
        conf = Model.load(str(root)).flavors[FLAVOR_NAME]
        if "arch" not in conf:
            raise ServingError(
                f"{root} was saved by an older mlflow-cv as a pickled checkpoint, which is not loaded; "
                "save or log it again"
            )
        weights = _member(root, conf, "weights")
        actual, expected = sha256_file(weights), str(conf.get("weights_sha256"))
        if actual != expected:
            raise WeightsMismatchError(
                f"{weights}: SHA-256 {actual[:16]}… is not the {expected[:16]}… recorded at save time; the "
                "weights were changed or corrupted, so they are not loaded"
            )
        tensors, arch, found = _read(root, conf)
        recorded = {"digest": conf.get("weights_digest"), "arch": conf.get("arch_sha256")}
        if changed := [f"{k}: {found[k]}, recorded {v}" for k, v in recorded.items() if found[k] != v]:
            raise WeightsMismatchError(f"{root}: the model's files are not the ones MLmodel records", problems=changed)
        self.registry = _registry_version(root)
        if self.registry is not None:
            name, version, tags = self.registry
            if problems := _tag_problems(found, tags):
                raise WeightsMismatchError(
                    f"models:/{name}/{version}: the model's files are not the ones registered; not loaded",
                    problems=problems,
                )
        self.settings = Settings(**json.loads(_member(root, conf, "settings").read_text()))
        self.names = {int(k): v for k, v in json.loads(_member(root, conf, "labelmap").read_text()).items()}
        plain = PlainModel(tensors=tensors, arch=arch, task=self.settings.task)
        try:
            self.yolo = build_yolo(plain, names=self.names, source=weights)
        except ServingError as exc:
            raise ServingError(f"{root}: {exc}") from None

    def predict(self, images: list[Any], settings: Settings) -> dict[str, list[Any]]:
        results: Any = self.yolo.predict(images, **settings.predict_options(), verbose=False)
        return to_rows(results, self.names, settings.task)


def _registry_version(root: Path) -> tuple[str, str, dict[str, str]] | None:
    """(name, version, tags) of the registered version ``root`` was downloaded as, or None.

    MLflow writes ``registered_model_meta`` after downloading ``models:/NAME/VERSION`` or
    ``models:/NAME@ALIAS`` (over any such file in the artifacts), so it names what was asked for.
    """
    import yaml

    meta_path = root / REGISTERED_MODEL_META
    if not meta_path.is_file():
        return None
    meta = yaml.safe_load(meta_path.read_text())
    name, version = (meta.get("model_name"), meta.get("model_version")) if isinstance(meta, dict) else (None, None)
    if not name or not version:  # models:/<model id>: a logged model, not a registered version
        return None
    from mlflow import MlflowClient

    try:
        found = MlflowClient().get_model_version(str(name), str(version))
    except Exception as exc:  # unreachable or unknown: the weights cannot be vouched for
        raise WeightsMismatchError(
            f"models:/{name}/{version}: the registry cannot be asked for the version's hashes ({exc}); not loaded"
        ) from None
    return str(name), str(version), dict(found.tags)


def _tag_problems(found: Mapping[str, str], tags: Mapping[str, str]) -> list[str]:
    """Each difference between a saved model's hashes and a run's or version's write-once tags."""
    checks = (
        (TAG_WEIGHTS_DIGEST, "digest", "the tensors' digest"),
        (TAG_ARCH_SHA256, "arch", "the architecture's hash"),
        (TAG_LABELMAP_SHA256, "labelmap", "labelmap.json's SHA-256"),
        (TAG_WEIGHTS_SHA256, "source", "the SHA-256 of the checkpoint it was saved from"),
    )
    problems = []
    for tag, key, what in checks:
        expected = tags.get(tag)
        if expected is None:
            problems.append(f"{tag} is not set, so {what} cannot be checked")
        elif found[key] != expected:
            problems.append(f"{what} is {found[key]}, but {tag} is {expected}")
    return problems


def _member(root: Path, conf: Mapping[str, Any], key: str) -> Path:
    """The file MLmodel names under ``key``, which must lie inside the model's folder."""
    path = (root / str(conf.get(key))).resolve()
    if key not in conf or not path.is_relative_to(root.resolve()):
        raise ServingError(f"MLmodel's {key!r} does not name a file inside {root}")
    return path


def read_tensors(path: Path) -> dict[str, Any]:
    """A safetensors file's tensors (the format loads without unpickling anything)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return dict(load_file(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ServingError(f"{path} is not a valid safetensors file ({exc}); save the model again") from None


def _read(root: Path, conf: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The tensors and architecture of the saved model at ``root``, and the hashes the checks compare."""
    from mlflow_cv.yolo.weights import arch_sha256, tensor_digest

    tensors = read_tensors(_member(root, conf, "weights"))
    arch = json.loads(_member(root, conf, "arch").read_text())
    if not isinstance(arch, dict):
        raise ServingError(f"{conf['arch']} does not hold an architecture")
    found = {
        "digest": tensor_digest(tensors),
        "arch": arch_sha256(arch),
        "labelmap": hashlib.sha256(_member(root, conf, "labelmap").read_bytes()).hexdigest(),
        "source": str(conf.get("source_weights_sha256")),
    }
    return tensors, arch, found


def weights_problems(path: str | os.PathLike[str], tags: Mapping[str, str]) -> list[str]:
    """What in the saved model at ``path`` differs from a run's or version's tags (empty: it is theirs).

    Reads the tensors without pickle; the registry loader checks the same four hashes.
    """
    from mlflow.models import Model

    root = Path(path)
    try:
        _, _, found = _read(root, Model.load(str(root)).flavors[FLAVOR_NAME])
    except (OSError, KeyError, ValueError, ServingError) as exc:
        return [f"not a model of the {FLAVOR_NAME} flavor that loads without pickle: {type(exc).__name__}: {exc}"]
    return _tag_problems(found, tags)


class PyfuncModel:
    """What ``mlflow.pyfunc.load_model`` serves: a :class:`YoloModel` behind MLflow's ``predict``, refusing
    (HTTP 400, the reason first) a request it cannot predict, unknown params included."""

    def __init__(self, model: YoloModel) -> None:
        self.model = model

    def get_raw_model(self) -> YoloModel:
        return self.model

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        import pandas as pd

        try:
            check_param_names(params_as_sent(self, params) or {})
            if not isinstance(model_input, pd.DataFrame) or "image" not in model_input.columns:
                raise InputError("expected a DataFrame with an 'image' column (image bytes or base64 text)")
            settings = self.model.settings.with_params(params)
            images = decode_images(list(model_input["image"]))
        except InputError as exc:
            raise bad_request(str(exc)) from None
        return pd.DataFrame(self.model.predict(images, settings), columns=list(OUTPUT_COLUMNS[settings.task]))
