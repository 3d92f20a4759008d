"""mlflow-cv: reproducible, auditable computer-vision training on MLflow.

The public API is what ``__all__`` lists; everything else may change without notice. Importing the
package is light (no MLflow, torch or Ultralytics import) so the CLI and worker processes start fast:
every name but the errors is loaded on first use.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from mlflow_cv._version import __version__
from mlflow_cv.errors import (
    AnnotationError,
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

# name → module, imported on first access: the training and registry names pull in MLflow, Hydra or
# torch; the data names are light, but a command that needs few of them (`mlflow-cv data verify`)
# should not pay for all of them.
_LAZY = {
    "Bump": "mlflow_cv.semver",
    "FileEntry": "mlflow_cv.data.manifest",
    "History": "mlflow_cv.registry.history",
    "ImportResult": "mlflow_cv.data.importers",
    "JobConfig": "mlflow_cv.config",
    "Lineage": "mlflow_cv.tracking.lineage",
    "Evaluation": "mlflow_cv.evaluation.evaluate",
    "Manifest": "mlflow_cv.data.manifest",
    "Policy": "mlflow_cv.registry.policy",
    "PreflightReport": "mlflow_cv.tracking.preflight",
    "Project": "mlflow_cv.project",
    "Promotion": "mlflow_cv.registry.aliases",
    "Registration": "mlflow_cv.registry.register",
    "SnapshotDiff": "mlflow_cv.data.diff",
    "SnapshotList": "mlflow_cv.data.snapshots",
    "SnapshotResult": "mlflow_cv.data.snapshots",
    "SplitSpec": "mlflow_cv.data.splits",
    "SplitStats": "mlflow_cv.data.manifest",
    "TrainResult": "mlflow_cv.training",
    "VerifyReport": "mlflow_cv.data.checkout",
    "Version": "mlflow_cv.semver",
    "assign_splits": "mlflow_cv.data.splits",
    "build_manifest": "mlflow_cv.data.build",
    "checkout": "mlflow_cv.data.checkout",
    "compose_job": "mlflow_cv.training",
    "create_snapshot": "mlflow_cv.data.snapshots",
    "diff_manifests": "mlflow_cv.data.diff",
    "diff_runs": "mlflow_cv.audit.diff",
    "evaluate": "mlflow_cv.evaluation.evaluate",
    "snapshot_dataset": "mlflow_cv.tracking.dataset",
    "diff_snapshots": "mlflow_cv.data.diff",
    "history": "mlflow_cv.registry.aliases",
    "import_dataset": "mlflow_cv.data.importers",
    "list_snapshots": "mlflow_cv.data.snapshots",
    "preflight_job": "mlflow_cv.training",
    "promote": "mlflow_cv.registry.aliases",
    "read_manifest": "mlflow_cv.data.manifest",
    "register": "mlflow_cv.registry.register",
    "registry_client": "mlflow_cv.registry.client",
    "reproduce": "mlflow_cv.audit.reproduce",
    "rollback": "mlflow_cv.registry.aliases",
    "train": "mlflow_cv.training",
    "triage": "mlflow_cv.audit.triage",
    "Triage": "mlflow_cv.audit.triage",
    "Comparison": "mlflow_cv.registry.comparison",
    "verify": "mlflow_cv.data.checkout",
}

if _TYPE_CHECKING:  # what type checkers see: the same names, typed
    from mlflow_cv.audit.diff import diff_runs
    from mlflow_cv.audit.reproduce import reproduce
    from mlflow_cv.audit.triage import Triage, triage
    from mlflow_cv.config import JobConfig
    from mlflow_cv.data.build import build_manifest
    from mlflow_cv.data.checkout import VerifyReport, checkout, verify
    from mlflow_cv.data.diff import SnapshotDiff, diff_manifests, diff_snapshots
    from mlflow_cv.data.importers import ImportResult, import_dataset
    from mlflow_cv.data.manifest import FileEntry, Manifest, SplitStats, read_manifest
    from mlflow_cv.data.snapshots import SnapshotList, SnapshotResult, create_snapshot, list_snapshots
    from mlflow_cv.data.splits import SplitSpec, assign_splits
    from mlflow_cv.evaluation.evaluate import Evaluation, evaluate
    from mlflow_cv.project import Project
    from mlflow_cv.registry.aliases import Promotion, history, promote, rollback
    from mlflow_cv.registry.client import registry_client
    from mlflow_cv.registry.comparison import Comparison
    from mlflow_cv.registry.history import History
    from mlflow_cv.registry.policy import Policy
    from mlflow_cv.registry.register import Registration, register
    from mlflow_cv.semver import Bump, Version
    from mlflow_cv.tracking.dataset import snapshot_dataset
    from mlflow_cv.tracking.lineage import Lineage
    from mlflow_cv.tracking.preflight import PreflightReport
    from mlflow_cv.training import TrainResult, compose_job, preflight_job, train


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mlflow_cv' has no attribute {name!r}")


__all__ = [
    "AnnotationError",
    "Bump",
    "BumpError",
    "Comparison",
    "ConfigError",
    "DatasetError",
    "Evaluation",
    "FileEntry",
    "GateError",
    "History",
    "ImportResult",
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
    "SnapshotList",
    "SnapshotNotFoundError",
    "SnapshotResult",
    "SplitSpec",
    "SplitStats",
    "StoreError",
    "TrackingError",
    "TrainResult",
    "TrainingError",
    "Triage",
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
    "diff_snapshots",
    "evaluate",
    "history",
    "import_dataset",
    "list_snapshots",
    "preflight_job",
    "promote",
    "read_manifest",
    "register",
    "registry_client",
    "reproduce",
    "rollback",
    "snapshot_dataset",
    "train",
    "triage",
    "verify",
]
