"""The MLflow-native door to the same evaluation: ``mlflow.models.evaluate(model_uri, data=<snapshot
dataset>, model_type="detect", evaluators="mlflow_cv")`` (the ``mlflow.model_evaluator`` entry point;
MLflow asks for a ``model_type``, and any name serves: the task's is the clearest).

The data is a snapshot split as an MLflow dataset (:func:`mlflow_cv.tracking.dataset.snapshot_dataset`),
which carries the frozen manifest's URI; the evaluator finds the project from it, checks the snapshot out
verified, and scores the model through :func:`mlflow_cv.evaluation.evaluate.score_on`, exactly as
``mlflow-cv evaluate`` does. The run is the one ``mlflow.models.evaluate`` started: it gets the same
``cv.eval.*`` tags and metric names, and the metrics go to the model's LoggedModel too.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from mlflow.models.evaluation.base import EvaluationResult, ModelEvaluator

from mlflow_cv.errors import DatasetError

__all__ = ["SnapshotEvaluator"]


class SnapshotEvaluator(ModelEvaluator):
    """Scores an ``mlflow_cv_yolo`` model on a snapshot split: overall, per class, per slice, latency."""

    @classmethod
    def can_evaluate(cls, *, model_type: Any, evaluator_config: Any, **kwargs: Any) -> bool:
        return True  # named explicitly (evaluators="mlflow_cv"); the dataset is checked in evaluate

    def evaluate(
        self, *, model_type: Any, dataset: Any, run_id: str, evaluator_config: Any, model: Any = None, **kwargs: Any
    ) -> EvaluationResult:
        from mlflow.tracking import MlflowClient

        from mlflow_cv.data.manifest import read_manifest
        from mlflow_cv.evaluation.evaluate import device_label, eval_tags, keys_of, log_scores, score_on
        from mlflow_cv.project import Project
        from mlflow_cv.tags import EVAL_SPLITS, SPLIT_NAMES, TAG_WEIGHTS_SHA256

        config = dict(evaluator_config or {})
        name, path = str(getattr(dataset, "name", "") or ""), str(getattr(dataset, "path", "") or "")
        split = name.partition("/")[2]
        if not path.startswith("file:") or split not in set(SPLIT_NAMES) & set(EVAL_SPLITS):  # val, test
            raise DatasetError(
                "evaluators='mlflow_cv' scores a snapshot split: pass "
                "data=mlflow_cv.snapshot_dataset('DS-x.y.z', 'val', project=project) (got "
                f"{type(dataset).__name__} {name!r})"
            )
        manifest_path = Path(urllib.parse.urlparse(path).path)
        manifest = read_manifest(manifest_path)
        project = Project.at(manifest_path.parents[2])  # <project>/data/manifests/<id>.json
        if model is None:
            raise DatasetError("evaluators='mlflow_cv' scores a model: pass its URI as the model")
        loaded = model.get_raw_model()
        client = MlflowClient()
        training_run = getattr(getattr(model, "metadata", None), "run_id", None)
        weights = client.get_run(training_run).data.tags.get(TAG_WEIGHTS_SHA256, "") if training_run else ""
        device = str(config.get("device", "cpu"))
        slices = tuple(config.get("slices", manifest.attributes))
        scores = score_on(project, manifest, loaded, split=split, attributes=slices, device=device)
        tags = eval_tags(
            training_run or "", keys_of(weights, manifest, split, loaded), manifest, device_label(device), None
        )
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
        log_scores(client, run_id, scores, manifest, split, kwargs.get("model_id"))
        return EvaluationResult(metrics=scores.metrics, artifacts={}, run_id=run_id)
