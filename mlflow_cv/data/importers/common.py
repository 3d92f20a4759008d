"""What every importer shares: the options, and the :class:`Conversion` a reader fills in.

A reader turns one export into a :class:`Conversion`: the images it names (each checked to exist, and to
map to an item id no other image maps to), the YOLO label lines of each, the class map, and every problem
found. Geometry goes through :meth:`Conversion.box` and :meth:`Conversion.polygon`, so every format follows
the same rules:

- out of the image: refused by default (``--out-of-bounds refuse``), or clipped to it with
  ``--out-of-bounds clip`` (boxes to the image, polygons by Sutherland-Hodgman), counted in ``clipped``;
- zero-area boxes, polygons of fewer than 3 points or no area, and shapes entirely outside the image:
  refused, or dropped and counted with ``--drop-invalid``.

For a ``segment`` import a box is written as its 4-corner polygon; for ``detect`` a polygon as its
bounding box (each counted in the warnings). Nothing is written until the reader is done: the writer
refuses a conversion with problems (:mod:`mlflow_cv.data.importers.writer`).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow_cv.data.importers.geometry import EDGE_TOLERANCE, clip_polygon, fmt, polygon_area, rotated_box
from mlflow_cv.data.scan import IMAGE_SUFFIXES, check_relpath
from mlflow_cv.errors import DatasetError, UnsafePathError

__all__ = [
    "DEFAULT_MIN_AREA",
    "IMPORT_FORMATS",
    "OUT_OF_BOUNDS",
    "Conversion",
    "ImportOptions",
    "Item",
    "Where",
    "at",
    "fixed",
]

IMPORT_FORMATS = ("coco", "voc", "cvat", "labelstudio", "masks", "folders")
OUT_OF_BOUNDS = ("refuse", "clip")
DEFAULT_MIN_AREA = 10  # pixels: a mask component smaller than this is dropped (and counted)

Where = Callable[[], str]  # the location of an annotation, built only when there is something to say


def at(rel: str, kind: str, index: int, ident: object) -> Where:
    """``file: kind[index] (id …)``, e.g. ``annotations/instances.json: annotations[17] (id 42)``."""
    return lambda: f"{rel}: {kind}[{index}] (id {ident!r})"


def fixed(text: str) -> Where:
    """A location already known as text (one file, one element)."""
    return lambda: text


# Which formats each option changes (an option given for another format is refused, not ignored).
_APPLIES: dict[str, frozenset[str]] = {
    "task": frozenset({"coco", "cvat", "labelstudio"}),
    "out_of_bounds": frozenset({"coco", "voc", "cvat", "labelstudio"}),
    "drop_invalid": frozenset({"coco", "voc", "cvat", "labelstudio", "masks"}),
    "voc_drop_difficult": frozenset({"voc"}),
    "palette": frozenset({"masks"}),
    "classes": frozenset({"voc", "cvat", "labelstudio", "masks"}),
    "min_area": frozenset({"masks"}),
}
_DEFAULTS: dict[str, Any] = {
    "task": None,
    "out_of_bounds": "refuse",
    "drop_invalid": False,
    "voc_drop_difficult": False,
    "palette": (),
    "classes": (),
    "min_area": None,
}


@dataclass(frozen=True)
class ImportOptions:
    """The options that change what an import writes (see :func:`mlflow_cv.data.importers.import_dataset`)."""

    task: str | None = None
    out_of_bounds: str = "refuse"
    drop_invalid: bool = False
    voc_drop_difficult: bool = False
    palette: tuple[tuple[str, tuple[int, int, int]], ...] = ()
    classes: tuple[str, ...] = ()
    min_area: int | None = None

    def check(self, fmt: str) -> None:
        """Refuse values that are not valid, or options that do not apply to ``fmt``."""
        if self.out_of_bounds not in OUT_OF_BOUNDS:
            raise DatasetError(f"--out-of-bounds must be one of {', '.join(OUT_OF_BOUNDS)}, not {self.out_of_bounds!r}")
        if self.task not in (None, "detect", "segment"):
            raise DatasetError(f"--task must be detect or segment for an import, not {self.task!r}")
        if self.min_area is not None and self.min_area < 1:
            raise DatasetError(f"--min-area must be a whole number of pixels >= 1, not {self.min_area}")
        for name, formats in _APPLIES.items():
            if fmt not in formats and getattr(self, name) != _DEFAULTS[name]:
                flag = "--" + name.replace("_", "-")
                raise DatasetError(f"{flag} does not apply to {fmt} imports (only to {', '.join(sorted(formats))})")
        if self.palette and self.classes:
            raise DatasetError("give --palette (colour masks) or --classes (index masks), not both")

    def recorded(self, fmt: str) -> dict[str, Any]:
        """The options that apply to ``fmt``, as provenance records them (defaults included)."""
        out: dict[str, Any] = {}
        for name, formats in _APPLIES.items():
            if fmt in formats and name != "task":  # the task is recorded on its own
                value = getattr(self, name)
                if name == "palette":
                    value = [[n, list(rgb)] for n, rgb in value]
                elif name == "classes":
                    value = list(value)
                elif name == "min_area" and value is None:
                    value = DEFAULT_MIN_AREA
                out[name] = value
        return out


@dataclass(eq=False)
class Item:
    """One image to import: its path in DEST (under ``images/``, or ``CLASS/IMAGE`` for classify), the
    source file, its label lines and per-object flags (kept beside the labels, never in them)."""

    rel: str
    path: Path
    lines: list[str] = field(default_factory=list)
    flags: list[dict[str, Any]] = field(default_factory=list)


class Conversion:
    """What a reader makes of an export; :func:`~mlflow_cv.data.importers.writer.write_tree` writes it."""

    def __init__(self, fmt: str, *, task: str, options: ImportOptions) -> None:
        self.fmt = fmt
        self.task = task
        self.options = options
        self.names: list[str] = []
        self.category_map: list[dict[str, Any]] = []
        self.items: dict[str, Item] = {}  # by item id
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.clipped: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.converted: Counter[str] = Counter()  # shapes written as the other kind (box <-> polygon)
        self.libraries: dict[str, str] = {}  # library → version, of those this import used
        self.objects = 0

    # --- classes ---------------------------------------------------------------------------------------

    def set_classes(self, entries: Sequence[tuple[Any, str, str]], *, where: str) -> dict[Any, int]:
        """Give ``(source id, source name, class name)`` entries class ids 0..N-1 in this order; return
        source id → class id. Empty or duplicate class names are problems."""
        names = [name for _, _, name in entries]
        if not names and not self.problems:  # after a file that cannot be read, this says nothing new
            self.problems.append(f"{where}: no classes: the export declares and uses no label")
        empty = [repr(src) for src, _, name in entries if not name.strip()]
        if empty:
            self.problems.append(f"{where}: categories {', '.join(empty)} have an empty name; name them")
        dupes = sorted({n for n in names if names.count(n) > 1})
        for name in dupes:
            ids = ", ".join(str(src) for src, _, n in entries if n == name)
            self.problems.append(
                f"{where}: {ids} all map to the class name {name!r}; a class map needs one name per class: "
                "rename them in the labelling tool"
            )
        self.names = names
        self.category_map = [
            {"source_id": src, "source_name": src_name, "class_id": i, "name": name}
            for i, (src, src_name, name) in enumerate(entries)
        ]
        return {src: i for i, (src, _, _) in enumerate(entries)}

    def set_names(self, seen: Iterable[str], *, where: str) -> dict[str, int]:
        """Class ids for a format that names labels without ids: ``--classes`` order when given, else sorted."""
        seen = set(seen)
        order = list(self.options.classes) if self.options.classes else sorted(seen)
        for name in sorted(seen - set(order)):
            self.problems.append(
                f"{where}: label {name!r} is used but not in --classes ({', '.join(order)}); add it to --classes"
            )
        self.set_classes([(None, n, n) for n in order], where=where)
        return {n: i for i, n in enumerate(order)}

    # --- images ----------------------------------------------------------------------------------------

    def add_image(self, rel: str, path: Path, where: Where) -> Item | None:
        """Register the image at ``path`` as ``rel`` in DEST (its item id: ``rel`` without the extension);
        None, and a problem, if it cannot be."""
        suffix = os.path.splitext(rel)[1]
        try:
            check_relpath(rel)
        except UnsafePathError as exc:
            self.problems.append(f"{where()}: {exc.message}")
            return None
        if suffix.lower() not in IMAGE_SUFFIXES:
            self.problems.append(
                f"{where()}: {rel!r} is not an image type a snapshot takes ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                "convert it or leave it out of the export"
            )
            return None
        item_id = rel[: len(rel) - len(suffix)]
        other = self.items.get(item_id)
        if other is not None:
            same = "is listed twice" if other.rel == rel else f"and {other.rel} map to the same item id {item_id!r}"
            self.problems.append(f"{where()}: {rel} {same}; each image needs its own name (without extension)")
            return None
        if not os.path.isfile(path):
            self.problems.append(f"{where()}: image file {path} does not exist; add it or remove its annotations")
            return None
        item = self.items[item_id] = Item(rel, path)
        return item

    def warn_unreferenced(self, found: set[str]) -> None:
        """Say how many image files of the images folder (``found``) no annotation names: they are not imported."""
        left = sorted(found - {item.rel for item in self.items.values()})
        if left:
            self.warnings.append(
                f"{len(left)} image file(s) in the images folder are in no annotation and were not imported, "
                f"e.g. {left[0]}"
            )

    # --- geometry ----------------------------------------------------------------------------------------

    def invalid(self, where: Where, what: str, reason: str) -> None:
        """An object that cannot be a YOLO label: a problem, or dropped and counted with ``--drop-invalid``."""
        if self.options.drop_invalid:
            self.dropped[reason] += 1
        else:
            self.problems.append(
                f"{where()}: {what}; fix it in the labelling tool, or pass --drop-invalid to drop such objects"
            )

    def _outside(self, where: Where, what: str) -> bool:
        """True when the shape may be clipped; else a problem was recorded."""
        if self.options.out_of_bounds == "clip":
            return True
        self.problems.append(
            f"{where()}: {what} reaches outside the image (out-of-bounds: refuse); fix it, or pass "
            "--out-of-bounds clip to clip shapes to the image"
        )
        return False

    def box(self, item: Item, cls: int, x: float, y: float, w: float, h: float, iw: int, ih: int, where: Where) -> bool:
        """Add the box with top-left ``(x, y)`` and size ``w x h`` pixels in an ``iw x ih`` image."""
        if not math.isfinite(x + y + w + h):  # a NaN or an infinity anywhere makes the sum one
            self.invalid(where, f"{_box(x, y, w, h)} is not made of finite numbers", "box with non-finite numbers")
            return False
        if w <= 0 or h <= 0:
            self.invalid(where, f"{_box(x, y, w, h)} has no area (width and height must be > 0)", "zero-area box")
            return False
        x1, y1, x2, y2 = x, y, x + w, y + h
        if x1 < 0 or y1 < 0 or x2 > iw or y2 > ih:  # the rare path: on or past an edge
            tx, ty = iw * EDGE_TOLERANCE, ih * EDGE_TOLERANCE
            outside = x1 < -tx or y1 < -ty or x2 > iw + tx or y2 > ih + ty
            if outside and not self._outside(where, f"{_box(x, y, w, h)} in the {iw}x{ih} image"):
                return False
            x1, y1, x2, y2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(iw)), min(y2, float(ih))
            if x2 <= x1 or y2 <= y1:
                self.invalid(
                    where,
                    f"{_box(x, y, w, h)} lies entirely outside the {iw}x{ih} image",
                    "box entirely outside the image",
                )
                return False
            if outside:
                self.clipped["box"] += 1
        if self.task == "segment":
            self.converted["boxes written as 4-corner polygons"] += 1
            return self._polygon_line(item, cls, [x1, y1, x2, y1, x2, y2, x1, y2], iw, ih)
        self.objects += 1
        item.lines.append(
            f"{cls} {fmt((x1 + x2) / 2 / iw)} {fmt((y1 + y2) / 2 / ih)} {fmt((x2 - x1) / iw)} {fmt((y2 - y1) / ih)}"
        )
        return True

    def rotated_box(
        self,
        item: Item,
        cls: int,
        corners: tuple[float, float, float, float],
        degrees: float,
        *,
        about: tuple[float, float],
        iw: int,
        ih: int,
        where: Where,
    ) -> bool:
        """Add the box ``(x1, y1, x2, y2)`` turned by ``degrees`` clockwise about ``about``: a segment import
        writes its corners, a detect import refuses it (an axis-aligned box would grow it)."""
        x1, y1, x2, y2 = corners
        if degrees % 360 == 0:
            return self.box(item, cls, x1, y1, x2 - x1, y2 - y1, iw, ih, where)
        if self.task == "segment":
            self.converted["rotated boxes written as their rotated corners"] += 1
            return self.polygon(item, cls, rotated_box(x1, y1, x2, y2, degrees, about=about), iw, ih, where)
        what = f"a box rotated by {degrees:g} degrees has no YOLO detect form (--task segment keeps it)"
        self.invalid(where, what, "rotated box")
        return False

    def polygon(self, item: Item, cls: int, xy: Sequence[float], iw: int, ih: int, where: Where) -> bool:
        """Add the polygon ``[x1, y1, x2, y2, ...]`` (pixels) of an ``iw x ih`` image."""
        if len(xy) < 6 or len(xy) % 2:
            what = "an empty polygon" if not xy else f"a polygon of {len(xy)} coordinates (needs 3+ x,y points)"
            self.invalid(where, what, "empty or degenerate polygon")
            return False
        if not all(map(math.isfinite, xy)):
            self.invalid(where, "a polygon with non-finite coordinates", "polygon with non-finite numbers")
            return False
        if polygon_area(xy) <= 0:
            self.invalid(where, f"a polygon of {len(xy) // 2} points with zero area", "empty or degenerate polygon")
            return False
        tx, ty = iw * EDGE_TOLERANCE, ih * EDGE_TOLERANCE
        xs, ys = xy[0::2], xy[1::2]
        points = list(xy)
        if min(xs) < -tx or min(ys) < -ty or max(xs) > iw + tx or max(ys) > ih + ty:
            if not self._outside(where, f"a polygon of {len(xs)} points in the {iw}x{ih} image"):
                return False
            points = clip_polygon(xy, iw, ih)
            if len(points) < 6 or polygon_area(points) <= 0:
                self.invalid(
                    where, f"a polygon lies entirely outside the {iw}x{ih} image", "polygon entirely outside the image"
                )
                return False
            self.clipped["polygon"] += 1
        if self.task == "detect":
            self.converted["polygons written as their bounding boxes"] += 1
            xs, ys = points[0::2], points[1::2]
            return self.box(item, cls, min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys), iw, ih, where)
        return self._polygon_line(item, cls, points, iw, ih)

    def _polygon_line(self, item: Item, cls: int, xy: Sequence[float], iw: int, ih: int) -> bool:
        coords = " ".join(fmt(min(max(v / (ih if i % 2 else iw), 0.0), 1.0)) for i, v in enumerate(xy))
        self.objects += 1
        item.lines.append(f"{cls} {coords}")
        return True


def _box(x: float, y: float, w: float, h: float) -> str:
    return f"box x={x:g} y={y:g} w={w:g} h={h:g}"
