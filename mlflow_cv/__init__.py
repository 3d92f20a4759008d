"""mlflow-cv: reproducible, auditable computer-vision training on MLflow.

The public API is what ``__all__`` lists; everything else may change without notice. Importing the
package is light (no MLflow, torch or Ultralytics import) so the CLI and worker processes start fast.
"""

from mlflow_cv._version import __version__
from mlflow_cv.data.build import build_manifest
from mlflow_cv.data.checkout import VerifyReport, checkout, verify
from mlflow_cv.data.diff import SnapshotDiff, diff_manifests
from mlflow_cv.data.manifest import FileEntry, Manifest, SplitStats, read_manifest
from mlflow_cv.data.snapshots import Project, SnapshotResult, create_snapshot
from mlflow_cv.data.splits import SplitSpec, assign_splits
from mlflow_cv.errors import (
    BumpError,
    DatasetError,
    LabelError,
    ManifestError,
    MlflowCvError,
    SemverError,
    SnapshotError,
    SnapshotNotFoundError,
    StoreError,
    UnsafePathError,
)
from mlflow_cv.semver import Bump, Version

__all__ = [
    "Bump",
    "BumpError",
    "DatasetError",
    "FileEntry",
    "LabelError",
    "Manifest",
    "ManifestError",
    "MlflowCvError",
    "Project",
    "SemverError",
    "SnapshotDiff",
    "SnapshotError",
    "SnapshotNotFoundError",
    "SnapshotResult",
    "SplitSpec",
    "SplitStats",
    "StoreError",
    "UnsafePathError",
    "VerifyReport",
    "Version",
    "__version__",
    "assign_splits",
    "build_manifest",
    "checkout",
    "create_snapshot",
    "diff_manifests",
    "read_manifest",
    "verify",
]
