"""mlflow-cv: reproducible, auditable computer-vision training on MLflow.

The public API is what ``__all__`` lists; everything else may change without notice. Importing the
package is light (no MLflow, torch or Ultralytics import) so the CLI and worker processes start fast:
the training and registry names are loaded on first use.
"""

from typing import Any as _Any

from mlflow_cv._version import __version__
from mlflow_cv.data.build import build_manifest
from mlflow_cv.data.checkout import VerifyReport, checkout, verify
from mlflow_cv.data.diff import SnapshotDiff, diff_manifests
from mlflow_cv.data.manifest import FileEntry, Manifest, SplitStats, read_manifest
from mlflow_cv.data.snapshots import Project, SnapshotResult, create_snapshot
from mlflow_cv.data.splits import SplitSpec, assign_splits
from mlflow_cv.errors import (
    BumpError,
    ConfigError,
    DatasetError,
    GateError,
    InputError,
    LabelError,
    ManifestError,
    MlflowCvError,
    PreflightError,
    RegistryError,
    ReproductionError,
    SemverError,
    ServingError,
    SnapshotError,
    SnapshotNotFoundError,
    StoreError,
    TrackingError,
    TrainingError,
    UnsafePathError,
    WeightsMismatchError,
)
from mlflow_cv.semver import Bump, Version

# name → module, imported on first access (they pull in MLflow, Hydra or torch)
_LAZY = {
    "JobConfig": "mlflow_cv.config",
    "Lineage": "mlflow_cv.tracking.lineage",
    "Policy": "mlflow_cv.registry.policy",
    "PreflightReport": "mlflow_cv.tracking.preflight",
    "Promotion": "mlflow_cv.registry.aliases",
    "Registration": "mlflow_cv.registry.register",
    "TrainResult": "mlflow_cv.training",
    "compose_job": "mlflow_cv.training",
    "diff_runs": "mlflow_cv.audit.run_diff",
    "reproduce": "mlflow_cv.audit.reproduce",
    "history": "mlflow_cv.registry.aliases",
    "preflight_job": "mlflow_cv.training",
    "promote": "mlflow_cv.registry.aliases",
    "register": "mlflow_cv.registry.register",
    "registry_client": "mlflow_cv.registry.client",
    "rollback": "mlflow_cv.registry.aliases",
    "train": "mlflow_cv.training",
}


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mlflow_cv' has no attribute {name!r}")


__all__ = [
    "Bump",
    "BumpError",
    "ConfigError",
    "DatasetError",
    "FileEntry",
    "GateError",
    "InputError",
    "JobConfig",
    "LabelError",
    "Lineage",
    "Manifest",
    "ManifestError",
    "MlflowCvError",
    "Policy",
    "PreflightError",
    "PreflightReport",
    "Project",
    "Promotion",
    "Registration",
    "RegistryError",
    "ReproductionError",
    "SemverError",
    "ServingError",
    "SnapshotDiff",
    "SnapshotError",
    "SnapshotNotFoundError",
    "SnapshotResult",
    "SplitSpec",
    "SplitStats",
    "StoreError",
    "TrackingError",
    "TrainResult",
    "TrainingError",
    "UnsafePathError",
    "VerifyReport",
    "Version",
    "WeightsMismatchError",
    "__version__",
    "assign_splits",
    "build_manifest",
    "checkout",
    "compose_job",
    "create_snapshot",
    "diff_manifests",
    "diff_runs",
    "history",
    "preflight_job",
    "promote",
    "read_manifest",
    "register",
    "registry_client",
    "reproduce",
    "rollback",
    "train",
    "verify",
]
