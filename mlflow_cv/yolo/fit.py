"""Training with Ultralytics: one :func:`fit` call, its metrics streamed as they come, the final ones returned.

Per-epoch metrics reach a sink (the run's writer) through Ultralytics callbacks, named our way; the final
validation of the best weights comes last, with per-class metrics and, given the snapshot's attributes,
per-slice metrics re-scored from that same validation's per-image statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_cv.errors import MlflowCvError, TrainingError
from mlflow_cv.tags import VAL_SLICE_HEAD
from mlflow_cv.yolo.scoring import ImageRecorder, metric_name, per_class_metrics, slice_metrics
from mlflow_cv.yolo.settings import strip_foreign_callbacks

if TYPE_CHECKING:
    from mlflow_cv.config import TrainConfig

__all__ = ["FitResult", "MetricsSink", "fit"]


@dataclass(frozen=True)
class FitResult:
    save_dir: Path  # Ultralytics' output folder (weights/best.pt, plots, results.csv)
    metrics: dict[str, float]  # final metrics of the best weights, per class included
    per_class: dict[str, float]  # the per-class ones alone (logged once, at the end)
    steps: int  # epochs run; the step of the final metrics


MetricsSink = Callable[[dict[str, float], int], None]  # (metrics named as we log them, step)


def fit(
    *,
    model: str,
    task: str,
    data: Path,
    train: TrainConfig,
    output_dir: Path,
    class_map: Mapping[int, str],
    on_metrics: MetricsSink,
    slice_of: Mapping[str, Mapping[str, str]] | None = None,
) -> FitResult:
    """Train ``model`` (a local architecture YAML or weights file) on ``data`` (a checkout's
    ``data.yaml``, or the checkout folder for classification). Per-epoch metrics reach ``on_metrics`` as
    they come, the final validation of the best weights last; per-class metrics are in the result, and
    with ``slice_of`` (attribute → {image path: value}) each slice's metrics of that final validation,
    ``val/slice/<attr>:<value>/…``, re-scored from the same predictions."""
    from ultralytics import YOLO  # type: ignore[attr-defined]

    yolo = YOLO(model, task=task)
    logger = _EpochLogger(on_metrics)
    for event in ("on_pretrain_routine_start", "on_train_epoch_end", "on_fit_epoch_end"):
        yolo.add_callback(event, getattr(logger, event))
    recorder = ImageRecorder()
    if slice_of and task != "classify":  # each image's statistics of the last validation (of the best weights)
        yolo.add_callback("on_val_start", recorder.on_val_start)
        yolo.add_callback("on_val_batch_start", recorder.on_val_batch_start)
    try:
        yolo.train(
            data=str(data),
            epochs=train.epochs,
            batch=train.batch,
            imgsz=train.imgsz,
            optimizer=train.optimizer,
            lr0=train.lr0,
            seed=train.seed,
            deterministic=train.deterministic,
            device=train.device,
            workers=train.workers,
            patience=train.patience,
            plots=train.plots,
            project=str(output_dir),
            name="ultralytics",
            exist_ok=True,
            **dict(train.extra),
        )
    except MlflowCvError:
        raise
    except Exception as exc:
        raise TrainingError(f"Ultralytics training failed: {type(exc).__name__}: {exc}") from exc
    trainer: Any = yolo.trainer
    per_class = per_class_metrics(trainer.validator, class_map)
    if slice_of and task != "classify":
        per_class |= slice_metrics(recorder.scores(class_map), slice_of, head=VAL_SLICE_HEAD)
    final = {metric_name(k): float(v) for k, v in trainer.metrics.items()} | per_class
    return FitResult(save_dir=Path(trainer.save_dir), metrics=final, per_class=per_class, steps=trainer.epoch + 1)


class _EpochLogger:
    """Ultralytics callbacks: per-epoch metrics, with the final validation of the best weights last."""

    def __init__(self, sink: MetricsSink) -> None:
        self.sink = sink
        self.trained_since_last_fit_end = False

    def on_pretrain_routine_start(self, trainer: Any) -> None:
        strip_foreign_callbacks(trainer)

    def on_train_epoch_end(self, trainer: Any) -> None:
        self.trained_since_last_fit_end = True

    def on_fit_epoch_end(self, trainer: Any) -> None:
        metrics = dict(trainer.metrics)
        if self.trained_since_last_fit_end:  # else: the final validation of best.pt after the last epoch
            metrics.update(trainer.lr)
            metrics.update(trainer.label_loss_items(trainer.tloss, prefix="train"))
        self.trained_since_last_fit_end = False
        self.sink({metric_name(k): float(v) for k, v in metrics.items()}, trainer.epoch + 1)
