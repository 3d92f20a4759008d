"""CVAT for images 1.1 exports: ``annotations.xml`` + ``images/``, or the XML file with ``--images``.

- Shapes: ``<box>`` (``xtl ytl xbr ybr``) and ``<polygon>`` (``points="x1,y1;x2,y2;..."``). The task is
  ``segment`` when the export has a polygon, else ``detect`` (``--task`` decides otherwise). A segment
  import writes each box as its 4-corner polygon (a rotated box as its rotated corners); a detect import
  writes each polygon as its bounding box and refuses rotated boxes. Both are counted in the warnings.
- Other shapes (``<polyline>``, ``<points>``, ``<mask>``, ``<ellipse>``, ``<cuboid>``, ``<skeleton>``,
  ``<tag>``) have no YOLO detect/segment form: they are left out and counted in the warnings.
- Classes: the labels declared in ``<meta>`` and those used, sorted (``--classes`` gives the order); a
  shape whose label ``<meta>`` does not declare is refused.
- A CVAT *for video* export (``<track>``) is refused: export the task as "CVAT for images 1.1".

Read with the standard library (expat), so every problem names the file and line of its element.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from mlflow_cv.data.importers.common import Conversion, ImportOptions, Item
from mlflow_cv.data.importers.files import Located, Node, image_files, load_xml, locate

__all__ = ["read"]

_SHAPES = frozenset({"box", "polygon"})
_OTHER = frozenset({"polyline", "points", "mask", "ellipse", "cuboid", "skeleton", "tag"})


def read(source: Path, *, images: Path | None, options: ImportOptions) -> tuple[Conversion, Located]:
    located = locate(source, images=images, fmt="CVAT", pattern="annotations.xml", what="annotations.xml")
    path = located.annotations[0]
    rel = located.rel(path)
    problems: list[str] = []
    root = load_xml(path, rel, problems)
    shapes = [s for img in root.findall("image") for s in img.children] if root is not None else []
    task = options.task or ("segment" if any(s.tag == "polygon" for s in shapes) else "detect")
    conv = Conversion("cvat", task=task, options=options)
    conv.problems += problems
    if root is None:
        return conv, located
    if root.tag != "annotations":
        conv.problems.append(f"{rel}:{root.line}: root element is <{root.tag}>, expected <annotations> (CVAT 1.1)")
        return conv, located
    for track in root.findall("track")[:1]:
        conv.problems.append(
            f"{rel}:{track.line}: <track> is CVAT for video; export the task as 'CVAT for images 1.1' instead"
        )
    meta = root.find("meta")
    labels = [n for n in meta.iter() if n.tag == "label"] if meta is not None else []
    declared = {name.text for label in labels for name in label.findall("name")}
    used = {s.attrib.get("label", "") for s in shapes if s.tag in _SHAPES}
    for name in sorted(used - declared if declared else set()):
        line = next(s.line for s in shapes if s.attrib.get("label") == name)
        conv.problems.append(f"{rel}:{line}: label {name!r} is not declared in <meta> labels; add it to the task")
    class_of = conv.set_names((declared | used) - {""}, where=rel)
    skipped: Counter[str] = Counter()
    for img in root.findall("image"):
        _image(conv, rel, img, located.images, class_of, skipped)
    for tag, n in sorted(skipped.items()):
        conv.warnings.append(f"{n} CVAT <{tag}> shape(s) not imported (YOLO {task} takes <box> and <polygon>)")
    conv.warn_unreferenced(image_files(located.images))
    return conv, located


def _image(
    conv: Conversion, rel: str, img: Node, folder: Path, class_of: dict[str, int], skipped: Counter[str]
) -> None:
    name = img.attrib.get("name", "")
    try:
        width, height = int(img.attrib.get("width", "")), int(img.attrib.get("height", ""))
    except ValueError:
        width = height = 0
    if not name or width <= 0 or height <= 0:
        conv.problems.append(f"{rel}:{img.line}: <image> needs name, and width and height as positive whole numbers")
        return
    item = conv.add_image(name, folder / name, lambda: f"{rel}:{img.line}: <image> {name!r}")
    if item is None:
        return
    for shape in img.children:
        if shape.tag in _SHAPES:
            _shape(conv, rel, shape, item, width, height, class_of)
        elif shape.tag in _OTHER:
            skipped[shape.tag] += 1


def _shape(
    conv: Conversion, rel: str, shape: Node, item: Item, width: int, height: int, class_of: dict[str, int]
) -> None:
    label = shape.attrib.get("label", "")

    def where() -> str:
        return f"{rel}:{shape.line}: <{shape.tag} label={label!r}>"

    cls = class_of.get(label)
    if cls is None:  # an undeclared label, or one outside --classes: reported once already
        if not label:
            conv.problems.append(f"{where()}: no label attribute; give the shape a label")
        return
    if shape.tag == "polygon":
        try:
            xy = [float(v) for pair in shape.attrib.get("points", "").split(";") if pair for v in pair.split(",")]
        except ValueError:
            conv.problems.append(f"{where()}: points must be 'x1,y1;x2,y2;...' numbers")
            return
        conv.polygon(item, cls, xy, width, height, where)
        return
    try:
        x1, y1, x2, y2 = (float(shape.attrib[k]) for k in ("xtl", "ytl", "xbr", "ybr"))
        rotation = float(shape.attrib.get("rotation", "0"))
    except (KeyError, ValueError):
        conv.problems.append(f"{where()}: needs numeric xtl, ytl, xbr, ybr")
        return
    about = ((x1 + x2) / 2, (y1 + y2) / 2)  # CVAT turns a box about its centre
    conv.rotated_box(item, cls, (x1, y1, x2, y2), rotation, about=about, iw=width, ih=height, where=where)
