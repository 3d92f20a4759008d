"""Serving: the ``mlflow_cv_yolo`` MLflow flavor, as ``mlflow models serve`` and ``mlflow.pyfunc`` load it.

- :mod:`~mlflow_cv.serving.flavor`: MLflow's contract (``FLAVOR_NAME``, ``save_model``, ``log_model``,
  ``load_model``, ``_load_pyfunc``, the default environment and signature) and what a saved model holds;
- :mod:`~mlflow_cv.serving.model`: the saved model loaded (``YoloModel``), the integrity checks that come
  first (weights, architecture and label map against MLmodel and the registered version's tags), and the
  pyfunc wrapper that answers requests, refusing a bad one with an HTTP 400;
- :mod:`~mlflow_cv.serving.processing`: the pre/post-processing (images in, one row per detection out) and
  the prediction settings.

The weights are read and written as ``safetensors`` (by :mod:`mlflow_cv.yolo`): nothing is unpickled.
"""

__all__: list[str] = []
