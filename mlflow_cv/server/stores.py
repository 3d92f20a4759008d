"""The light doors MLflow's plugin registries open: MLflow loads every ``mlflow.model_registry_store``
(and ``mlflow.tracking_store``) entry point as soon as a client touches a registry (or a tracking
store), so this module imports nothing heavy; the guard stores (:mod:`mlflow_cv.server.registry_store`,
:mod:`mlflow_cv.server.tracking_store`, SQLAlchemy and all) are imported only when a ``cv-guard-…``
URI is used."""

from __future__ import annotations

from typing import Any

__all__ = ["build_registry_store", "build_tracking_store"]


def build_registry_store(store_uri: str, tracking_uri: str | None = None) -> Any:
    """``cv-guard-sqlite:///x.db`` (or ``cv-guard-postgresql://…``) → the guarded registry store."""
    from mlflow_cv.server.registry_store import build_store

    return build_store(store_uri, tracking_uri)


def build_tracking_store(store_uri: str, artifact_uri: str | None = None) -> Any:
    """``cv-guard-sqlite:///x.db`` as ``--backend-store-uri`` → the guarded tracking store."""
    from mlflow_cv.server.tracking_store import build_tracking_store as build

    return build(store_uri, artifact_uri)
