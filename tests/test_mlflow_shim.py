"""mlflow_cv/_mlflow.py, the one home of MLflow's private names: each still exists in the installed MLflow, the
copied constants are MLflow's, importing it imports no MLflow, and the two helpers that lean on MLflow's
behaviour (the short HTTP 400, the params as sent) still work in MLflow's own scoring app."""

from __future__ import annotations

import ast
import base64
import importlib
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import mlflow_cv._mlflow as shim
from mlflow_cv.serving.flavor import default_signature
from mlflow_cv.serving.model import PyfuncModel
from mlflow_cv.serving.processing import OUTPUT_COLUMNS, Settings


def _private_imports() -> list[tuple[str, str]]:
    tree = ast.parse(Path(shim.__file__).read_text())
    return [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mlflow.")
        for alias in node.names
        if alias.name.startswith("_") or "._" in node.module
    ]


def test_every_private_name_exists_in_the_installed_mlflow() -> None:
    """If MLflow moves one, this fails naming it (then mend _mlflow.py and its CHECKED_AGAINST)."""
    from mlflow.pyfunc import PyFuncModel
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

    names = _private_imports()
    assert len(names) >= 15
    missing = [f"{m}.{n}" for m, n in names if not hasattr(importlib.import_module(m), n)]
    assert not missing, f"not in this MLflow (_mlflow.py was checked against {shim.CHECKED_AGAINST}): {missing}"
    assert callable(ArtifactRepository._download_file)
    assert "self._predict_fn" in Path(sys.modules[PyFuncModel.__module__].__file__ or "").read_text()
    spec = importlib.util.find_spec("mlflow.server.auth")  # not imported: importing it opens the auth database
    assert spec is not None and spec.origin is not None
    auth = ast.parse(Path(spec.origin).read_text())
    assert "_resolve_user_permission_for_resource" in {n.name for n in auth.body if isinstance(n, ast.FunctionDef)}


def test_copied_constants_are_mlflows() -> None:
    from mlflow.tracking._model_registry import DEFAULT_AWAIT_MAX_SLEEP_SECONDS
    from mlflow.tracking._tracking_service.utils import _SERVER_ARTIFACT_ROOT_ENV_VAR
    from mlflow.utils import environment

    assert shim.CONDA_ENV_FILE == environment._CONDA_ENV_FILE_NAME
    assert shim.REQUIREMENTS_FILE == environment._REQUIREMENTS_FILE_NAME
    assert shim.CONSTRAINTS_FILE == environment._CONSTRAINTS_FILE_NAME
    assert shim.PYTHON_ENV_FILE == environment._PYTHON_ENV_FILE_NAME
    assert shim.SERVER_ARTIFACT_ROOT_ENV_VAR == _SERVER_ARTIFACT_ROOT_ENV_VAR
    assert shim.DEFAULT_AWAIT_MAX_SLEEP_SECONDS == DEFAULT_AWAIT_MAX_SLEEP_SECONDS


def test_importing_the_shim_imports_no_mlflow() -> None:
    code = (
        "import sys, mlflow_cv._mlflow, mlflow_cv.serving.model; print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    loaded = set(json.loads(out.stdout.replace("'", '"')))
    assert not loaded & {"mlflow", "torch", "ultralytics", "pandas"}, loaded


class _Stub:
    """A YoloModel's surface without a network: one detection per image."""

    settings = Settings(task="detect", imgsz=64)

    def predict(self, images: list[Any], settings: Settings) -> dict[str, list[Any]]:
        row = {"class_id": 0, "class_name": "circle", "confidence": settings.conf, "x1": 0.0, "y1": 0.0}
        return {
            c: [i if c == "image_index" else row.get(c, 1.0) for i in range(len(images))]
            for c in OUTPUT_COLUMNS["detect"]
        }


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Any:
    """MLflow's scoring app (what ``mlflow models serve`` runs) around the pyfunc wrapper, in-process."""
    from fastapi.testclient import TestClient
    from mlflow.models import Model
    from mlflow.pyfunc import PyFuncModel, scoring_server

    monkeypatch.delenv("_MLFLOW_IS_IN_SERVING_ENVIRONMENT", raising=False)  # init sets it: put back after
    meta = Model(signature=default_signature("detect", _Stub.settings))
    meta.add_flavor("python_function", loader_module="mlflow_cv.serving.flavor")
    return TestClient(scoring_server.init(PyFuncModel(model_meta=meta, model_impl=PyfuncModel(_Stub()))))  # type: ignore[arg-type]


def _png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_a_bad_request_is_a_short_400_with_the_reason_first(client: Any) -> None:
    good = _png()
    reply = client.post("/invocations", json={"inputs": {"image": [good]}, "params": {"conf": 0.5}})
    assert reply.status_code == 200 and reply.json()["predictions"][0]["confidence"] == 0.5
    blob = base64.b64encode(b"x" * 300_000).decode()  # not an image, and a request MLflow would repeat whole
    reply = client.post("/invocations", json={"inputs": {"image": [good, blob]}})
    assert reply.status_code == 400 and len(reply.content) < 4096, reply.content[:300]
    assert reply.content.startswith(b'{"message": "1 of 2 image(s) cannot be predicted')
    assert "row 1: not an image" in reply.json()["message"]
    assert reply.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_unknown_params_are_refused_though_mlflow_drops_them(client: Any) -> None:
    """MLflow's params schema drops ``foo`` before the model sees it; the params as sent still name it."""
    reply = client.post("/invocations", json={"inputs": {"image": [_png()]}, "params": {"conf": 0.5, "foo": 1}})
    assert reply.status_code == 400, reply.content[:300]
    assert reply.json()["message"].startswith("unknown params 'foo'")
