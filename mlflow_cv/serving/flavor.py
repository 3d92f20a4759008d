"""The ``mlflow_cv_yolo`` MLflow flavor: YOLO weights, label map and pre/post-processing as one model.

Follows MLflow's flavor contract (``FLAVOR_NAME``, :func:`save_model`, :func:`log_model`,
:func:`load_model`, ``_load_pyfunc``; heavy imports inside functions). A saved model holds::

    MLmodel                   flavors: python_function (loader: this module) and mlflow_cv_yolo
    weights/model.safetensors the network's tensors as the checkpoint stores them (EMA, FP16)
    weights/arch.json         the architecture they fit: the model's Ultralytics YAML, as JSON
    labelmap.json             class id → name
    settings.json             task, imgsz, conf, iou, max_det: the prediction defaults
    code/mlflow_cv/           this package, so the model serves without the training repository
    conda.yaml  python_env.yaml  requirements.txt  input_example.json  serving_input_example.json

No pickle is shipped and none is loaded: the checkpoint is read once, when the model is saved, with
Ultralytics' restricted loader; loading parses the tensors (the ``safetensors`` format: no code runs) and
builds the network from the architecture in Ultralytics' restricted mode (known layers, no ``eval``).
Before anything is built, loading checks, and refuses with :class:`~mlflow_cv.errors.WeightsMismatchError`:

- always: the weights file's SHA-256 and its tensors' digest against those MLmodel records;
- from the registry (``models:/NAME/VERSION``, ``models:/NAME@ALIAS``: MLflow leaves the name and
  version it resolved in ``registered_model_meta`` beside MLmodel): the tensors' digest, the
  architecture and the label map against that version's write-once ``cv.weights.digest``,
  ``cv.model.arch_sha256`` and ``cv.model.labelmap_sha256``, and the checkpoint the model was made from
  against ``cv.weights.sha256``. Rewriting the files and MLmodel together does not pass these.

pyfunc input: a DataFrame with an ``image`` column of raw bytes or base64 text; params ``conf``,
``iou``, ``imgsz``, ``max_det`` (any other name is refused). Output: one row per detection,
``image_index, class_id, class_name, confidence, x1, y1, x2, y2`` in original image pixels
(segmentation adds ``polygon``, pose ``keypoints``); classification gives the top 5 per image,
``image_index, rank, class_id, class_name, confidence``. A request that cannot be predicted is refused
(HTTP 400) with the reason first and a body of a few KB at most.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlflow_cv.errors import InputError, ServingError, WeightsMismatchError
from mlflow_cv.serving.processing import (
    OUTPUT_COLUMNS,
    Settings,
    check_param_names,
    decode_images,
    labelmap_json,
    to_rows,
)
from mlflow_cv.tags import TAG_ARCH_SHA256, TAG_LABELMAP_SHA256, TAG_WEIGHTS_DIGEST, TAG_WEIGHTS_SHA256

__all__ = [
    "FLAVOR_NAME",
    "get_default_pip_requirements",
    "load_model",
    "log_model",
    "save_model",
    "weights_problems",
]

FLAVOR_NAME = "mlflow_cv_yolo"
WEIGHTS = "weights/model.safetensors"
ARCH = "weights/arch.json"
REGISTERED_MODEL_META = "registered_model_meta"  # MLflow's file: the name and version a models:/ URI resolved to
LABELMAP = "labelmap.json"
SETTINGS = "settings.json"
CODE = "code"
_PACKAGE = Path(__file__).resolve().parents[1]  # mlflow_cv/


def get_default_pip_requirements() -> list[str]:
    from mlflow.utils.requirements_utils import _get_pinned_requirement

    packages = ("ultralytics", "torch", "torchvision", "safetensors", "pillow", "numpy", "pyyaml")
    return [_get_pinned_requirement(p) for p in packages]


def get_default_conda_env() -> dict[str, Any]:
    from mlflow.utils.environment import _mlflow_conda_env

    env: dict[str, Any] = _mlflow_conda_env(additional_pip_deps=get_default_pip_requirements())
    return env


def signature(task: str, settings: Settings) -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    kinds = {"image_index": "long", "class_id": "long", "rank": "long", "class_name": "string"}
    outputs: list[Any] = [
        ColSpec(kinds.get(c, "double"), c) for c in OUTPUT_COLUMNS[task] if c not in ("polygon", "keypoints")
    ]
    params = ParamSchema(
        [
            ParamSpec("conf", "double", settings.conf),
            ParamSpec("iou", "double", settings.iou),
            ParamSpec("imgsz", "long", settings.imgsz),
            ParamSpec("max_det", "long", settings.max_det),
        ]
    )
    return ModelSignature(inputs=Schema([ColSpec("binary", "image")]), outputs=Schema(outputs), params=params)


def save_model(
    weights: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    labelmap: Mapping[int, str],
    task: str = "detect",
    imgsz: int = 640,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    mlflow_model: Any = None,
) -> None:
    """Save the YOLO checkpoint ``weights`` as an MLflow model at ``path``: its tensors and architecture
    (no pickle), label map and processing settings. The checkpoint is read with Ultralytics' restricted
    loader; a checkpoint of another task than ``task`` is refused."""
    import ultralytics
    import yaml
    from mlflow import pyfunc
    from mlflow.models import Model
    from mlflow.models.model import MLMODEL_FILE_NAME
    from mlflow.models.utils import _save_example
    from mlflow.utils.environment import (
        _CONDA_ENV_FILE_NAME,
        _CONSTRAINTS_FILE_NAME,
        _PYTHON_ENV_FILE_NAME,
        _REQUIREMENTS_FILE_NAME,
        _process_pip_requirements,
        _PythonEnv,
    )
    from mlflow.utils.model_utils import _validate_and_prepare_target_save_path
    from safetensors.torch import save_file

    from mlflow_cv.data.hashing import sha256_file
    from mlflow_cv.yolo import arch_sha256, plain_model, tensor_digest

    if task not in OUTPUT_COLUMNS:
        raise ServingError(f"task {task!r} is not one of {', '.join(OUTPUT_COLUMNS)}")
    plain = plain_model(Path(weights))
    if plain.task != task:
        raise ServingError(f"{weights} holds a {plain.task} model, not a {task} one")
    root = Path(path)
    _validate_and_prepare_target_save_path(str(root))
    (root / "weights").mkdir(parents=True)
    save_file(plain.tensors, root / WEIGHTS)
    (root / ARCH).write_text(json.dumps(plain.arch, indent=2, sort_keys=True) + "\n")
    settings = Settings(task=task, imgsz=imgsz, conf=conf, iou=iou, max_det=max_det)
    (root / LABELMAP).write_text(labelmap_json(labelmap))
    (root / SETTINGS).write_text(json.dumps(asdict(settings), indent=2) + "\n")
    shutil.copytree(_PACKAGE, root / CODE / "mlflow_cv", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    model = mlflow_model or Model()
    model.signature = signature(task, settings)
    if input_example is not None:
        _save_example(model, input_example, str(root))
    if metadata:
        model.metadata = metadata
    pyfunc.add_to_model(
        model, loader_module=__name__, code=CODE, conda_env=_CONDA_ENV_FILE_NAME, python_env=_PYTHON_ENV_FILE_NAME
    )
    model.add_flavor(
        FLAVOR_NAME,
        weights=WEIGHTS,
        weights_format="safetensors",
        weights_sha256=sha256_file(root / WEIGHTS),
        weights_digest=tensor_digest(plain.tensors),
        arch=ARCH,
        arch_sha256=arch_sha256(plain.arch),
        source_weights_sha256=sha256_file(Path(weights)),
        labelmap=LABELMAP,
        settings=SETTINGS,
        task=task,
        ultralytics_version=ultralytics.__version__,
        code=CODE,
    )
    model.save(str(root / MLMODEL_FILE_NAME))
    conda_env, pip_reqs, constraints = _process_pip_requirements(
        get_default_pip_requirements(), pip_requirements, extra_pip_requirements
    )
    (root / _CONDA_ENV_FILE_NAME).write_text(yaml.safe_dump(conda_env, default_flow_style=False))
    if constraints:
        (root / _CONSTRAINTS_FILE_NAME).write_text("\n".join(constraints))
    (root / _REQUIREMENTS_FILE_NAME).write_text("\n".join(pip_reqs))
    _PythonEnv.current().to_yaml(str(root / _PYTHON_ENV_FILE_NAME))


def log_model(weights: str | os.PathLike[str], name: str = "model", **kwargs: Any) -> Any:
    """Log the model to the active run (``name=``, MLflow 3 style); returns MLflow's ``ModelInfo``."""
    import sys

    from mlflow.models import Model

    return Model.log(artifact_path=None, name=name, flavor=sys.modules[__name__], weights=weights, **kwargs)


class YoloModel:
    """The loaded model: the Ultralytics network plus the settings and label map it was saved with.

    Everything is checked before the network is built (see the module docstring); ``registry`` names
    the ``models:/NAME/VERSION`` it was checked against, None when it was not loaded from the registry.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from mlflow.models import Model

        from mlflow_cv.data.hashing import sha256_file
        from mlflow_cv.yolo import PlainModel, build_yolo

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
        results: Any = self.yolo.predict(
            images,
            imgsz=settings.imgsz,
            conf=settings.conf,
            iou=settings.iou,
            max_det=settings.max_det,
            batch=settings.batch,
            verbose=False,
        )
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
    from mlflow_cv.yolo import arch_sha256, tensor_digest

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


@functools.cache
def _bad_request_class() -> type[Exception]:
    from mlflow.exceptions import MlflowException

    class BadRequest(MlflowException):
        """HTTP 400 whose message is the reason alone.

        ``mlflow models serve`` rewrites the message of an MlflowException raised by the model to
        ``Failed to predict data '<the whole request>'. Error: …`` (a 389 KB image made a 519 KB body
        with the reason at its end): here the message is the one given first, and leads the JSON body.
        """

        def __init__(self, message: str) -> None:
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            super().__init__(message, error_code=INVALID_PARAMETER_VALUE)

        @property
        def message(self) -> str:
            return str(self.__dict__["_reason"])

        @message.setter
        def message(self, value: str) -> None:
            self.__dict__.setdefault("_reason", value)

        def serialize_as_json(self) -> str:
            return json.dumps({"message": self.message, **json.loads(super().serialize_as_json())})

    return BadRequest


def _params_as_sent(model: object, params: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The params as the caller passed them to ``PyFuncModel.predict``.

    MLflow enforces the signature's params schema before calling the model: names outside it are dropped
    with only a log line, so ``{"foo": 1}`` would be answered as if it were not there. The caller's dict is
    still the ``params`` of ``PyFuncModel.predict`` up the stack; called another way, ``params`` is it.
    """
    from mlflow.pyfunc import PyFuncModel

    code = inspect.unwrap(PyFuncModel.predict).__code__
    frame = inspect.currentframe()
    for _ in range(12):
        if frame is None:
            break
        if frame.f_code is code:
            caller = frame.f_locals.get("self")
            if getattr(getattr(caller, "_predict_fn", None), "__self__", None) is model:
                sent = frame.f_locals.get("params")
                return sent if isinstance(sent, Mapping) else params
        frame = frame.f_back
    return params


class _PyfuncModel:
    def __init__(self, model: YoloModel) -> None:
        self.model = model

    def get_raw_model(self) -> YoloModel:
        return self.model

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        import pandas as pd

        try:
            check_param_names(_params_as_sent(self, params) or {})
            if not isinstance(model_input, pd.DataFrame) or "image" not in model_input.columns:
                raise InputError("expected a DataFrame with an 'image' column (image bytes or base64 text)")
            settings = self.model.settings.with_params(params)
            images = decode_images(list(model_input["image"]))
        except InputError as exc:
            raise _bad_request_class()(str(exc)) from None
        return pd.DataFrame(self.model.predict(images, settings), columns=list(OUTPUT_COLUMNS[settings.task]))


def load_model(model_uri: str, dst_path: str | None = None) -> YoloModel:
    """The model at ``model_uri`` (``runs:/…``, ``models:/NAME@ALIAS``, a path) as a :class:`YoloModel`;
    from the registry, checked against the version's tags first."""
    from mlflow.tracking.artifact_utils import _download_artifact_from_uri
    from mlflow.utils.model_utils import _add_code_from_conf_to_system_path, _get_flavor_configuration

    local = _download_artifact_from_uri(artifact_uri=model_uri, output_path=dst_path)
    _add_code_from_conf_to_system_path(local, _get_flavor_configuration(local, FLAVOR_NAME))
    return YoloModel(local)


def _load_pyfunc(path: str, model_config: Any = None) -> _PyfuncModel:
    """pyfunc loader: MLflow passes the model's folder (or its ``data`` subfolder, unused here)."""
    root = Path(path)
    while not (root / "MLmodel").is_file() and root != root.parent:
        root = root.parent
    return _PyfuncModel(YoloModel(root))
