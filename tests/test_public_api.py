import inspect

import mlflow_cv
from mlflow_cv import errors


def test_all_is_exact_and_sorted():
    public = {
        name for name, value in vars(mlflow_cv).items() if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert set(mlflow_cv.__all__) == public | {"__version__"}
    assert list(mlflow_cv.__all__) == sorted(mlflow_cv.__all__)


def test_every_error_derives_from_the_root_and_is_documented():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.MlflowCvError)
        assert cls.__doc__ and name in (errors.__doc__ or "")
