"""The model registry, client side: the policy (:mod:`~mlflow_cv.registry.policy`) and the pure rules
(:mod:`~mlflow_cv.registry.gates`) over one view of a version (:mod:`~mlflow_cv.registry.facts`);
registration with enforced semantic versions, gated alias moves and their history, over MLflow's client.
The guard stores that enforce the same rules on the server are :mod:`mlflow_cv.server`."""

__all__: list[str] = []
