"""Serving: the ``mlflow_cv_yolo`` MLflow flavor, the pre/post-processing it applies, and the safetensors
reader and writer that keep its weights loadable without unpickling."""
