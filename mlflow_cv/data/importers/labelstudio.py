"""Label Studio JSON exports (the "JSON" export: a list of tasks) with ``--images DIR``.

- Images: a task's ``data.image`` (``/data/upload/1/abc-img.jpg``, a URL, or local storage's
  ``/data/local-files/?d=dir/img.jpg``) is found in ``--images`` by its file name alone, so two tasks
  whose images share a file name are refused (rename one in the export's folder).
- Annotations: a task's completed annotation (``was_cancelled`` false); a task with none is not imported
  (counted in the warnings), one with several is refused (keep one: review the task). Predictions are
  ignored: they are a model's output, not labels.
- Shapes: ``rectanglelabels`` (``x, y, width, height`` in percent of ``original_width``/``original_height``,
  ``rotation`` in degrees about the top-left corner) and ``polygonlabels`` (``points`` in percent). The task
  is ``segment`` when a polygon is used, else ``detect`` (``--task`` decides otherwise); the other kind
  is converted as for CVAT. Other result types (choices, keypoints, brushes, text) are left out and counted.
- Classes: the labels used, sorted (``--classes`` gives the order).
"""

from __future__ import annotations

import os
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

from mlflow_cv.data.importers.common import Conversion, ImportOptions, Item, Where, at
from mlflow_cv.data.importers.files import Located, image_files, image_size, load_json, locate
from mlflow_cv.data.scan import IMAGE_SUFFIXES

__all__ = ["read"]

_SHAPES = {"rectanglelabels", "polygonlabels"}


def read(source: Path, *, images: Path | None, options: ImportOptions) -> tuple[Conversion, Located]:
    located = locate(source, images=images, fmt="Label Studio", pattern="*.json", what="a JSON export (*.json)")
    problems: list[str] = []
    picked: list[tuple[str, int, dict[str, Any], int, dict[str, Any]]] = []  # (file, index, task, ann no, ann)
    unannotated = 0
    for path in located.annotations:
        rel = located.rel(path)
        doc = load_json(path, rel, problems)
        if doc is None:
            continue
        if not isinstance(doc, list) or not all(isinstance(t, dict) and isinstance(t.get("data"), dict) for t in doc):
            problems.append(
                f"{rel}: expected Label Studio's JSON export: a list of tasks with 'data' and 'annotations' "
                "(JSON-MIN and CSV exports do not keep the shapes' geometry)"
            )
            continue
        for t, task in enumerate(doc):
            done = [
                (a, ann)
                for a, ann in enumerate(task.get("annotations") or [])
                if isinstance(ann, dict) and not ann.get("was_cancelled")
            ]
            if not done:
                unannotated += 1
            elif len(done) > 1:
                ids = ", ".join(repr(ann.get("id")) for _, ann in done)
                problems.append(
                    f"{rel}: [{t}] (task id {task.get('id')!r}): {len(done)} completed annotations ({ids}); "
                    "keep one per task (review it in Label Studio) and export again"
                )
            else:
                picked.append((rel, t, task, *done[0]))
    results = [r for *_, ann in picked for r in _results(ann)]
    used_polygons = any(r.get("type") == "polygonlabels" for r in results)
    conv = Conversion("labelstudio", task=options.task or ("segment" if used_polygons else "detect"), options=options)
    conv.problems += problems
    names = {n for r in results if r.get("type") in _SHAPES for n in _labels(r) if isinstance(n, str)}
    class_of = conv.set_names(names, where=str(source))
    skipped: Counter[str] = Counter()
    for rel, t, task, a, ann in picked:
        prefix = f"{rel}: [{t}] (task id {task.get('id')!r})"
        item = _image(conv, task, located.images, prefix)
        if item is None:
            continue
        for r, result in enumerate(_results(ann)):
            kind = result.get("type")
            if kind in _SHAPES:
                _shape(conv, result, item, class_of, at(prefix, f"annotations[{a}].result", r, result.get("id")))
            else:
                skipped[str(kind)] += 1
    if unannotated:
        conv.warnings.append(f"{unannotated} task(s) without a completed annotation were not imported")
    for kind, n in sorted(skipped.items()):
        conv.warnings.append(f"{n} Label Studio '{kind}' result(s) not imported (YOLO takes rectangles and polygons)")
    conv.warn_unreferenced(image_files(located.images))
    return conv, located


def _results(ann: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in ann.get("result") or [] if isinstance(r, dict)]


def _labels(result: dict[str, Any]) -> list[Any]:
    value = result.get("value")
    labels = value.get(result["type"]) if isinstance(value, dict) else None
    return labels if isinstance(labels, list) else []


def _image(conv: Conversion, task: dict[str, Any], folder: Path, prefix: str) -> Item | None:
    data = task["data"]
    ref = data.get("image")
    if not isinstance(ref, str):
        found = [v for v in data.values() if isinstance(v, str) and os.path.splitext(v)[1].lower() in IMAGE_SUFFIXES]
        if len(found) != 1:
            conv.problems.append(f"{prefix}: task data has no 'image' path (keys: {', '.join(map(str, data))})")
            return None
        ref = found[0]
    path = urllib.parse.urlsplit(ref)
    query = urllib.parse.parse_qs(path.query).get("d")  # local storage: /data/local-files/?d=dir/img.jpg
    name = os.path.basename(urllib.parse.unquote(query[0] if query else path.path))
    return conv.add_image(name, folder / name, lambda: f"{prefix}: image {ref!r} (looked up by its file name)")


def _shape(conv: Conversion, result: dict[str, Any], item: Item, class_of: dict[str, int], where: Where) -> None:
    labels = _labels(result)
    if len(labels) != 1 or not isinstance(labels[0], str):
        conv.problems.append(f"{where()}: expected exactly one label in value.{result['type']}, got {labels!r}")
        return
    cls = class_of.get(labels[0])
    if cls is None:  # not in --classes: reported once already
        return
    size = _size(result, item)
    if size is None:
        conv.problems.append(f"{where()}: no original_width/original_height, and {item.path} is not a readable image")
        return
    w, h = size
    value = result["value"]
    try:
        if result["type"] == "polygonlabels":
            points = value["points"]
            if not all(isinstance(p, list) and len(p) == 2 for p in points):
                raise ValueError("points must be [x, y] pairs")
            xy = [float(c) * (h if i else w) / 100 for p in points for i, c in enumerate(p)]
            conv.polygon(item, cls, xy, w, h, where)
            return
        x, y = float(value["x"]) * w / 100, float(value["y"]) * h / 100
        bw, bh = float(value["width"]) * w / 100, float(value["height"]) * h / 100
        rotation = float(value.get("rotation") or 0)
    except (KeyError, TypeError, ValueError):
        conv.problems.append(f"{where()}: value must hold numbers x, y, width, height (or points [[x, y], ...])")
        return
    # Label Studio turns a box about its top-left corner
    conv.rotated_box(item, cls, (x, y, x + bw, y + bh), rotation, about=(x, y), iw=w, ih=h, where=where)


def _size(result: dict[str, Any], item: Item) -> tuple[int, int] | None:
    w, h = result.get("original_width"), result.get("original_height")
    if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
        return w, h
    return image_size(item.path)
