"""COCO detection and segmentation exports: ``annotations/*.json`` + ``images/``, or one JSON with ``--images``.

- Classes: every entry of ``categories``, sorted by COCO category id, get YOLO ids 0..N-1 (ids 1, 3, 7 →
  0, 1, 2), used or not, so the map is the same for every export of the same categories; it is recorded
  in the provenance. An annotation whose ``category_id`` is not listed is refused.
- Task: ``segment`` when any annotation has a segmentation, else ``detect`` (``--task`` decides otherwise).
  Detect uses ``bbox``; segment uses ``segmentation``: polygons (several parts joined into one outline),
  RLE masks with compressed (string) or uncompressed (list) counts, crowd (``iscrowd: 1``) masks included
  and counted; an annotation without a segmentation (a box in a CVAT or Label Studio export) is written
  as its box's 4-corner polygon.
- Images: ``images/<file_name>``, else ``images/<split>/<file_name>`` where ``<split>`` is the JSON's name
  without ``instances_`` (COCO's own ``instances_val2017.json`` + ``val2017/``). Their sizes are the
  ``width``/``height`` the JSON records.

Why not Ultralytics' ``convert_coco``: it writes to a fixed, auto-incremented folder, skips crowd
annotations, maps ids by ``category_id - 1`` (or the COCO-80 table) instead of the listed categories, and
drops or reshapes what it cannot read with a log line instead of refusing before writing anything; it
also loads torch on import. We read the JSON ourselves (the format is a few lists) so every problem names
``annotations[i] (id N)``. RLE is decoded by ``pycocotools`` (COCO's reference implementation, which
checks that the run lengths fill the mask) and the mask outlined with OpenCV's ``findContours``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlflow_cv.data.importers.common import Conversion, ImportOptions, Item, Where, at
from mlflow_cv.data.importers.files import Located, image_files, load_json, locate
from mlflow_cv.data.importers.geometry import join_parts, outlines

__all__ = ["read"]


def read(source: Path, *, images: Path | None, options: ImportOptions) -> tuple[Conversion, Located]:
    located = locate(source, images=images, fmt="COCO", pattern="annotations/*.json", what="annotations/*.json")
    problems: list[str] = []
    docs: list[tuple[str, dict[str, Any]]] = []
    for path in located.annotations:
        rel = located.rel(path)
        doc = load_json(path, rel, problems)
        if doc is None:
            continue
        if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in _LISTS):
            problems.append(f"{rel}: expected a COCO object with lists {', '.join(_LISTS)}; is this a COCO export?")
            continue
        docs.append((rel, doc))
    task = options.task or (
        "segment" if any(_has_segmentation(a) for _, d in docs for a in d["annotations"]) else "detect"
    )
    conv = Conversion("coco", task=task, options=options)
    conv.problems += problems
    class_of = _categories(conv, docs, where=located.rel(located.annotations[0]))
    crowd = 0
    for rel, doc in docs:
        split = Path(rel).stem.removeprefix("instances_")
        by_id = _images(conv, rel, doc["images"], located.images, split)
        listed = ", ".join(str(c) for c in class_of) or "none"
        for i, ann in enumerate(doc["annotations"]):
            if not isinstance(ann, dict):
                conv.problems.append(f"{rel}: annotations[{i}]: expected an object, got {type(ann).__name__}")
                continue
            where = at(rel, "annotations", i, ann.get("id"))
            image_id = ann.get("image_id")
            if not isinstance(image_id, int) or image_id not in by_id:
                conv.problems.append(
                    f"{where()}: image_id {image_id!r} is not in images[]; add it or drop the annotation"
                )
                continue
            category_id = ann.get("category_id")
            cls = class_of.get(category_id) if isinstance(category_id, int) else None
            if cls is None:
                conv.problems.append(
                    f"{where()}: category_id {category_id!r} is not in categories (ids {listed}); "
                    "add the category or fix the annotation"
                )
                continue
            target = by_id[image_id]
            if target is None:  # the image's own problem is reported already
                continue
            crowd += bool(ann.get("iscrowd"))
            _annotation(conv, ann, cls, *target, where)
    if crowd:
        conv.warnings.append(f"{crowd} crowd annotation(s) (iscrowd 1) imported as one object each")
    conv.warn_unreferenced(image_files(located.images))
    return conv, located


_LISTS = ("images", "annotations", "categories")


def _has_segmentation(ann: Any) -> bool:
    return isinstance(ann, dict) and bool(ann.get("segmentation"))


def _categories(conv: Conversion, docs: list[tuple[str, dict[str, Any]]], *, where: str) -> dict[Any, int]:
    """COCO category id → class id, sorted by category id; files that disagree on a category are problems."""
    names: dict[int, tuple[str, str]] = {}  # id → (name, where it was first seen)
    for rel, doc in docs:
        for k, cat in enumerate(doc["categories"]):
            cid = cat.get("id") if isinstance(cat, dict) else None
            name = cat.get("name") if isinstance(cat, dict) else None
            if not isinstance(cid, int) or isinstance(cid, bool) or not isinstance(name, str):
                conv.problems.append(
                    f"{rel}: categories[{k}]: expected {{'id': <int>, 'name': <text>}}, got {cat!r:.80}"
                )
            elif cid in names and names[cid][0] != name:
                conv.problems.append(
                    f"{rel}: categories[{k}]: category {cid} is {name!r} here but {names[cid][0]!r} in "
                    f"{names[cid][1]}; the annotation files of one export must agree"
                )
            else:
                names.setdefault(cid, (name, rel))
    return conv.set_classes([(cid, name, name) for cid, (name, _) in sorted(names.items())], where=where)


def _images(
    conv: Conversion, rel: str, entries: list[Any], folder: Path, split: str
) -> dict[Any, tuple[Item, int, int] | None]:
    """image id → (item, width, height), or None for an image with a problem (reported here)."""
    by_id: dict[Any, tuple[Item, int, int] | None] = {}
    for k, img in enumerate(entries):
        image_id = img.get("id") if isinstance(img, dict) else None
        where = at(rel, "images", k, image_id)
        if not isinstance(img, dict) or not isinstance(image_id, int) or not isinstance(img.get("file_name"), str):
            conv.problems.append(f"{where()}: expected {{'id': <int>, 'file_name': <text>, 'width', 'height'}}")
            continue
        width: Any = img.get("width")
        height: Any = img.get("height")
        if image_id in by_id:
            conv.problems.append(f"{where()}: image id {image_id} is listed twice in images[]; give each its own id")
            continue
        by_id[image_id] = None
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height)):
            conv.problems.append(
                f"{where()}: width and height must be positive whole numbers, got {width!r}, {height!r}"
            )
            continue
        name = img["file_name"]
        if not os.path.isfile(os.path.join(folder, name)) and os.path.isfile(os.path.join(folder, split, name)):
            name = f"{split}/{name}"  # COCO's own layout: instances_val2017.json + images/val2017/
        item = conv.add_image(name, folder / name, where)
        if item is not None:
            by_id[image_id] = (item, width, height)
    return by_id


def _annotation(
    conv: Conversion, ann: dict[str, Any], cls: int, item: Item, width: int, height: int, where: Where
) -> None:
    if conv.task == "detect" or not ann.get("segmentation"):
        box = ann.get("bbox")
        if not isinstance(box, list) or len(box) != 4 or not all(type(v) in _NUMBERS for v in box):
            what = "bbox" if conv.task == "detect" else "bbox (it has no segmentation)"
            conv.problems.append(f"{where()}: {what} must be [x, y, width, height] in pixels, got {box!r:.80}")
            return
        x, y, w, h = box
        conv.box(item, cls, x, y, w, h, width, height, where)
        return
    seg = ann["segmentation"]
    if isinstance(seg, dict):
        parts = _rle_outlines(conv, seg, width, height, where)
        if parts is None:
            return
        if not parts:
            conv.invalid(where, "an RLE mask without any region of 3 or more pixels", "empty mask")
            return
    elif isinstance(seg, list) and all(isinstance(p, list) and all(type(v) in _NUMBERS for v in p) for p in seg):
        parts = seg
    else:
        conv.problems.append(
            f"{where()}: segmentation must be a list of polygons [[x1, y1, x2, y2, ...], ...] or an RLE object "
            f"{{'size': [h, w], 'counts': ...}}, got {seg!r:.80}"
        )
        return
    if len(parts) == 1:
        conv.polygon(item, cls, parts[0], width, height, where)
        return
    bad = [k for k, p in enumerate(parts) if len(p) < 6 or len(p) % 2]
    if bad:
        what = f"segmentation part {bad[0]} has {len(parts[bad[0]])} coordinates (needs 3+ x,y points)"
        conv.invalid(where, what, "empty or degenerate polygon")
        return
    conv.converted["multi-part outlines joined into one polygon"] += 1
    conv.polygon(item, cls, join_parts(parts), width, height, where)


_NUMBERS = frozenset({int, float})  # by exact type: True is no coordinate


def _rle_outlines(
    conv: Conversion, seg: dict[str, Any], width: int, height: int, where: Where
) -> list[list[float]] | None:
    """The outer contours of an RLE mask, or None when it cannot be decoded (a problem is recorded)."""
    import cv2
    from pycocotools import mask as rle_mask  # type: ignore[import-untyped]

    conv.libraries.update(opencv=cv2.__version__, pycocotools=_version("pycocotools"))
    counts, size = seg.get("counts"), seg.get("size")
    if size != [height, width]:
        conv.problems.append(f"{where()}: RLE size {size!r} is not the image's [height, width] [{height}, {width}]")
        return None
    try:
        if isinstance(counts, list):
            rle = rle_mask.frPyObjects(seg, height, width)
        elif isinstance(counts, str):
            rle = {"size": size, "counts": counts.encode("ascii")}
        else:
            raise ValueError("counts must be a string or a list of run lengths")
        mask = rle_mask.decode(rle)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        conv.problems.append(f"{where()}: RLE counts do not describe a {height}x{width} mask ({exc}); export it again")
        return None
    return outlines(mask)


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)
