"""The ``mlflow_cv_yolo`` MLflow flavor: YOLO weights, label map and pre/post-processing as one model.

Follows MLflow's flavor contract (``FLAVOR_NAME``, :func:`save_model`, :func:`log_model`,
:func:`load_model`, ``_load_pyfunc``; heavy imports inside functions). A saved model holds::

    MLmodel                 flavors: python_function (loader: this module) and mlflow_cv_yolo
    weights/best.pt         the Ultralytics checkpoint; its SHA-256 is in MLmodel
    labelmap.json           class id → name
    settings.json           task, imgsz, conf, iou, max_det: the prediction defaults
    code/mlflow_cv/         this package, so the model serves without the training repository
    conda.yaml  python_env.yaml  requirements.txt  input_example.json  serving_input_example.json

Loading verifies the weights' SHA-256 before anything is unpickled.

pyfunc input: a DataFrame with an ``image`` column of raw bytes or base64 text; params ``conf``,
``iou``, ``imgsz``, ``max_det``. Output: one row per detection, ``image_index, class_id, class_name,
confidence, x1, y1, x2, y2`` in original image pixels (segmentation adds ``polygon``, pose
``keypoints``); classification gives the top 5 per image, ``image_index, rank, class_id, class_name,
confidence``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlflow_cv.errors import InputError, ServingError, WeightsMismatchError
from mlflow_cv.serving.processing import OUTPUT_COLUMNS, Settings, decode_images, labelmap_json, to_rows

__all__ = ["FLAVOR_NAME", "get_default_pip_requirements", "load_model", "log_model", "save_model"]

FLAVOR_NAME = "mlflow_cv_yolo"
WEIGHTS = "weights/best.pt"
LABELMAP = "labelmap.json"
SETTINGS = "settings.json"
CODE = "code"
_PACKAGE = Path(__file__).resolve().parents[1]  # mlflow_cv/


def get_default_pip_requirements() -> list[str]:
    from mlflow.utils.requirements_utils import _get_pinned_requirement

    return [_get_pinned_requirement(p) for p in ("ultralytics", "torch", "torchvision", "pillow", "numpy", "pyyaml")]


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
    params = ParamSchema([
        ParamSpec("conf", "double", settings.conf), ParamSpec("iou", "double", settings.iou),
        ParamSpec("imgsz", "long", settings.imgsz), ParamSpec("max_det", "long", settings.max_det),
    ])  # fmt: skip
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
    """Save YOLO ``weights`` with their label map and processing settings as an MLflow model at ``path``."""
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

    from mlflow_cv.data.hashing import sha256_file

    if task not in OUTPUT_COLUMNS:
        raise ServingError(f"task {task!r} is not one of {', '.join(OUTPUT_COLUMNS)}")
    root = Path(path)
    _validate_and_prepare_target_save_path(str(root))
    (root / "weights").mkdir(parents=True)
    shutil.copyfile(weights, root / WEIGHTS)
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
        weights_sha256=sha256_file(root / WEIGHTS),
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
    """The loaded model: the Ultralytics network plus the settings and label map it was saved with."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from mlflow.models import Model

        from mlflow_cv.data.hashing import sha256_file

        root = Path(path)
        conf = Model.load(str(root)).flavors[FLAVOR_NAME]
        weights = root / conf["weights"]
        actual = sha256_file(weights)
        if actual != conf["weights_sha256"]:
            raise WeightsMismatchError(
                f"{weights}: SHA-256 {actual[:16]}… is not the {conf['weights_sha256'][:16]}… recorded at save "
                "time; the weights were changed or corrupted, so they are not loaded"
            )
        from ultralytics import YOLO  # type: ignore[attr-defined]

        self.settings = Settings(**json.loads((root / conf["settings"]).read_text()))
        self.names = {int(k): v for k, v in json.loads((root / conf["labelmap"]).read_text()).items()}
        self.yolo = YOLO(str(weights), task=self.settings.task)

    def predict(self, images: list[Any], settings: Settings) -> dict[str, list[Any]]:
        results: Any = self.yolo.predict(
            images, imgsz=settings.imgsz, conf=settings.conf, iou=settings.iou, max_det=settings.max_det,
            batch=settings.batch, verbose=False,
        )  # fmt: skip
        return to_rows(results, self.names, settings.task)


class _PyfuncModel:
    def __init__(self, model: YoloModel) -> None:
        self.model = model

    def get_raw_model(self) -> YoloModel:
        return self.model

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        import pandas as pd
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        try:
            if not isinstance(model_input, pd.DataFrame) or "image" not in model_input.columns:
                raise InputError("expected a DataFrame with an 'image' column (image bytes or base64 text)")
            settings = self.model.settings.with_params(params)
            images = decode_images(list(model_input["image"]))
        except InputError as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None
        return pd.DataFrame(self.model.predict(images, settings), columns=list(OUTPUT_COLUMNS[settings.task]))


def load_model(model_uri: str, dst_path: str | None = None) -> YoloModel:
    """The model at ``model_uri`` (``runs:/…``, ``models:/NAME@ALIAS``, a path) as a :class:`YoloModel`."""
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
