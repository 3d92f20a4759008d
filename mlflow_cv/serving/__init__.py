"""Serving: the ``mlflow_cv_yolo`` MLflow flavor and the pre/post-processing it applies."""
