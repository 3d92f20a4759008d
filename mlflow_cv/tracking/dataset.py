"""A snapshot split as an MLflow dataset input: the source points to the frozen manifest.

MLflow keeps at most 36 characters of a dataset digest, so the digest is a prefix of the manifest hash
and the full hash is in the run's ``cv.data.manifest_sha256`` tag (DESIGN §3).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

# MLflow first: importing mlflow.data registers every `mlflow.dataset_source` entry point, ours
# (tracking/dataset_source.py) among them, which must not be half-imported at that moment.
from mlflow.data.dataset import Dataset
from mlflow.data.pyfunc_dataset_mixin import PyFuncConvertibleDatasetMixin, PyFuncInputsOutputs

from mlflow_cv.canonical import canonical_json
from mlflow_cv.data.manifest import Manifest, load_manifest
from mlflow_cv.tracking.dataset_source import SnapshotSource

if TYPE_CHECKING:
    from mlflow_cv.project import Project

__all__ = ["SnapshotDataset", "snapshot_dataset", "snapshot_datasets"]

DIGEST_LENGTH = 36  # MLflow's limit


class SnapshotDataset(Dataset, PyFuncConvertibleDatasetMixin):
    """One split of a snapshot; its profile counts the split's images, labels and instances per class.
    As ``data=`` of ``mlflow.models.evaluate(…, evaluators="mlflow_cv")`` it names what to score."""

    def __init__(self, manifest: Manifest, split: str, *, manifest_uri: str) -> None:
        self._manifest = manifest
        self._split = split
        source = SnapshotSource(snapshot_id=manifest.snapshot_id, manifest_sha256=manifest.sha256, uri=manifest_uri)
        super().__init__(source=source, name=f"{manifest.snapshot_id}/{split}")

    def _compute_digest(self) -> str:
        return self._manifest.sha256[:DIGEST_LENGTH]

    @property
    def split(self) -> str:
        return self._split

    @property
    def profile(self) -> dict[str, Any]:
        return {"split": self._split, **self._manifest.split_stats[self._split].to_dict()}

    @property
    def schema(self) -> None:
        return None

    def to_dict(self) -> dict[str, str]:
        out: dict[str, str] = super().to_dict()
        out["profile"] = canonical_json(self.profile)
        return out

    def to_pyfunc(self) -> PyFuncInputsOutputs:
        import pandas as pd

        items = self._manifest.splits[self._split]
        return PyFuncInputsOutputs(inputs=[pd.DataFrame({"image": [self._manifest.image_of[i] for i in items]})])

    def to_evaluation_dataset(self, path: Any = None, feature_names: Any = None) -> Any:
        """The split's image paths; the name (``DS-x.y.z/split``) and path (the manifest's URI) tell the
        ``mlflow_cv`` evaluator which frozen snapshot to score on."""
        from mlflow.data.evaluation_dataset import EvaluationDataset

        assert isinstance(self.source, SnapshotSource)
        return EvaluationDataset(self.to_pyfunc().inputs[0], name=self.name, path=self.source.uri, digest=self.digest)


def snapshot_dataset(snapshot_id: str, split: str, *, project: Project) -> SnapshotDataset:
    """Split ``split`` of the project's frozen snapshot, as an MLflow dataset (``data=`` of
    ``mlflow.models.evaluate(…, evaluators="mlflow_cv")``)."""
    from mlflow_cv.errors import DatasetError

    manifest = load_manifest(project, snapshot_id)
    if not manifest.splits.get(split):
        raise DatasetError(f"{snapshot_id} has no images in split {split!r}; it has {', '.join(manifest.splits)}")
    return SnapshotDataset(manifest, split, manifest_uri=project.manifest_path(snapshot_id).resolve().as_uri())


def snapshot_datasets(manifest: Manifest, manifest_path: Path) -> list[SnapshotDataset]:
    """One dataset per non-empty split, in the manifest's split order."""
    uri = manifest_path.resolve().as_uri()
    return [SnapshotDataset(manifest, split, manifest_uri=uri) for split, items in manifest.splits.items() if items]
