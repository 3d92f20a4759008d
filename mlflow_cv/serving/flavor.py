"""The ``mlflow_cv_yolo`` MLflow flavor: YOLO weights, label map and pre/post-processing as one model.

MLflow's flavor contract, and only it (as ``mlflow.onnx`` has it): ``FLAVOR_NAME``, :func:`save_model`,
:func:`log_model`, :func:`load_model`, ``_load_pyfunc``, the default environment and the signature;
heavy imports inside functions. What loading checks and how the model answers is
:mod:`mlflow_cv.serving.model`'s. A saved model holds::

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
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, Required, TypedDict, Unpack

from mlflow_cv import _mlflow
from mlflow_cv.errors import ServingError
from mlflow_cv.serving.model import (
    ARCH,
    CODE,
    FLAVOR_NAME,
    LABELMAP,
    SETTINGS,
    WEIGHTS,
    PyfuncModel,
    YoloModel,
)
from mlflow_cv.serving.processing import OUTPUT_COLUMNS, Settings, labelmap_json

__all__ = [
    "FLAVOR_NAME",
    "ModelOptions",
    "default_signature",
    "get_default_conda_env",
    "get_default_pip_requirements",
    "load_model",
    "log_model",
    "save_model",
]

_PACKAGE = Path(__file__).resolve().parents[1]  # mlflow_cv/


def get_default_pip_requirements() -> list[str]:
    """What serving the model needs, pinned to the installed versions."""
    packages = ("ultralytics", "torch", "torchvision", "safetensors", "pillow", "numpy", "pyyaml")
    return [_mlflow.pinned_requirement(p) for p in packages]


def get_default_conda_env() -> dict[str, Any]:
    """MLflow's conda environment with :func:`get_default_pip_requirements`."""
    return _mlflow.conda_env(get_default_pip_requirements())


def default_signature(task: str, settings: Settings) -> Any:
    """The signature a saved model gets: an ``image`` column in, ``task``'s columns out, and the params a
    request may set (defaults: ``settings``)."""
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
    conda_env: dict[str, Any] | str | None = None,
    code_paths: list[str] | None = None,
    mlflow_model: Any = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: list[str] | str | None = None,
    extra_pip_requirements: list[str] | str | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Save the YOLO checkpoint ``weights`` as an MLflow model at ``path``: its tensors and architecture
    (no pickle), label map and processing settings. The checkpoint is read with Ultralytics' restricted
    loader; a checkpoint of another task than ``task`` is refused.

    The other options are MLflow's, as ``mlflow.onnx.save_model`` takes them: at most one of ``conda_env``,
    ``pip_requirements`` and ``extra_pip_requirements`` (default: :func:`get_default_pip_requirements`);
    ``code_paths`` are copied into ``code/`` beside this package; ``signature`` replaces
    :func:`default_signature` (without its params schema, a request's params are ignored).
    """
    import yaml
    from mlflow import pyfunc
    from mlflow.models import Model
    from mlflow.models.model import MLMODEL_FILE_NAME
    from safetensors.torch import save_file

    from mlflow_cv.data.hashing import sha256_file
    from mlflow_cv.yolo.settings import ultralytics_version
    from mlflow_cv.yolo.weights import arch_sha256, plain_model, tensor_digest

    if task not in OUTPUT_COLUMNS:
        raise ServingError(f"task {task!r} is not one of {', '.join(OUTPUT_COLUMNS)}")
    _mlflow.check_env_arguments(conda_env, pip_requirements, extra_pip_requirements)
    plain = plain_model(Path(weights))
    if plain.task != task:
        raise ServingError(f"{weights} holds a {plain.task} model, not a {task} one")
    root = Path(path)
    _mlflow.prepare_save_path(root)
    (root / "weights").mkdir(parents=True)
    save_file(plain.tensors, root / WEIGHTS)
    (root / ARCH).write_text(json.dumps(plain.arch, indent=2, sort_keys=True) + "\n")
    settings = Settings(task=task, imgsz=imgsz, conf=conf, iou=iou, max_det=max_det)
    (root / LABELMAP).write_text(labelmap_json(labelmap))
    (root / SETTINGS).write_text(json.dumps(asdict(settings), indent=2) + "\n")
    shutil.copytree(_PACKAGE, root / CODE / "mlflow_cv", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _mlflow.copy_code_paths(code_paths, root)  # into CODE, beside the package
    model = mlflow_model or Model()
    model.signature = signature if signature is not None else default_signature(task, settings)
    if input_example is not None:
        _mlflow.save_example(model, input_example, root)
    if metadata:
        model.metadata = metadata
    pyfunc.add_to_model(
        model, loader_module=__name__, code=CODE, conda_env=_mlflow.CONDA_ENV_FILE, python_env=_mlflow.PYTHON_ENV_FILE
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
        ultralytics_version=ultralytics_version(),
        code=CODE,
    )
    model.save(str(root / MLMODEL_FILE_NAME))
    if conda_env is None:
        env, pip_reqs, constraints = _mlflow.process_pip_requirements(
            get_default_pip_requirements(), pip_requirements, extra_pip_requirements
        )
    else:
        env, pip_reqs, constraints = _mlflow.process_conda_env(conda_env)
    (root / _mlflow.CONDA_ENV_FILE).write_text(yaml.safe_dump(env, default_flow_style=False))
    if constraints:
        (root / _mlflow.CONSTRAINTS_FILE).write_text("\n".join(constraints))
    (root / _mlflow.REQUIREMENTS_FILE).write_text("\n".join(pip_reqs))
    _mlflow.write_python_env(root / _mlflow.PYTHON_ENV_FILE)


class ModelOptions(TypedDict, total=False):
    """The flavor's own options of :func:`save_model` (``labelmap`` required), as :func:`log_model` passes them."""

    labelmap: Required[Mapping[int, str]]
    task: str
    imgsz: int
    conf: float
    iou: float
    max_det: int


def log_model(
    weights: str | os.PathLike[str],
    name: str | None = None,
    *,
    artifact_path: str | None = None,
    conda_env: dict[str, Any] | str | None = None,
    code_paths: list[str] | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    await_registration_for: int | None = _mlflow.DEFAULT_AWAIT_MAX_SLEEP_SECONDS,
    pip_requirements: list[str] | str | None = None,
    extra_pip_requirements: list[str] | str | None = None,
    metadata: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    model_id: str | None = None,
    **options: Unpack[ModelOptions],
) -> Any:
    """Log the model to the active run (MLflow 3's ``name=``, ``model`` by default; ``artifact_path`` is
    MLflow's deprecated spelling); returns MLflow's ``ModelInfo``. ``options`` are :func:`save_model`'s own
    (``labelmap``, ``task``, ``imgsz``, ``conf``, ``iou``, ``max_det``); the others are
    ``mlflow.onnx.log_model``'s: ``registered_model_name`` also registers it (waiting up to
    ``await_registration_for`` seconds), ``params``, ``tags``, ``model_type``, ``step`` and ``model_id``
    describe the logged model."""
    import sys

    from mlflow.models import Model

    return Model.log(
        artifact_path=artifact_path,
        name=name if name is not None or artifact_path is not None else "model",
        flavor=sys.modules[__name__],
        weights=weights,
        conda_env=conda_env,
        code_paths=code_paths,
        registered_model_name=registered_model_name,
        signature=signature,
        input_example=input_example,
        await_registration_for=await_registration_for,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        params=params,
        tags=tags,
        model_type=model_type,
        step=step,
        model_id=model_id,
        **options,
    )


def load_model(model_uri: str, dst_path: str | None = None) -> YoloModel:
    """The model at ``model_uri`` (``runs:/…``, ``models:/NAME@ALIAS``, a path) as a :class:`YoloModel`;
    from the registry, checked against the version's tags first."""
    local = _mlflow.download_artifact(model_uri, dst_path)
    _mlflow.add_code_to_system_path(local, _mlflow.flavor_configuration(local, FLAVOR_NAME))
    return YoloModel(local)


def _load_pyfunc(path: str, model_config: Any = None) -> PyfuncModel:
    """pyfunc loader: MLflow passes the model's folder (or its ``data`` subfolder, unused here)."""
    root = Path(path)
    while not (root / "MLmodel").is_file() and root != root.parent:
        root = root.parent
    return PyfuncModel(YoloModel(root))
