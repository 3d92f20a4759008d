"""Semantic-segmentation masks: ``images/`` + ``masks/`` (PNG, same stems) → YOLO segment polygons.

Classes come from one of:

- ``--palette 'road=128,64,128;lane=255,255,255'``: colour masks; class ids in the order given, black
  (``0,0,0``) is background;
- ``--classes road,lane``: index masks (one channel, e.g. greyscale or a palette PNG's indices): pixel
  value = class id + 1, so ``1`` is ``road``, and ``0`` is background.

Any other colour or value is refused, naming it and one pixel where it is. Each connected region of a
class (8-connected) becomes one polygon, its outer contour from OpenCV's ``findContours`` (holes are
filled: a YOLO polygon has none); regions smaller than ``--min-area`` pixels (default 10) are dropped and
counted. A mask must have its image's size. The masks are the export's annotation files: their hashes
and copies go to the provenance.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlflow_cv.data.importers.common import DEFAULT_MIN_AREA, Conversion, ImportOptions, Item, fixed
from mlflow_cv.data.importers.files import Located, image_files, image_size, locate
from mlflow_cv.data.importers.geometry import join_parts, outlines
from mlflow_cv.errors import AnnotationError, DatasetError

__all__ = ["parse_palette", "read"]

_LOSSLESS = frozenset({".png", ".bmp", ".tif", ".tiff"})
_SHOWN = 5  # unknown values named per mask


def parse_palette(text: str) -> tuple[tuple[str, tuple[int, int, int]], ...]:
    """``"road=128,64,128;car=0,0,142"`` → ``(("road", (128, 64, 128)), ("car", (0, 0, 142)))``."""
    out: list[tuple[str, tuple[int, int, int]]] = []
    for entry in (e.strip() for e in text.split(";")):
        name, _, rgb = entry.partition("=")
        try:
            r, g, b = (int(v) for v in rgb.split(","))
        except ValueError:
            r = g = b = -1
        if not name.strip() or not all(0 <= v <= 255 for v in (r, g, b)):
            raise DatasetError(f"--palette entry {entry!r}: expected NAME=R,G,B with R, G, B in 0..255")
        out.append((name.strip(), (r, g, b)))
    names = [n for n, _ in out]
    colours = [c for _, c in out]
    if len(set(names)) < len(names) or len(set(colours)) < len(colours):
        raise DatasetError(f"--palette {text!r}: each class needs its own name and its own colour")
    if (0, 0, 0) in colours:
        raise DatasetError("--palette: 0,0,0 is the background colour; give classes other colours")
    return tuple(out)


def read(source: Path, *, images: Path | None, options: ImportOptions) -> tuple[Conversion, Located]:
    if not options.palette and not options.classes:
        raise DatasetError("masks need --palette 'NAME=R,G,B;…' (colour masks) or --classes a,b,c (index masks)")
    if not source.is_dir():
        raise AnnotationError(f"{source}: masks are imported from a folder with masks/ and images/")
    located = locate(source, images=images, fmt="masks", pattern="masks/**/*", what="masks/ with PNG masks")
    conv = Conversion("masks", task="segment", options=options)
    import cv2
    import PIL

    conv.libraries.update(opencv=cv2.__version__, pillow=PIL.__version__)
    entries: list[tuple[Any, str, str]]
    if options.palette:
        entries = [(",".join(map(str, rgb)), name, name) for name, rgb in options.palette]
        values = [(r << 16) | (g << 8) | b for _, (r, g, b) in options.palette]
    else:
        entries = [(i + 1, name, name) for i, name in enumerate(options.classes)]
        values = list(range(1, len(options.classes) + 1))
    conv.set_classes(entries, where="--palette" if options.palette else "--classes")
    stems: dict[str, str] = {}
    for rel in sorted(image_files(located.images)):
        stem = os.path.splitext(rel)[0]
        if stem in stems:
            conv.problems.append(f"images: {stems[stem]} and {rel} have the same stem; a mask can belong to one only")
        stems.setdefault(stem, rel)
    masked: set[str] = set()
    for path in located.annotations:
        rel = located.rel(path)  # masks/<stem>.png
        stem = os.path.splitext(rel.removeprefix("masks/"))[0]
        masked.add(stem)
        if os.path.splitext(rel)[1].lower() not in _LOSSLESS:
            conv.problems.append(f"{rel}: masks must be lossless (PNG); a JPEG mask has colours no class has")
        elif stem not in stems:
            conv.problems.append(f"{rel}: no image images/{stem}.<ext> for this mask; add it or remove the mask")
        else:
            item = conv.add_image(stems[stem], located.images / stems[stem], fixed(rel))
            if item is not None:
                _mask(conv, rel, path, item, values)
    for stem in sorted(set(stems) - masked):
        conv.problems.append(f"images/{stems[stem]}: no mask masks/{stem}.png; add one (all 0 for background only)")
    return conv, located


def _mask(conv: Conversion, rel: str, path: Path, item: Item, values: list[int]) -> None:
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as img:
            mode = img.mode
            if conv.options.palette:
                rgb = np.asarray(img.convert("RGB"), dtype=np.int32)
                keys = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
            elif mode in ("L", "P", "I", "I;16"):
                keys = np.asarray(img, dtype=np.int32)
            else:
                conv.problems.append(
                    f"{rel}: a {mode} image; index masks (--classes) need one channel with pixel = class id + 1 "
                    "(colour masks take --palette)"
                )
                return
    except OSError as exc:
        conv.problems.append(f"{rel}: cannot read the mask: {exc}")
        return
    height, width = keys.shape
    size = image_size(item.path)
    if size != (width, height):
        shown = f"{size[0]}x{size[1]}" if size else "not a readable image"
        conv.problems.append(f"{rel}: mask is {width}x{height} but images/{item.rel} is {shown}; they must match")
        return
    if not _known_values(conv, rel, keys, values):
        return
    min_area = conv.options.min_area or DEFAULT_MIN_AREA
    for cls, value in enumerate(values):
        _regions(conv, rel, keys == value, cls, item, width, height, min_area)


def _known_values(conv: Conversion, rel: str, keys: Any, values: list[int]) -> bool:
    """False (with a problem per unknown value, naming a pixel) when the mask holds values no class has."""
    import numpy as np

    unknown = np.setdiff1d(np.unique(keys), np.asarray([0, *values]))
    for key in unknown[:_SHOWN]:
        y, x = (int(v) for v in np.argwhere(keys == key)[0])
        count = int((keys == key).sum())
        if conv.options.palette:
            what = f"colour {int(key) >> 16},{(int(key) >> 8) & 255},{int(key) & 255}"
            fix = "add it to --palette NAME=R,G,B or repaint those pixels"
        else:
            what = f"value {int(key)}"
            fix = f"values are 0 (background) or 1..{len(values)} (--classes); fix those pixels"
        conv.problems.append(f"{rel}: {what} at pixel x={x}, y={y} ({count} px) is no class; {fix}")
    if len(unknown) > _SHOWN:
        conv.problems.append(f"{rel}: and {len(unknown) - _SHOWN} more unknown values")
    return not len(unknown)


def _regions(
    conv: Conversion, rel: str, binary: Any, cls: int, item: Item, width: int, height: int, min_area: int
) -> None:
    """One polygon per 8-connected region of ``binary``."""
    import cv2
    import numpy as np

    if not binary.any():
        return
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    for k in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[k])
        if area < min_area:
            conv.dropped["mask region below --min-area"] += 1
            continue
        parts = outlines(labels[y : y + h, x : x + w] == k)

        def where(x: int = x, y: int = y, area: int = area) -> str:
            return f"{rel}: {conv.names[cls]!r} region at x={x}, y={y} ({area} px)"

        if not parts:
            conv.invalid(where, "a region too thin for a polygon (1 pixel wide)", "mask region too thin for a polygon")
            continue
        xy = parts[0] if len(parts) == 1 else join_parts(parts)
        conv.polygon(item, cls, [v + (x if i % 2 == 0 else y) for i, v in enumerate(xy)], width, height, where)
