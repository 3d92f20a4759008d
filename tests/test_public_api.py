import inspect
import subprocess
import sys

import mlflow_cv
from mlflow_cv import errors


def test_all_is_exact_and_sorted():
    public = {
        name for name, value in vars(mlflow_cv).items() if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert set(mlflow_cv.__all__) == (public - set(mlflow_cv._LAZY)) | set(mlflow_cv._LAZY) | {"__version__"}
    assert list(mlflow_cv.__all__) == sorted(mlflow_cv.__all__)
    for name in mlflow_cv.__all__:
        assert getattr(mlflow_cv, name) is not None


def test_import_is_light():
    code = "import sys, mlflow_cv; print(sorted(m for m in ('mlflow', 'torch', 'ultralytics', 'hydra') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_error_derives_from_the_root_and_is_documented():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.MlflowCvError)
        assert cls.__doc__ and name in (errors.__doc__ or "")
