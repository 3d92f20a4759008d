"""The seam to Ultralytics: its settings, its metric names, per-class results and weight digests.

Ultralytics is imported inside functions (it pulls in torch) after :func:`configure_ultralytics` has
pointed ``YOLO_CONFIG_DIR`` at the project, so its integrations (its own MLflow callback first of all,
DESIGN §6) are switched off in a project-local settings file and the user's global one is not touched.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_cv.errors import MlflowCvError, TrainingError

if TYPE_CHECKING:
    from mlflow_cv.config import TrainConfig

__all__ = [
    "FitResult",
    "ImageScores",
    "WeightsInfo",
    "class_metrics",
    "configure_ultralytics",
    "example_image",
    "fit",
    "metric_name",
    "overall_metrics",
    "per_class_metrics",
    "quiet",
    "slice_metrics",
    "strip_foreign_callbacks",
    "validate_images",
    "weights_info",
]

# Integrations that would log elsewhere or call home; all off (we do the logging).
_INTEGRATIONS = ("clearml", "comet", "dvc", "mlflow", "neptune", "raytune", "tensorboard", "wandb", "sync")
_UNSAFE = re.compile(r"[^\w./\- :]")  # MLflow's metric-name alphabet
_SUFFIX = {"(B)": "", "(M)": "mask_", "(P)": "pose_"}


def configure_ultralytics(config_dir: Path) -> None:
    """Keep Ultralytics' settings in ``config_dir`` with every integration off; call before training."""
    if "ultralytics" not in sys.modules:
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    from ultralytics.utils import SETTINGS, USER_CONFIG_DIR

    if Path(USER_CONFIG_DIR).resolve().is_relative_to(config_dir.resolve()):
        wanted = {key: False for key in _INTEGRATIONS if key in SETTINGS and SETTINGS[key] is not False}
        if wanted:
            SETTINGS.update(wanted)  # type: ignore[no-untyped-call]
    # else Ultralytics was imported earlier with the user's own config dir: leave their file alone, and
    # rely on strip_foreign_callbacks() to keep its MLflow callback out of our runs.


def strip_foreign_callbacks(trainer: Any) -> None:
    """Drop integration callbacks (MLflow, W&B, …) that Ultralytics' settings may still have added."""
    for event, funcs in trainer.callbacks.items():
        trainer.callbacks[event] = [
            f
            for f in funcs
            if not getattr(f, "__module__", "").startswith("ultralytics.utils.callbacks.")
            or getattr(f, "__module__", "").endswith(".base")
        ]


def metric_name(key: str) -> str:
    """Ultralytics' ``metrics/mAP50(B)`` → ``val/mAP50``; ``metrics/mAP50(M)`` → ``val/mask_mAP50``."""
    if key.startswith("metrics/"):
        name = key[len("metrics/") :]
        prefix = ""
        for suffix, replacement in _SUFFIX.items():
            if name.endswith(suffix):
                name, prefix = name[: -len(suffix)], replacement
        key = f"val/{prefix}{name}"
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
                out[f"val/accuracy/{_UNSAFE.sub('_', name)}"] = float(matrix[cid, cid] / totals[cid])
        return out
    return class_metrics(metrics, names)


def class_metrics(metrics: Any, names: Mapping[int, str], *, head: str = "val/") -> dict[str, float]:
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


def overall_metrics(metrics: Any, *, head: str = "val/") -> dict[str, float]:
    """The headline metrics of a metrics object (``metrics/mAP50(B)`` → ``<head>mAP50``), fitness aside."""
    return {
        head + metric_name(k).removeprefix("val/"): float(v)
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


@contextmanager
def quiet() -> Iterator[None]:
    """Ultralytics says only warnings while the block runs (its progress bars follow its logger's level)."""
    from ultralytics.utils import LOGGER

    before = LOGGER.level
    LOGGER.setLevel(logging.WARNING)
    try:
        yield
    finally:
        LOGGER.setLevel(before)


def validate_images(
    yolo: Any, data_yaml: Path, *, imgsz: int, conf: float, iou: float, max_det: int, batch: int, device: str
) -> ImageScores:
    """Ultralytics' own validation of ``yolo`` on the ``val`` list of ``data_yaml``, keeping every image's
    statistics (a callback wraps the metrics' ``update_stats``). Letterboxed square (``rect=False``), so
    an image's predictions do not depend on which images share its batch."""
    recorder = _ImageRecorder()
    yolo.add_callback("on_val_start", recorder.on_val_start)
    yolo.add_callback("on_val_batch_start", recorder.on_val_batch_start)
    try:
        with quiet():
            yolo.val(
                data=str(data_yaml),
                split="val",
                imgsz=imgsz,
                conf=conf,
                iou=iou,
                max_det=max_det,
                batch=batch,
                rect=False,
                plots=False,
                verbose=False,
                device=device,
                save_json=False,
                workers=0,
            )
    finally:
        yolo.callbacks["on_val_start"].remove(recorder.on_val_start)
        yolo.callbacks["on_val_batch_start"].remove(recorder.on_val_batch_start)
    return recorder.scores(dict(yolo.model.names))


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
    keep = seen.append
    yolo.add_callback("on_val_end", keep)
    try:
        with quiet():
            yolo.val(
                data=str(root),
                split="val",
                imgsz=imgsz,
                batch=batch,
                plots=False,
                verbose=False,
                device=device,
                workers=0,
            )
    finally:
        yolo.callbacks["on_val_end"].remove(keep)
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


@dataclass(frozen=True)
class WeightsInfo:
    sha256: str  # of the file (covers a date and training metadata too)
    digest: str  # of the tensors: equal for two deterministic trainings
    arch_sha256: str  # of the architecture (the model's YAML dict, canonical JSON)


def weights_info(path: Path) -> WeightsInfo:
    """Hashes of an Ultralytics checkpoint: the file, its tensors (name, dtype, shape, bytes) and its
    architecture. Loads the checkpoint with pickle: only for weights this job trained or was given."""
    import torch

    from mlflow_cv.canonical import canonical_sha256
    from mlflow_cv.data.hashing import sha256_file

    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = ckpt.get("ema") or ckpt["model"]
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    spec = {k: v for k, v in dict(model.yaml).items() if k != "yaml_file"}
    return WeightsInfo(sha256=sha256_file(path), digest=digest.hexdigest(), arch_sha256=canonical_sha256(spec))


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
    recorder = _ImageRecorder()
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
        per_class |= slice_metrics(recorder.scores(class_map), slice_of, head="val/slice/")
    final = {metric_name(k): float(v) for k, v in trainer.metrics.items()} | per_class
    return FitResult(save_dir=Path(trainer.save_dir), metrics=final, per_class=per_class, steps=trainer.epoch + 1)


class _ImageRecorder:
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


def example_image(checkout: Path, task: str) -> Path:
    """The first validation image of a checkout in Ultralytics' layout (a model's input example)."""
    if task == "classify":
        return next(p for p in sorted((checkout / "val").rglob("*")) if p.is_file())
    first = (checkout / "val.txt").read_text(encoding="utf-8").splitlines()[0]
    return checkout / first


# --- weights as plain tensors: what the mlflow_cv_yolo flavor ships, and rebuilding a model from them ------

_MODEL_CLASSES = {
    "detect": "DetectionModel",
    "segment": "SegmentationModel",
    "pose": "PoseModel",
    "classify": "ClassificationModel",
}


@dataclass(frozen=True)
class PlainModel:
    """An Ultralytics model as data: tensors plus the architecture they fit, nothing that needs unpickling."""

    tensors: dict[str, Any]  # name → tensor as the checkpoint stores it (the EMA weights, FP16 for best.pt)
    arch: dict[str, Any]  # the model's YAML dict without ``yaml_file``: what cv.model.arch_sha256 hashes
    task: str


def plain_model(path: Path) -> PlainModel:
    """The tensors and architecture of an Ultralytics checkpoint. Read with Ultralytics' restricted loader
    (``torch.load(weights_only=True)`` and an allow-list of its own classes), so even this one read of the
    pickle cannot run code; a checkpoint outside that format is refused."""
    from ultralytics.nn.tasks import guess_model_task, torch_safe_load

    from mlflow_cv.errors import ServingError

    try:
        ckpt, _ = torch_safe_load(str(path), safe_only=True)  # type: ignore[no-untyped-call]
    except (TypeError, RuntimeError, ValueError) as exc:
        raise ServingError(f"{path} is not an Ultralytics checkpoint that loads without code: {exc}") from None
    if ckpt.get("modelopt"):
        raise ServingError(f"{path} is a quantization-aware checkpoint; export its float weights first")
    model = ckpt.get("ema") or ckpt["model"]
    task = str(getattr(model, "task", None) or guess_model_task(model))  # type: ignore[no-untyped-call]
    if task not in _MODEL_CLASSES:
        raise ServingError(f"{path} holds a {task} model; the flavor serves {', '.join(_MODEL_CLASSES)}")
    tensors = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    return PlainModel(tensors=tensors, arch=_arch_spec(model.yaml), task=task)


def _arch_spec(yaml: Mapping[str, Any]) -> dict[str, Any]:
    import json

    spec = {k: v for k, v in dict(yaml).items() if k != "yaml_file"}
    return dict(json.loads(json.dumps(spec)))  # plain JSON types (tuples → lists), as arch.json holds it


def arch_sha256(arch: Mapping[str, Any]) -> str:
    """Hash of an architecture as :func:`weights_info` takes it (``cv.model.arch_sha256``)."""
    from mlflow_cv.canonical import canonical_sha256

    return canonical_sha256(_arch_spec(arch))


def tensor_digest(tensors: Mapping[str, Any]) -> str:
    """Digest of tensors as :func:`weights_info` takes it (``cv.weights.digest``): name, dtype, shape, bytes."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(tensors.items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def build_yolo(plain: PlainModel, *, names: Mapping[int, str], source: Path) -> Any:
    """A ``YOLO`` predicting with ``plain``'s tensors, built as Ultralytics builds one from its YAML.

    The network is constructed under Ultralytics' restricted mode (known layer classes only, no ``eval``
    of the architecture's strings), its tensors loaded with ``strict=True``; ``source`` (the weights file,
    not a ``.pt``) is only recorded by Ultralytics as the model's path, never read.
    """
    import copy

    from ultralytics import YOLO  # type: ignore[attr-defined]
    from ultralytics.nn import tasks
    from ultralytics.utils import DEFAULT_CFG_DICT

    from mlflow_cv.errors import ServingError

    if not tasks._SafeLoad.SUPPORTED:
        raise ServingError("this torch cannot build an Ultralytics model without eval; install the requirements")
    network_class = getattr(tasks, _MODEL_CLASSES[plain.task])
    local = tasks._SafeLoad._local  # the per-thread flag parse_model reads: build with known layers only, no eval
    before = getattr(local, "active", False)
    local.active = True
    try:
        network = network_class(cfg=copy.deepcopy(plain.arch), ch=int(plain.arch.get("channels", 3)), verbose=False)
    except Exception as exc:  # an architecture Ultralytics refuses or cannot build
        raise ServingError(f"the architecture cannot be built: {type(exc).__name__}: {exc}") from None
    finally:
        local.active = before
    try:
        network.load_state_dict(plain.tensors, strict=True)
    except RuntimeError as exc:
        raise ServingError(f"the tensors do not fit the architecture: {str(exc)[:500]}") from None
    network.names = dict(names)
    network.task = plain.task
    network.args = {**DEFAULT_CFG_DICT, "task": plain.task}
    network = network.float().eval()
    yolo = YOLO(str(source), task=plain.task)  # a path that is not .pt: Ultralytics records it, loads nothing
    if type(yolo) is not YOLO:  # metadata beside the file re-routed it (RT-DETR, World): not ours
        raise ServingError(f"Ultralytics took {source} for a {type(yolo).__name__} model")
    yolo.model = network
    return yolo
