"""mlflow-cv: reproducible, auditable computer-vision training on MLflow.

The public API is what ``__all__`` lists; everything else may change without notice. Importing the
package is light (no MLflow, torch or Ultralytics import) so the CLI and worker processes start fast:
every name is loaded on first use, from the module :data:`_PUBLIC` names for it (only the errors' module,
which imports nothing, is loaded up front: every error in ``errors.__all__`` is public).

:data:`_PUBLIC` is the one list: ``__all__`` and the lazy table :data:`_LAZY` are built from it, and the
``if TYPE_CHECKING:`` imports below repeat it for type checkers (each ``X as X``: an explicit re-export),
which ``tests/test_public_api.py`` keeps equal to it, name for name and module for module. The CLI
(:mod:`mlflow_cv.cli`) uses these names only.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from mlflow_cv import errors as _errors
from mlflow_cv._version import __version__ as __version__

# module → the public names it defines, each imported on first access: the training and registry names
# pull in MLflow, Hydra or torch; the data names are light, but a command that needs few of them
# (`mlflow-cv data verify`) should not pay for all of them.
_PUBLIC: dict[str, tuple[str, ...]] = {
    "mlflow_cv.audit.diff": ("diff_runs",),
    "mlflow_cv.audit.reproduce": ("reproduce",),
    "mlflow_cv.audit.triage": ("Triage", "triage"),
    "mlflow_cv.config": ("JobConfig",),
    "mlflow_cv.data.build": ("build_manifest",),
    "mlflow_cv.data.checkout": ("VerifyReport", "checkout", "verify"),
    "mlflow_cv.data.diff": ("SnapshotDiff", "diff_manifests", "diff_snapshots"),
    "mlflow_cv.data.importers": ("IMPORT_FORMATS", "ImportResult", "import_dataset"),
    "mlflow_cv.data.manifest": ("FileEntry", "Manifest", "SplitStats", "load_manifest", "read_manifest"),
    "mlflow_cv.data.remote": ("configured_remote", "pull", "push", "set_remote"),
    "mlflow_cv.data.snapshots": ("SnapshotList", "SnapshotResult", "create_snapshot", "list_snapshots"),
    "mlflow_cv.data.splits": ("SplitSpec", "assign_splits"),
    "mlflow_cv.errors": tuple(_errors.__all__),  # every error, each class saying when it is raised
    "mlflow_cv.evaluation.evaluate": ("Evaluation", "evaluate"),
    "mlflow_cv.project": ("Project",),
    "mlflow_cv.registry.aliases": ("Promotion", "history", "promote", "rollback"),
    "mlflow_cv.registry.client": ("policy", "registry_client", "set_policy"),
    "mlflow_cv.registry.comparison": ("Comparison",),
    "mlflow_cv.registry.history": ("History",),
    "mlflow_cv.registry.policy": ("Policy",),
    "mlflow_cv.registry.register": ("Registration", "register"),
    "mlflow_cv.render": ("progress_on_stderr", "show"),
    "mlflow_cv.scaffold": ("init_project",),
    "mlflow_cv.semver": ("Bump", "Version"),
    "mlflow_cv.tags": ("EVAL_SPLITS",),
    "mlflow_cv.tracking.compare": ("compare_runs",),
    "mlflow_cv.tracking.dataset": ("snapshot_dataset",),
    "mlflow_cv.tracking.doctor": ("end_orphaned_runs",),
    "mlflow_cv.tracking.lineage": ("Lineage",),
    "mlflow_cv.tracking.preflight": ("PreflightReport",),
    "mlflow_cv.tracking.store": ("open_ui",),
    "mlflow_cv.training": ("TrainResult", "compose_job", "preflight_job", "train"),
}
_LAZY = {name: module for module, names in _PUBLIC.items() for name in names}

if _TYPE_CHECKING:  # what type checkers see: the same names from the same modules, typed
    from mlflow_cv.audit.diff import diff_runs as diff_runs
    from mlflow_cv.audit.reproduce import reproduce as reproduce
    from mlflow_cv.audit.triage import Triage as Triage
    from mlflow_cv.audit.triage import triage as triage
    from mlflow_cv.config import JobConfig as JobConfig
    from mlflow_cv.data.build import build_manifest as build_manifest
    from mlflow_cv.data.checkout import VerifyReport as VerifyReport
    from mlflow_cv.data.checkout import checkout as checkout
    from mlflow_cv.data.checkout import verify as verify
    from mlflow_cv.data.diff import SnapshotDiff as SnapshotDiff
    from mlflow_cv.data.diff import diff_manifests as diff_manifests
    from mlflow_cv.data.diff import diff_snapshots as diff_snapshots
    from mlflow_cv.data.importers import IMPORT_FORMATS as IMPORT_FORMATS
    from mlflow_cv.data.importers import ImportResult as ImportResult
    from mlflow_cv.data.importers import import_dataset as import_dataset
    from mlflow_cv.data.manifest import FileEntry as FileEntry
    from mlflow_cv.data.manifest import Manifest as Manifest
    from mlflow_cv.data.manifest import SplitStats as SplitStats
    from mlflow_cv.data.manifest import load_manifest as load_manifest
    from mlflow_cv.data.manifest import read_manifest as read_manifest
    from mlflow_cv.data.remote import configured_remote as configured_remote
    from mlflow_cv.data.remote import pull as pull
    from mlflow_cv.data.remote import push as push
    from mlflow_cv.data.remote import set_remote as set_remote
    from mlflow_cv.data.snapshots import SnapshotList as SnapshotList
    from mlflow_cv.data.snapshots import SnapshotResult as SnapshotResult
    from mlflow_cv.data.snapshots import create_snapshot as create_snapshot
    from mlflow_cv.data.snapshots import list_snapshots as list_snapshots
    from mlflow_cv.data.splits import SplitSpec as SplitSpec
    from mlflow_cv.data.splits import assign_splits as assign_splits
    from mlflow_cv.errors import AnnotationError as AnnotationError
    from mlflow_cv.errors import BumpError as BumpError
    from mlflow_cv.errors import ConfigError as ConfigError
    from mlflow_cv.errors import DatasetError as DatasetError
    from mlflow_cv.errors import GateError as GateError
    from mlflow_cv.errors import InputError as InputError
    from mlflow_cv.errors import LabelError as LabelError
    from mlflow_cv.errors import ManifestError as ManifestError
    from mlflow_cv.errors import MlflowCvError as MlflowCvError
    from mlflow_cv.errors import PreflightError as PreflightError
    from mlflow_cv.errors import RegistryError as RegistryError
    from mlflow_cv.errors import ReproductionError as ReproductionError
    from mlflow_cv.errors import SemverError as SemverError
    from mlflow_cv.errors import ServingError as ServingError
    from mlflow_cv.errors import SnapshotError as SnapshotError
    from mlflow_cv.errors import SnapshotNotFoundError as SnapshotNotFoundError
    from mlflow_cv.errors import StoreError as StoreError
    from mlflow_cv.errors import TrackingError as TrackingError
    from mlflow_cv.errors import TrainingError as TrainingError
    from mlflow_cv.errors import UnsafePathError as UnsafePathError
    from mlflow_cv.errors import WeightsMismatchError as WeightsMismatchError
    from mlflow_cv.evaluation.evaluate import Evaluation as Evaluation
    from mlflow_cv.evaluation.evaluate import evaluate as evaluate
    from mlflow_cv.project import Project as Project
    from mlflow_cv.registry.aliases import Promotion as Promotion
    from mlflow_cv.registry.aliases import history as history
    from mlflow_cv.registry.aliases import promote as promote
    from mlflow_cv.registry.aliases import rollback as rollback
    from mlflow_cv.registry.client import policy as policy
    from mlflow_cv.registry.client import registry_client as registry_client
    from mlflow_cv.registry.client import set_policy as set_policy
    from mlflow_cv.registry.comparison import Comparison as Comparison
    from mlflow_cv.registry.history import History as History
    from mlflow_cv.registry.policy import Policy as Policy
    from mlflow_cv.registry.register import Registration as Registration
    from mlflow_cv.registry.register import register as register
    from mlflow_cv.render import progress_on_stderr as progress_on_stderr
    from mlflow_cv.render import show as show
    from mlflow_cv.scaffold import init_project as init_project
    from mlflow_cv.semver import Bump as Bump
    from mlflow_cv.semver import Version as Version
    from mlflow_cv.tags import EVAL_SPLITS as EVAL_SPLITS
    from mlflow_cv.tracking.compare import compare_runs as compare_runs
    from mlflow_cv.tracking.dataset import snapshot_dataset as snapshot_dataset
    from mlflow_cv.tracking.doctor import end_orphaned_runs as end_orphaned_runs
    from mlflow_cv.tracking.lineage import Lineage as Lineage
    from mlflow_cv.tracking.preflight import PreflightReport as PreflightReport
    from mlflow_cv.tracking.store import open_ui as open_ui
    from mlflow_cv.training import TrainResult as TrainResult
    from mlflow_cv.training import compose_job as compose_job
    from mlflow_cv.training import preflight_job as preflight_job
    from mlflow_cv.training import train as train


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mlflow_cv' has no attribute {name!r}")


__all__ = sorted([*_LAZY, "__version__"])
