"""Pascal VOC detection exports: ``Annotations/*.xml`` (one file per image) + ``JPEGImages/`` (or ``--images``).

- Classes: the ``<name>`` of every object, sorted (``--classes`` gives the order instead and refuses other
  names), recorded in the provenance.
- Boxes: ``<bndbox>`` ``xmin ymin xmax ymax`` read as the corners' pixel coordinates, as CVAT, labelImg
  and most tools write them (the VOC devkit's 1-based pixel indices would move a box by under a pixel).
- Image size: ``<size>``; when it is missing or 0 (some tools write that) the image file's header says.
- ``difficult`` and ``truncated`` cannot live in a YOLO label: they are kept per object in
  ``.mlflow-cv-import/object_flags.json`` (``{item: [{"line": n, "difficult": …, "truncated": …}]}``, only
  objects with a flag set), or difficult objects are dropped and counted with ``--voc-drop-difficult``.

Read with the standard library (expat) so that each problem names the file and line; no library adds to that.
"""

from __future__ import annotations

from pathlib import Path

from mlflow_cv.data.importers.common import Conversion, ImportOptions, Item, fixed
from mlflow_cv.data.importers.files import Located, Node, image_files, image_size, load_xml, locate

__all__ = ["read"]

_FLAG = {"0": False, "1": True}


def read(source: Path, *, images: Path | None, options: ImportOptions) -> tuple[Conversion, Located]:
    located = locate(
        source,
        images=images,
        fmt="Pascal VOC",
        pattern="Annotations/**/*.xml",
        what="Annotations/*.xml",
        default_images="JPEGImages",
    )
    conv = Conversion("voc", task="detect", options=options)
    trees: list[tuple[str, Node]] = []
    for path in located.annotations:
        rel = located.rel(path)
        root = load_xml(path, rel, conv.problems)
        if root is None:
            continue
        if root.tag != "annotation":
            conv.problems.append(f"{rel}:{root.line}: root element is <{root.tag}>, expected <annotation> (VOC)")
            continue
        trees.append((rel, root))
    names = {(o.findtext("name") or "") for _, root in trees for o in root.findall("object")}
    class_of = conv.set_names(names - {""}, where=str(source))
    sized_from_file = 0
    for rel, root in trees:
        filename = root.findtext("filename")
        if not filename:
            conv.problems.append(f"{rel}:{root.line}: <annotation> has no <filename>; add the image's file name")
            continue
        item = conv.add_image(filename, located.images / filename, fixed(f"{rel}:{root.line}"))
        if item is None:
            continue
        size = _size(root)
        if size is None:
            size = image_size(item.path)
            sized_from_file += 1
            if size is None:
                conv.problems.append(f"{rel}:{root.line}: no <size> and {item.path} is not a readable image")
                continue
        for k, obj in enumerate(root.findall("object")):
            _object(conv, rel, k, obj, item, size, class_of)
    if sized_from_file:
        conv.warnings.append(f"{sized_from_file} XML file(s) without a <size>: the image file's size was used")
    conv.warn_unreferenced(image_files(located.images))
    return conv, located


def _size(root: Node) -> tuple[int, int] | None:
    size = _numbers(root.find("size"), ("width", "height"))
    if size is None or not all(v > 0 and v == int(v) for v in size):
        return None
    return int(size[0]), int(size[1])


def _numbers(node: Node | None, tags: tuple[str, ...]) -> list[float] | None:
    """The numbers in ``node``'s children ``tags``, or None when one is missing or not a number."""
    if node is None:
        return None
    try:
        return [float(node.findtext(t) or "") for t in tags]
    except ValueError:
        return None


def _object(
    conv: Conversion, rel: str, k: int, obj: Node, item: Item, size: tuple[int, int], class_of: dict[str, int]
) -> None:
    name = obj.findtext("name") or ""

    def where() -> str:
        return f"{rel}:{obj.line}: <object> {k} ({name!r})"

    if not name:
        conv.problems.append(f"{where()}: no <name>; give the object its class name")
        return
    flags = {}
    for flag in ("difficult", "truncated"):
        text = obj.findtext(flag) or "0"
        if text not in _FLAG:
            conv.problems.append(f"{where()}: <{flag}> must be 0 or 1, got {text!r}")
            return
        flags[flag] = _FLAG[text]
    if flags["difficult"] and conv.options.voc_drop_difficult:
        conv.dropped["difficult (--voc-drop-difficult)"] += 1
        return
    box = _numbers(obj.find("bndbox"), ("xmin", "ymin", "xmax", "ymax"))
    if box is None:
        conv.problems.append(f"{where()}: expected <bndbox> with numeric <xmin> <ymin> <xmax> <ymax>")
        return
    cls = class_of.get(name)
    if cls is None:  # not in --classes: reported once per name
        return
    x1, y1, x2, y2 = box
    if conv.box(item, cls, x1, y1, x2 - x1, y2 - y1, *size, where) and (flags["difficult"] or flags["truncated"]):
        item.flags.append({"line": len(item.lines), **flags})
