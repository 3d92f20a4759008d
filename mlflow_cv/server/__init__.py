"""The guard stores behind MLflow's plugin entry points (``cv-guard-…`` URIs): the registry and tracking
stores that enforce mlflow-cv's rules on the server, whatever the client. Imported by nothing else in
:mod:`mlflow_cv`: MLflow loads :mod:`mlflow_cv.server.stores` (the light door) through its entry points."""

__all__: list[str] = []
