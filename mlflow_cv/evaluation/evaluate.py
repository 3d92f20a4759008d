"""``mlflow-cv evaluate REF --data DS-x.y.z --split S``: score any model on pinned data, logged as an
evaluation run (DESIGN §4a).

The snapshot is checked out verified, as training does; the model is loaded through its flavor (from
the registry when REF names a version: checked against the version's write-once tags) and scored with
its packaged imgsz and max_det. The evaluation run lives in the evaluated run's experiment, tagged
``cv.eval.*`` when it is created; the same metrics go to the model's LoggedModel with the snapshot split
as their dataset. An evaluation of the same weights, manifest, split and settings is reused, and says so.
A registered version gets its evaluation record, ``cv.eval.<manifest_sha256[:12]>.<split>`` = the run id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlflow_cv.data.manifest import load_manifest
from mlflow_cv.errors import DatasetError, RegistryError
from mlflow_cv.evaluation.charts import charts
from mlflow_cv.evaluation.scoring import EvalSettings, score
from mlflow_cv.tags import (
    EVAL_HEAD,
    EVAL_SLICE_HEAD,
    EVAL_SPLITS,
    LATENCY_P50,
    LATENCY_P95,
    TAG_EVAL_DEVICE,
    TAG_EVAL_MANIFEST,
    TAG_EVAL_MODEL,
    TAG_EVAL_OF,
    TAG_EVAL_SETTINGS,
    TAG_EVAL_SNAPSHOT,
    TAG_EVAL_SPLIT,
    TAG_EVAL_WEIGHTS,
    TAG_MODEL_ID,
    TAG_TASK,
    TAG_WEIGHTS_SHA256,
    eval_record_key,
)
from mlflow_cv.tracking.refs import resolve

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from rich.console import RenderableType

    from mlflow_cv.project import Project

__all__ = ["Evaluation", "eval_tags", "evaluate", "keys_of", "log_scores", "score_on"]

_LATENCY = (LATENCY_P50, LATENCY_P95)


@dataclass(frozen=True)
class Evaluation:
    run_id: str  # the evaluation run
    label: str  # what was evaluated, as the user named it
    snapshot: str
    split: str
    images: int
    device: str
    metrics: dict[str, float]
    slices: dict[str, int]  # "attr:value" → images (0: empty in this split)
    reused: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "evaluated": self.label,
            "snapshot": self.snapshot,
            "split": self.split,
            "images": self.images,
            "device": self.device,
            "reused": self.reused,
            "slices": self.slices,
            "metrics": self.metrics,
        }

    def __rich__(self) -> RenderableType:
        from rich.console import Group

        from mlflow_cv.render import add_row, lines, table

        how = "reused the evaluation run" if self.reused else "evaluation run"
        head = lines(
            f"{self.label} on {self.snapshot}/{self.split} ({self.images} images, {self.device}): {how} {self.run_id}"
        )
        headline = [k.removeprefix(EVAL_HEAD) for k in self.metrics if k.count("/") == 1 and k not in _LATENCY]
        grid = table("", "images", *headline, right=("images", *headline))
        add_row(grid, "all", self.images, *(f"{self.metrics[EVAL_HEAD + k]:.4f}" for k in headline))
        for piece, n in self.slices.items():
            cells = [self.metrics.get(f"{EVAL_SLICE_HEAD}{piece}/{k}") for k in headline]
            add_row(grid, piece, n, *(("empty" if n == 0 else f"{v:.4f}" if v is not None else "-") for v in cells))
        latency = [f"{k.removeprefix(EVAL_HEAD)} {self.metrics[k]:.1f}" for k in _LATENCY if k in self.metrics]
        return Group(head, grid, lines("  ".join(latency)) if latency else lines())


def device_label(device: str) -> str:
    """``cv.eval.device``: the device and what it is."""
    import platform

    if device.startswith("cuda"):
        import torch

        return f"{device} ({torch.cuda.get_device_name(int(device.partition(':')[2] or 0))})"
    return f"cpu ({platform.processor() or platform.machine()})"


def evaluate(
    client: MlflowClient,
    ref: str,
    *,
    project: Project,
    data: str,
    split: str = "val",
    slices: tuple[str, ...] | None = None,
    model: str | None = None,
    device: str = "cpu",
) -> Evaluation:
    """Evaluate the model REF names on ``split`` of snapshot ``data`` (``slices``: the attributes scored
    slice by slice; default every attribute of the snapshot)."""
    from mlflow_cv.serving.flavor import load_model
    from mlflow_cv.tracking.store import using_tracking_uri

    if split not in EVAL_SPLITS:
        raise DatasetError(f"--split {split!r}: expected one of {', '.join(EVAL_SPLITS)}")
    target = resolve(client, ref, model=model)
    run = client.get_run(target.run_id)
    tags = dict(run.data.tags)
    manifest = load_manifest(project, data)
    if tags.get(TAG_TASK) and tags[TAG_TASK] != manifest.task:
        raise DatasetError(f"{target.label} is a {tags[TAG_TASK]} model; {data} is a {manifest.task} dataset")
    model_id = tags.get(TAG_MODEL_ID)
    if not model_id:
        raise RegistryError(f"{target.label}: run {target.run_id} logged no servable model ({TAG_MODEL_ID})")
    uri = f"models:/{target.model}/{target.version}" if target.model else f"models:/{model_id}"
    attributes = tuple(manifest.attributes) if slices is None else slices
    with using_tracking_uri(client.tracking_uri):
        loaded = load_model(uri)
    device_name = device_label(device)
    keys = keys_of(tags.get(TAG_WEIGHTS_SHA256, ""), manifest, split, loaded)
    if found := _cached(client, run.info.experiment_id, keys, attributes):
        result = Evaluation(
            run_id=found.info.run_id,
            label=target.label,
            snapshot=data,
            split=split,
            images=int(found.data.params.get("images", 0)),
            device=found.data.tags[TAG_EVAL_DEVICE],
            metrics=dict(sorted(found.data.metrics.items())),
            slices=_slice_sizes(found.data.params),
            reused=True,
        )
    else:
        scores = score_on(project, manifest, loaded, split=split, attributes=attributes, device=device)
        tags = eval_tags(
            run.info.run_id,
            keys,
            manifest,
            device_name,
            f"models:/{target.model}/{target.version}" if target.model else None,
        )
        created = client.create_run(
            run.info.experiment_id, tags=tags, run_name=f"eval {target.label} on {manifest.snapshot_id}/{split}"
        )
        run_id = str(created.info.run_id)
        try:
            log_scores(client, run_id, scores, manifest, split, model_id)
            client.set_terminated(run_id, "FINISHED")
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
        result = Evaluation(
            run_id=run_id,
            label=target.label,
            snapshot=data,
            split=split,
            images=scores.images,
            device=device_name,
            metrics=scores.metrics,
            slices=scores.slices,
            reused=False,
        )
    if target.model:
        record = eval_record_key(manifest.sha256, split)
        client.set_model_version_tag(target.model, target.version, record, result.run_id)
    return result


def _cached(client: Any, experiment_id: str, keys: dict[str, str], attributes: tuple[str, ...]) -> Any | None:
    """A finished evaluation run of the same weights, manifest, split and settings that scored every
    asked-for attribute."""
    query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in keys.items())
    for found in client.search_runs([experiment_id], query, max_results=20, order_by=["attributes.start_time DESC"]):
        scored = set(found.data.params.get("slices_of", "").split(",")) - {""}
        if found.info.status == "FINISHED" and set(attributes) <= scored:
            return found
    return None


def _slice_sizes(params: dict[str, str]) -> dict[str, int]:
    return {k.removeprefix("slice_images/"): int(v) for k, v in sorted(params.items()) if k.startswith("slice_images/")}


def score_on(
    project: Project, manifest: Any, loaded: Any, *, split: str, attributes: tuple[str, ...], device: str
) -> Any:
    """The one implementation behind both doors: check the snapshot out (verified) and score ``loaded``
    (a :class:`~mlflow_cv.serving.model.YoloModel`) on ``split``."""
    from mlflow_cv.data.checkout import checkout
    from mlflow_cv.yolo.settings import configure_ultralytics

    if loaded.names != dict(manifest.class_map):
        raise DatasetError(
            f"the model predicts {loaded.names}; {manifest.snapshot_id} labels "
            f"{dict(manifest.class_map)}: evaluate on a snapshot with the model's class map"
        )
    settings = EvalSettings.of(loaded)
    dest = project.checkout_path(manifest)
    checkout(project, manifest.snapshot_id, dest)
    configure_ultralytics(project.state_dir / "ultralytics")
    return score(loaded.yolo, manifest, dest, split=split, attributes=attributes, settings=settings, device=device)


def eval_tags(of_run: str, keys: dict[str, str], manifest: Any, device_name: str, model: str | None) -> dict[str, str]:
    """The ``cv.eval.*`` tags of an evaluation run (DESIGN §4a), written once while it runs."""
    tags = {**keys, TAG_EVAL_OF: of_run, TAG_EVAL_SNAPSHOT: manifest.snapshot_id, TAG_EVAL_DEVICE: device_name}
    return {**tags, TAG_EVAL_MODEL: model} if model else tags


def keys_of(weights_sha256: str, manifest: Any, split: str, loaded: Any) -> dict[str, str]:
    """What makes two evaluations the same: the weights, the manifest, the split, the settings."""
    settings = EvalSettings.of(loaded)
    return {
        TAG_EVAL_WEIGHTS: weights_sha256,
        TAG_EVAL_MANIFEST: manifest.sha256,
        TAG_EVAL_SPLIT: split,
        TAG_EVAL_SETTINGS: settings.sha256,
    }


def log_scores(client: Any, run_id: str, scores: Any, manifest: Any, split: str, model_id: str | None) -> None:
    """The metrics (also on the LoggedModel, with the snapshot split as their dataset), the slice sizes
    and the charts (per class, per slice)."""
    import time

    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    dataset = f"{manifest.snapshot_id}/{split}"
    metrics = [
        Metric(
            k, v, now, 0, model_id=model_id, dataset_name=dataset, dataset_digest=manifest.sha256[:36], run_id=run_id
        )
        for k, v in scores.metrics.items()
    ]
    scored = ",".join(sorted({piece.split(":")[0] for piece in scores.slices}))
    params = [
        Param("images", str(scores.images)),
        Param("slices_of", scored),
        *(Param(f"slice_images/{k}", str(v)) for k, v in scores.slices.items()),
    ]
    for start in range(0, len(metrics), 900):
        client.log_batch(run_id, metrics=metrics[start : start + 900], params=params if start == 0 else [])
    for path, figure in charts(scores.metrics, title=dataset).items():
        client.log_figure(run_id, figure, path)
