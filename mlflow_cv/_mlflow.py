"""Every private MLflow name mlflow-cv uses, in one place, each with the MLflow version it was checked
against. MLflow may change these without notice: when it does, this module is the one to mend."""

from __future__ import annotations

__all__: list[str] = []
