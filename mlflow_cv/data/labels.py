"""Understanding labels: YOLO txt lines per task, and where the class map comes from.

Tasks and their label formats:

- ``detect``   YOLO txt, one object per line: ``class cx cy w h`` (normalized to 0..1)
- ``segment``  YOLO txt: ``class x1 y1 x2 y2 ... xn yn`` (a polygon of at least 3 points)
- ``pose``     YOLO txt: ``class cx cy w h`` then ``kpt_shape[0]`` keypoints of 2 or 3 values each
- ``classify`` no label files: one folder per class

Problems are reported as ``path:line: what is wrong`` so an editor can jump to them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from mlflow_cv.errors import DatasetError, LabelError

__all__ = [
    "LABEL_FORMATS",
    "TASKS",
    "Task",
    "load_class_map",
    "parse_class_list",
    "parse_label_text",
]


class Task(StrEnum):
    """What a dataset is labelled for and a model predicts (its value is the name Ultralytics uses)."""

    detect = "detect"
    segment = "segment"
    pose = "pose"
    classify = "classify"


TASKS = tuple(t.value for t in Task)
LABEL_FORMATS = {"detect": "yolo", "segment": "yolo", "pose": "yolo", "classify": "folders"}


def parse_label_text(
    text: str, *, path: str, task: str, kpt_shape: tuple[int, int] | None = None
) -> tuple[dict[int, int], list[str]]:
    """Parse one YOLO label file; return (instances per class id, problems).

    Class ids are checked against the class map by the caller, which knows it; everything that can be
    judged from the line alone is checked here.
    """
    counts: dict[int, int] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        problem = _check_line(line.split(), task=task, kpt_shape=kpt_shape)
        if isinstance(problem, str):
            problems.append(f"{path}:{number}: {problem}")
        else:
            counts[problem] = counts.get(problem, 0) + 1
    return counts, problems


def _check_line(fields: list[str], *, task: str, kpt_shape: tuple[int, int] | None) -> int | str:
    """The class id of a valid line, or a description of what is wrong with it."""
    try:
        class_id = int(fields[0])
    except ValueError:
        return f"class id {fields[0]!r} is not a whole number"
    if class_id < 0:
        return f"class id {class_id} is negative"
    try:
        values = [float(v) for v in fields[1:]]
    except ValueError:
        return "coordinates must be numbers"
    if not all(math.isfinite(v) for v in values):
        return "coordinates must be finite numbers"
    if task == "detect":
        if len(values) != 4:
            hint = " (a polygon? use --task segment)" if len(values) > 4 and len(values) % 2 == 0 else ""
            return f"expected 5 values 'class cx cy w h', got {len(fields)}{hint}"
        return _check_box(values) or class_id
    if task == "segment":
        if len(values) < 6 or len(values) % 2:
            return f"expected 'class x1 y1 x2 y2 x3 y3 ...' (at least 3 points), got {len(fields)} values"
        return _check_range(values) or class_id
    if task == "pose":
        if kpt_shape is None:
            return "pose labels need kpt_shape (set kpt_shape: [K, 2|3] in data.yaml)"
        expected = 5 + kpt_shape[0] * kpt_shape[1]
        if len(fields) != expected:
            return (
                f"expected {expected} values 'class cx cy w h' + {kpt_shape[0]}x{kpt_shape[1]} keypoint "
                f"values (kpt_shape {list(kpt_shape)}), got {len(fields)}"
            )
        return _check_box(values[:4]) or _check_keypoints(values[4:], kpt_shape) or class_id
    raise DatasetError(f"task {task!r} has no label files: expected one of detect, segment, pose")


def _check_range(values: list[float]) -> str:
    bad = [v for v in values if not 0.0 <= v <= 1.0]
    return f"coordinates must be normalized to 0..1, got {bad[0]:g}" if bad else ""


def _check_box(box: list[float]) -> str:
    _, _, w, h = box
    if w <= 0 or h <= 0:
        return f"box width and height must be positive, got w={w:g} h={h:g}"
    return _check_range(box)


def _check_keypoints(values: list[float], kpt_shape: tuple[int, int]) -> str:
    dims = kpt_shape[1]
    coords = [v for i, v in enumerate(values) if dims == 2 or i % 3 != 2]
    # Unlabelled keypoints are written as 0 0 (0); visible ones must lie inside the image.
    return _check_range(coords)


def parse_class_list(text: str) -> dict[int, str]:
    """``"circle,square,triangle"`` → ``{0: "circle", 1: "square", 2: "triangle"}``."""
    names = [n.strip() for n in text.split(",")]
    return _validated({i: n for i, n in enumerate(names)}, source="--classes")


def load_class_map(root: Path) -> tuple[dict[int, str] | None, dict[str, Any]]:
    """Read the class map from ``data.yaml`` (``names``) or ``classes.txt`` in ``root``.

    Returns ``(class_map or None, extra)`` where ``extra`` holds other settings found in data.yaml
    (``kpt_shape``). Two sources that disagree are an error, never a silent pick.
    """
    import yaml  # here: importing the data modules (verify, the CLI) does not pay for it

    from_yaml: dict[int, str] | None = None
    extra: dict[str, Any] = {}
    data_yaml = next((root / n for n in ("data.yaml", "data.yml") if (root / n).is_file()), None)
    if data_yaml is not None:
        try:
            doc = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise DatasetError(f"{data_yaml}: cannot read YAML: {exc}") from exc
        if not isinstance(doc, Mapping):
            raise DatasetError(f"{data_yaml}: expected a mapping with 'names', got {type(doc).__name__}")
        if "names" in doc:
            from_yaml = _names_from_yaml(doc["names"], source=str(data_yaml))
        if "kpt_shape" in doc:
            extra["kpt_shape"] = doc["kpt_shape"]
    from_txt: dict[int, str] | None = None
    classes_txt = root / "classes.txt"
    if classes_txt.is_file():
        try:
            lines = classes_txt.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{classes_txt}: cannot read: {exc}") from exc
        from_txt = _validated(
            {i: n.strip() for i, n in enumerate(x for x in lines if x.strip())}, source=str(classes_txt)
        )
    if from_yaml is not None and from_txt is not None and from_yaml != from_txt:
        raise DatasetError(
            f"{data_yaml} and {classes_txt} disagree on the class map: "
            f"{from_yaml} vs {from_txt}; keep one of them or make them equal"
        )
    return (from_yaml if from_yaml is not None else from_txt), extra


def _names_from_yaml(names: Any, *, source: str) -> dict[int, str]:
    if isinstance(names, list):
        return _validated({i: str(n) for i, n in enumerate(names)}, source=source)
    if isinstance(names, Mapping):
        try:
            return _validated({int(k): str(v) for k, v in names.items()}, source=source)
        except (TypeError, ValueError):
            raise DatasetError(f"{source}: 'names' keys must be class ids 0..N-1") from None
    raise DatasetError(f"{source}: 'names' must be a list or a mapping of id to name")


def _validated(class_map: dict[int, str], *, source: str) -> dict[int, str]:
    if not class_map:
        raise DatasetError(f"{source}: the class map is empty; list at least one class")
    if sorted(class_map) != list(range(len(class_map))):
        raise DatasetError(f"{source}: class ids must be 0..{len(class_map) - 1} without gaps")
    names = list(class_map.values())
    if any(not n for n in names):
        raise DatasetError(f"{source}: class names must not be empty")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DatasetError(f"{source}: duplicate class names {duplicates}; each class needs its own name")
    return dict(sorted(class_map.items()))


def check_class_ids(counts_by_file: Mapping[str, Mapping[int, int]], class_map: Mapping[int, str]) -> None:
    """Raise :class:`LabelError` listing every label file that uses a class id outside the map."""
    problems = [
        f"{path}: class id {cid} is not in the class map (0..{len(class_map) - 1})"
        for path, counts in sorted(counts_by_file.items())
        for cid in sorted(counts)
        if cid not in class_map
    ]
    if problems:
        raise LabelError(f"{len(problems)} label problem(s): class ids outside the class map", problems=problems)
