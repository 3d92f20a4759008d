"""Score a loaded model on a verified checkout: overall, per class, per slice and per slice and class,
from one pass over the images (a slice is scored again from the same predictions), plus latency.

Metric names (DESIGN §4a): ``eval/mAP50``, ``eval/AP50/<class>``, ``eval/slice/<attr>:<value>/<metric>``,
``eval/slice/<attr>:<value>/<metric>/<class>``, ``eval/latency_ms_p50``, ``eval/latency_ms_p95``. A slice
with no image in the evaluated split is *empty*: it has no metrics at all, never a 0.0.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlflow_cv.canonical import canonical_sha256
from mlflow_cv.data.attributes import Slice
from mlflow_cv.data.manifest import Manifest
from mlflow_cv.errors import DatasetError
from mlflow_cv.tags import EVAL_HEAD, EVAL_SLICE_HEAD, LATENCY_P50, LATENCY_P95

__all__ = ["EvalSettings", "Scores", "score"]

LATENCY_IMAGES = 12  # images timed one by one (batch 1) for the latency figures


@dataclass(frozen=True)
class EvalSettings:
    """How a model is scored: its packaged imgsz and max_det; conf and iou as Ultralytics validates
    (mAP integrates the whole precision-recall curve, so conf is low)."""

    imgsz: int
    max_det: int = 300
    conf: float = 0.001
    iou: float = 0.7
    batch: int = 16
    backend: str = "ultralytics-torch"

    @property
    def sha256(self) -> str:
        """What ``cv.eval.settings_sha256`` records (the batch size does not change a square letterbox)."""
        return canonical_sha256(
            {"imgsz": self.imgsz, "max_det": self.max_det, "conf": self.conf, "iou": self.iou, "backend": self.backend}
        )

    @classmethod
    def of(cls, loaded: Any) -> EvalSettings:
        """The settings a loaded model is scored with: its packaged imgsz and max_det."""
        return cls(imgsz=loaded.settings.imgsz, max_det=loaded.settings.max_det)


@dataclass(frozen=True)
class Scores:
    metrics: dict[str, float]
    images: int
    slices: dict[str, int]  # "attr:value" → images of the split in that slice (0: empty)


def split_items(manifest: Manifest, split: str) -> list[str]:
    """The item ids of ``split`` (``all``: every split)."""
    if split == "all":
        return sorted(manifest.split_of)
    if split not in manifest.splits:
        raise DatasetError(
            f"{manifest.snapshot_id} has no split {split!r}; it has {', '.join(manifest.splits)}, or all"
        )
    if not manifest.splits[split]:
        raise DatasetError(f"split {split!r} of {manifest.snapshot_id} has no images")
    return list(manifest.splits[split])


def score(
    yolo: Any,
    manifest: Manifest,
    checkout: Path,
    *,
    split: str,
    attributes: Sequence[str],
    settings: EvalSettings,
    device: str = "cpu",
) -> Scores:
    """Every metric of ``yolo`` on ``split`` of the snapshot checked out at ``checkout``."""
    from mlflow_cv.yolo.scoring import class_metrics, overall_metrics, slice_metrics, validate_images

    items = split_items(manifest, split)
    unknown = sorted(set(attributes) - set(manifest.attributes))
    if unknown:
        known = ", ".join(manifest.attributes) or "none"
        raise DatasetError(f"{manifest.snapshot_id} has no attribute {', '.join(unknown)} (it has: {known})")
    if manifest.task == "classify":
        return _score_classifier(
            yolo, manifest, checkout, items, attributes=attributes, settings=settings, device=device
        )
    path_of = {item: (checkout / manifest.image_of[item]).resolve() for item in items}
    with tempfile.TemporaryDirectory(prefix="cv-eval-") as tmp:
        listing = Path(tmp) / "images.txt"
        listing.write_text("".join(f"{p}\n" for p in path_of.values()))
        doc: dict[str, Any] = {
            "path": str(checkout.resolve()),
            "train": str(listing),
            "val": str(listing),
            "names": dict(manifest.class_map),
        }
        if manifest.kpt_shape:
            doc["kpt_shape"] = list(manifest.kpt_shape)
        data_yaml = Path(tmp) / "data.yaml"
        data_yaml.write_text(yaml.safe_dump(doc))
        scores = validate_images(
            yolo,
            data_yaml,
            imgsz=settings.imgsz,
            conf=settings.conf,
            iou=settings.iou,
            max_det=settings.max_det,
            batch=settings.batch,
            device=device,
        )
    names = dict(manifest.class_map)
    metrics = {
        **overall_metrics(scores.metrics, head=EVAL_HEAD),
        **class_metrics(scores.metrics, names, head=EVAL_HEAD),
    }
    slice_of = {
        attr: {str(path_of[i]): value for i, value in manifest.attributes[attr].items() if i in path_of}
        for attr in attributes
    }
    metrics |= slice_metrics(scores, slice_of, head=EVAL_SLICE_HEAD)  # empty slices get no metric, never a 0.0
    sizes = {
        str(Slice(attr, value)): sum(v == value for v in slice_of[attr].values())
        for attr in attributes
        for value in sorted(set(manifest.attributes[attr].values()))
    }
    metrics |= _latency(yolo, list(path_of.values())[:LATENCY_IMAGES], settings, device)
    return Scores(metrics=dict(sorted(metrics.items())), images=len(items), slices=sizes)


def _score_classifier(
    yolo: Any,
    manifest: Manifest,
    checkout: Path,
    items: list[str],
    *,
    attributes: Sequence[str],
    settings: EvalSettings,
    device: str,
) -> Scores:
    """Classification: Ultralytics' validation over a folder tree of links to the checked-out images, one
    folder per class id (``00000``, ``00001``: sorted as the class map, as Ultralytics numbers folders),
    then accuracy overall, per class and per slice from the same per-image predictions."""
    from mlflow_cv.data.checkout import checkout_layout
    from mlflow_cv.yolo.scoring import accuracy_metrics, classify_images

    layout = checkout_layout(manifest)
    class_id = {name: cid for cid, name in manifest.class_map.items()}
    names = dict(manifest.class_map)
    with tempfile.TemporaryDirectory(prefix="cv-eval-") as tmp:
        root = Path(tmp)
        for cid in names:
            (root / "val" / f"{cid:05d}").mkdir(parents=True)
        item_of, path_of = {}, {}
        for n, item in enumerate(items):
            source = (checkout / layout[manifest.image_of[item]]).resolve()
            link = root / "val" / f"{class_id[item.split('/')[0]]:05d}" / f"{n:07d}{source.suffix}"
            link.symlink_to(source)
            item_of[str(link)], path_of[item] = item, source
        (root / "train").symlink_to(root / "val", target_is_directory=True)
        images = classify_images(yolo, root, imgsz=settings.imgsz, batch=settings.batch, device=device)
    metrics = accuracy_metrics(images, names, head=EVAL_HEAD)
    sizes = {}
    for attr in attributes:
        values = manifest.attributes[attr]
        for value in sorted(set(values.values())):
            part = [i for i in images if values.get(item_of[i.file]) == value]
            sizes[str(Slice(attr, value))] = len(part)
            metrics |= accuracy_metrics(part, names, head=f"{EVAL_SLICE_HEAD}{Slice(attr, value)}/")
    metrics |= _latency(yolo, list(path_of.values())[:LATENCY_IMAGES], settings, device)
    return Scores(metrics=dict(sorted(metrics.items())), images=len(items), slices=sizes)


def _latency(yolo: Any, images: Sequence[Path], settings: EvalSettings, device: str) -> Mapping[str, float]:
    """Milliseconds per image, batch 1, after one warm-up: the median and the 95th percentile."""
    if not images:
        return {}
    run = {
        "imgsz": settings.imgsz,
        "conf": 0.25,
        "iou": settings.iou,
        "max_det": settings.max_det,
        "device": device,
        "verbose": False,
    }
    from mlflow_cv.yolo.settings import quiet

    times = []
    with quiet():
        yolo.predict(str(images[0]), **run)
        for image in images:
            start = time.perf_counter()
            yolo.predict(str(image), **run)
            times.append((time.perf_counter() - start) * 1000)
    p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
    return {LATENCY_P50: statistics.median(times), LATENCY_P95: p95}
