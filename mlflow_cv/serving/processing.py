"""Pre- and post-processing of the YOLO pyfunc: image column in, one row per detection out.

Images arrive as raw bytes or base64 text (``mlflow models serve`` hands ``inputs``/``instances`` as
base64 text, ``dataframe_split``/``dataframe_records`` as decoded bytes). They are decoded with
OpenCV, as Ultralytics decodes files, so a served model answers exactly as ``YOLO(weights).predict``
on the same images. Every bad row is reported by index at once; the header is read before the pixels,
so an oversized image is refused without decoding it.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mlflow_cv.errors import InputError

__all__ = ["OUTPUT_COLUMNS", "PARAMS", "Settings", "check_param_names", "decode_images", "labelmap_json", "to_rows"]

MAX_PIXELS = 40_000_000  # 40 MP: refuse larger images before decoding them
DETECT_COLUMNS = ("image_index", "class_id", "class_name", "confidence", "x1", "y1", "x2", "y2")
CLASSIFY_COLUMNS = ("image_index", "rank", "class_id", "class_name", "confidence")
OUTPUT_COLUMNS = {
    "detect": DETECT_COLUMNS,
    "segment": (*DETECT_COLUMNS, "polygon"),
    "pose": (*DETECT_COLUMNS, "keypoints"),
    "classify": CLASSIFY_COLUMNS,
}
TOP_K = 5
PARAMS = ("conf", "iou", "imgsz", "max_det")  # what a request may set, per call
_SHOWN = 200  # characters of any request value a message repeats


def _short(value: object) -> str:
    """``repr(value)`` cut to a couple of hundred characters: a message names a value, never echoes a request."""
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}… ({len(text):,} characters)"


def check_param_names(names: Iterable[object]) -> None:
    """Refuse params the model does not know, naming them (MLflow's params schema would drop them silently)."""
    unknown = sorted({str(n) for n in names} - set(PARAMS))
    if unknown:
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        shown = ", ".join(_short(n) for n in unknown[:10]) + more
        raise InputError(f"unknown params {shown}; known: {', '.join(PARAMS)}")


def labelmap_json(names: Mapping[int, str]) -> str:
    """``labelmap.json`` as training logs it and the flavor bundles it (one format, one hash)."""
    import json

    return json.dumps({str(k): v for k, v in sorted(names.items())}, indent=2) + "\n"


@dataclass(frozen=True)
class Settings:
    """Prediction settings saved with the model (Ultralytics' predict defaults, at the training imgsz),
    overridable per request through ``params``."""

    task: str
    imgsz: int = 640
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    batch: int = 16

    def predict_options(self) -> dict[str, Any]:
        """The keyword arguments of Ultralytics' ``predict`` (and ``val``) that these settings set."""
        return {"imgsz": self.imgsz, "conf": self.conf, "iou": self.iou, "max_det": self.max_det, "batch": self.batch}

    def with_params(self, params: Mapping[str, Any] | None) -> Settings:
        if not params:
            return self
        check_param_names(params)
        out = replace(self, **{k: v for k, v in params.items() if v is not None})
        if not (0.0 <= out.conf <= 1.0 and 0.0 <= out.iou <= 1.0 and 32 <= out.imgsz <= 4096 and out.max_det >= 1):
            raise InputError("params out of range: conf and iou in [0, 1], imgsz in [32, 4096], max_det ≥ 1")
        return out


def _as_bytes(value: Any) -> bytes:
    """Image bytes from raw bytes, base64 text, or base64 text as bytes (MLflow's ``inputs`` format).

    Raw image bytes are never valid strict base64 (every format's magic holds bytes outside the
    base64 alphabet), so trying a strict decode first is unambiguous.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return data
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InputError("text that is not base64") from None
    raise InputError(f"a {type(value).__name__}, expected image bytes or base64 text")


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image header, without decoding pixels; None when no format matches.

    Runs Pillow's format plugins directly: Ultralytics replaces ``PIL.Image.open`` with a version
    that tries to pip-install a HEIF plugin on unknown data, which a server must never do.
    """
    from PIL import Image

    Image.init()
    prefix = data[:16]
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        try:
            if accept is None or not accept(prefix):  # formats without a magic check would match anything
                continue
            with factory(io.BytesIO(data), "") as im:
                return tuple(im.size)  # type: ignore[return-value]
        except Exception:  # a plugin that cannot parse the header means: not this format
            continue
    return None


def decode_images(values: Sequence[Any]) -> list[Any]:
    """Decode every value to a BGR array (as Ultralytics reads files); refuse bad rows all at once."""
    import cv2
    import numpy as np

    if len(values) == 0:
        raise InputError("no rows: send at least one image in the 'image' column")
    images, problems = [], []
    for i, value in enumerate(values):
        try:
            data = _as_bytes(value)
            size = image_size(data)
            if size is None:
                raise InputError(
                    "not an image: neither image bytes nor base64 text of an image (unknown or corrupt format)"
                )
            width, height = size
            if width * height > MAX_PIXELS:
                raise InputError(f"{width}×{height} is larger than {MAX_PIXELS // 1_000_000} megapixels")
            array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if array is None:
                raise InputError("the image data is corrupt and cannot be decoded")
            images.append(array)
        except InputError as exc:
            problems.append(f"row {i}: {exc}")
    if problems:
        raise InputError(f"{len(problems)} of {len(values)} image(s) cannot be predicted", problems=problems)
    return images


def to_rows(results: Sequence[Any], names: Mapping[int, str], task: str) -> dict[str, list[Any]]:
    """Ultralytics results → columns of the output frame (boxes in original image pixels)."""
    columns: dict[str, list[Any]] = {c: [] for c in OUTPUT_COLUMNS[task]}
    for index, result in enumerate(results):
        if task == "classify":
            probs = result.probs.data.cpu().numpy()
            for rank, cid in enumerate(probs.argsort()[::-1][:TOP_K]):
                for key, value in zip(
                    CLASSIFY_COLUMNS, (index, rank, int(cid), names[int(cid)], float(probs[cid])), strict=True
                ):
                    columns[key].append(value)
            continue
        boxes = result.boxes
        xyxy = boxes.xyxy.cpu().numpy().astype(float)
        classes = boxes.cls.cpu().numpy().astype(int)
        scores = boxes.conf.cpu().numpy().astype(float)
        extra = None
        if task == "segment" and result.masks is not None:
            extra = [p.astype(float).round(2).tolist() for p in result.masks.xy]
        elif task == "pose" and result.keypoints is not None:
            extra = result.keypoints.data.cpu().numpy().astype(float).round(2).tolist()
        for j in range(len(classes)):
            row = (index, int(classes[j]), names[int(classes[j])], float(scores[j]), *map(float, xyxy[j]))
            for key, value in zip(DETECT_COLUMNS, row, strict=True):
                columns[key].append(value)
            if task in ("segment", "pose"):
                columns[OUTPUT_COLUMNS[task][-1]].append(extra[j] if extra is not None else [])
    return columns
