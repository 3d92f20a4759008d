"""The light door MLflow's plugin registry opens: it loads every ``mlflow.model_registry_store`` entry
point as soon as any client touches a registry, so this module imports nothing heavy; the guard store
(:mod:`mlflow_cv.registry.guard`, SQLAlchemy and all) is imported only when a ``cv-guard-…`` URI is used."""

from __future__ import annotations

from typing import Any

__all__ = ["build_registry_store"]


def build_registry_store(store_uri: str, tracking_uri: str | None = None) -> Any:
    """``cv-guard-sqlite:///x.db`` (or ``cv-guard-postgresql://…``) → the guarded registry store."""
    from mlflow_cv.registry.guard import build_store

    return build_store(store_uri, tracking_uri)
