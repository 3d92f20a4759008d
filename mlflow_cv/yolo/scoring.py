"""Ultralytics' validation, scored our way: metric names, per-class and per-slice metrics, image by image.

Ultralytics names its metrics ``metrics/mAP50(B)``; :func:`metric_name` turns them into ours
(``val/mAP50``, ``val/mask_mAP50``). A validation pass keeps each image's statistics
(:class:`ImageRecorder`, :class:`ImageScores`), so a slice of the images is scored again by Ultralytics'
own metrics code without running the network again; a classifier's pass keeps each image's ranked
classes (:class:`ClassifiedImage`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow_cv.errors import TrainingError
from mlflow_cv.tags import VAL_HEAD
from mlflow_cv.yolo.settings import quiet

__all__ = [
    "ClassifiedImage",
    "ImageRecorder",
    "ImageScores",
    "accuracy_metrics",
    "class_metrics",
    "classify_images",
    "metric_name",
    "overall_metrics",
    "per_class_metrics",
    "slice_metrics",
    "validate_images",
]

_UNSAFE = re.compile(r"[^\w./\- :]")  # MLflow's metric-name alphabet
_SUFFIX = {"(B)": "", "(M)": "mask_", "(P)": "pose_"}


def metric_name(key: str) -> str:
    """Ultralytics' ``metrics/mAP50(B)`` → ``val/mAP50``; ``metrics/mAP50(M)`` → ``val/mask_mAP50``."""
    if key.startswith("metrics/"):
        name = key[len("metrics/") :]
        prefix = ""
        for suffix, replacement in _SUFFIX.items():
            if name.endswith(suffix):
                name, prefix = name[: -len(suffix)], replacement
        key = f"{VAL_HEAD}{prefix}{name}"
    return _UNSAFE.sub("_", key)


def per_class_metrics(validator: Any, names: Mapping[int, str]) -> dict[str, float]:
    """Final per-class metrics of the best weights, e.g. ``val/AP50/circle``.

    Detection-style tasks report precision, recall, AP50 and AP50-95 per class (mask or pose metrics
    too); classification reports the per-class accuracy (recall) from the confusion matrix. A class
    absent from the validation split has no value.
    """
    metrics = validator.metrics
    out: dict[str, float] = {}
    if hasattr(metrics, "top1"):  # classification
        matrix = validator.confusion_matrix.matrix
        totals = matrix.sum(0)
        for cid, name in names.items():
            if cid < len(totals) and totals[cid] > 0:
                out[f"{VAL_HEAD}accuracy/{_UNSAFE.sub('_', name)}"] = float(matrix[cid, cid] / totals[cid])
        return out
    return class_metrics(metrics, names)


def class_metrics(metrics: Any, names: Mapping[int, str], *, head: str = VAL_HEAD) -> dict[str, float]:
    """Per-class precision, recall, AP50 and AP50-95 of a detection-style metrics object (box, and mask or
    pose parts), named ``<head><part><metric>/<class>``; a class without instances has no value."""
    out: dict[str, float] = {}
    parts = [("", metrics.box)] + [
        (p, getattr(metrics, a)) for p, a in (("mask_", "seg"), ("pose_", "pose")) if hasattr(metrics, a)
    ]
    for prefix, part in parts:
        for i, cid in enumerate(part.ap_class_index):
            p, r, ap50, ap = part.class_result(i)
            name = _UNSAFE.sub("_", names.get(int(cid), str(cid)))
            for metric, value in (("precision", p), ("recall", r), ("AP50", ap50), ("AP50-95", ap)):
                out[f"{head}{prefix}{metric}/{name}"] = float(value)
    return out


def overall_metrics(metrics: Any, *, head: str = VAL_HEAD) -> dict[str, float]:
    """The headline metrics of a metrics object (``metrics/mAP50(B)`` → ``<head>mAP50``), fitness aside."""
    return {
        head + metric_name(k).removeprefix(VAL_HEAD): float(v)
        for k, v in metrics.results_dict.items()
        if k.startswith("metrics/")
    }


@dataclass(frozen=True)
class ImageScores:
    """One validation pass, image by image: each image's statistics as Ultralytics' metrics take them, so
    any subset of the images (a slice) is scored again without running the network again."""

    files: tuple[str, ...]  # absolute image paths, in the order of ``records``
    records: tuple[dict[str, Any], ...]
    metrics: Any  # Ultralytics' metrics object of the whole pass
    names: dict[int, str]

    def subset(self, indices: list[int]) -> Any:
        """Ultralytics' metrics of just these images (the same code that scored the whole pass)."""
        part = type(self.metrics)(names=self.names)
        for i in indices:
            part.update_stats(self.records[i])
        part.process()
        return part


class ImageRecorder:
    """Ultralytics callbacks keeping each image's statistics of the latest validation (its metrics'
    ``update_stats``, wrapped once per metrics object)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.validator: Any = None
        self.wrapped: set[int] = set()

    def on_val_start(self, validator: Any) -> None:
        self.records, self.validator = [], validator

    def on_val_batch_start(self, validator: Any) -> None:
        metrics = validator.metrics
        if id(metrics) in self.wrapped:
            return
        self.wrapped.add(id(metrics))
        update = metrics.update_stats

        def recording(stat: dict[str, Any]) -> None:
            self.records.append(dict(stat))
            update(stat)

        metrics.update_stats = recording

    def scores(self, names: Mapping[int, str]) -> ImageScores:
        """The latest validation, image by image (its images in the order it scored them)."""
        if self.validator is None:
            raise TrainingError("Ultralytics ran no validation to score image by image")
        files = tuple(str(f) for f in self.validator.dataloader.dataset.im_files)
        scores = ImageScores(
            files=files, records=tuple(self.records), metrics=self.validator.metrics, names=dict(names)
        )
        if len(files) != len(self.records) or any(
            Path(f).name != r["im_name"] for f, r in zip(files, self.records, strict=False)
        ):
            raise TrainingError("Ultralytics scored the images in another order than it listed them; cannot slice")
        return scores


def validate_images(
    yolo: Any, data_yaml: Path, *, imgsz: int, conf: float, iou: float, max_det: int, batch: int, device: str
) -> ImageScores:
    """Ultralytics' own validation of ``yolo`` on the ``val`` list of ``data_yaml``, keeping every image's
    statistics (a callback wraps the metrics' ``update_stats``). Letterboxed square (``rect=False``), so
    an image's predictions do not depend on which images share its batch."""
    recorder = ImageRecorder()
    callbacks = {"on_val_start": recorder.on_val_start, "on_val_batch_start": recorder.on_val_batch_start}
    options = {"conf": conf, "iou": iou, "max_det": max_det, "rect": False, "save_json": False}
    _validate(yolo, data_yaml, callbacks, imgsz=imgsz, batch=batch, device=device, **options)
    return recorder.scores(dict(yolo.model.names))


def _validate(yolo: Any, data: Path, callbacks: Mapping[str, Callable[[Any], None]], **options: Any) -> None:
    """Ultralytics' own validation of ``yolo`` on the ``val`` split of ``data``, saying only warnings, with
    ``callbacks`` (event → function) added for this pass only."""
    for event, callback in callbacks.items():
        yolo.add_callback(event, callback)
    try:
        with quiet():
            yolo.val(data=str(data), split="val", plots=False, verbose=False, workers=0, **options)
    finally:
        for event, callback in callbacks.items():
            yolo.callbacks[event].remove(callback)


def slice_metrics(scores: ImageScores, slice_of: Mapping[str, Mapping[str, str]], *, head: str) -> dict[str, float]:
    """Overall and per-class metrics of every slice, re-scored from ``scores``' per-image statistics:
    ``slice_of`` maps an attribute to {image path: value}; a slice without images in ``scores`` is empty
    and has no metric."""
    out: dict[str, float] = {}
    at = [str(Path(f).resolve()) for f in scores.files]
    for attr, values in sorted(slice_of.items()):
        for value in sorted(set(values.values())):
            indices = [i for i, path in enumerate(at) if values.get(path) == value]
            if indices:
                part = scores.subset(indices)
                prefix = f"{head}{attr}:{value}/"
                out |= overall_metrics(part, head=prefix) | class_metrics(part, scores.names, head=prefix)
    return out


@dataclass(frozen=True)
class ClassifiedImage:
    """One image of a classification validation: its true class and the five classes ranked first."""

    file: str
    target: int
    top5: tuple[int, ...]


def classify_images(yolo: Any, root: Path, *, imgsz: int, batch: int, device: str) -> list[ClassifiedImage]:
    """Ultralytics' own validation of a classifier on ``root/val/<class folder>/…``, image by image (the
    validator's ranked predictions and targets, in its dataset's order)."""
    import torch

    seen: list[Any] = []
    _validate(yolo, root, {"on_val_end": seen.append}, imgsz=imgsz, batch=batch, device=device)
    if not seen:
        raise TrainingError("Ultralytics ran no classification validation to score image by image")
    validator = seen[-1]
    files = [str(sample[0]) for sample in validator.dataloader.dataset.samples]
    preds, targets = torch.cat(validator.pred), torch.cat(validator.targets)
    return [ClassifiedImage(f, int(t), tuple(int(c) for c in p)) for f, t, p in zip(files, targets, preds, strict=True)]


def accuracy_metrics(images: list[ClassifiedImage], names: Mapping[int, str], *, head: str) -> dict[str, float]:
    """Top-1 and top-5 accuracy, and the accuracy (recall) of each class with images, e.g.
    ``<head>accuracy/cat``; nothing for no images (an empty slice)."""
    if not images:
        return {}
    out = {
        f"{head}accuracy_top1": sum(i.top5[0] == i.target for i in images) / len(images),
        f"{head}accuracy_top5": sum(i.target in i.top5[:5] for i in images) / len(images),
    }
    for cid, name in sorted(names.items()):
        mine = [i for i in images if i.target == cid]
        if mine:
            out[f"{head}accuracy/{_UNSAFE.sub('_', name)}"] = sum(i.top5[0] == cid for i in mine) / len(mine)
    return out
