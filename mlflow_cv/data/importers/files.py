"""Reading an export's files: where its annotations and images are, and JSON or XML read so that every
problem names the file and the line.

XML is read with the standard library's expat parser into small :class:`Node` trees that keep each
element's line number (ElementTree drops them), and refuses entity declarations, which no labelling
tool writes and which are the way XML bombs are built.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow_cv.data.scan import IMAGE_SUFFIXES
from mlflow_cv.errors import AnnotationError

__all__ = ["Located", "Node", "image_files", "image_size", "load_json", "load_xml", "locate"]


@dataclass(frozen=True)
class Located:
    """Where an export is: ``root`` (what recorded paths are relative to), its annotation files, its images."""

    root: Path
    annotations: tuple[Path, ...]
    images: Path

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def locate(
    source: Path, *, images: Path | None, fmt: str, pattern: str, what: str, default_images: str = "images"
) -> Located:
    """The annotation files of ``source``: the file itself, or the files matching ``pattern`` in the folder.

    Images are in ``images`` when given, else in the folder's ``default_images``; an annotation file given
    alone needs ``images``.
    """
    if source.is_file():
        if images is None:
            raise AnnotationError(
                f"{source}: an annotation file alone does not say where its images are; pass --images DIR "
                f"(or give the export's folder, with {what} and {default_images}/)"
            )
        return Located(source.parent, (source,), _images_dir(images))
    if not source.is_dir():
        raise AnnotationError(f"{source}: no such file or folder; give the {fmt} export's folder or its {what}")
    found = tuple(sorted(p for p in source.glob(pattern) if p.is_file() and not p.name.startswith(".")))
    if not found:
        raise AnnotationError(f"{source}: no {what} found (looked for {pattern}); is this a {fmt} export?")
    return Located(source, found, _images_dir(images or source / default_images))


def _images_dir(path: Path) -> Path:
    if not path.is_dir():
        raise AnnotationError(f"{path}: images folder does not exist; pass --images DIR with the export's images")
    return path


def load_json(path: Path, rel: str, problems: list[str]) -> Any:
    """The JSON document in ``path``, or None with the reason (``file:line:column``) added to ``problems``."""
    try:
        return json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        problems.append(f"{rel}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); fix the file or export it again")
    except UnicodeDecodeError as exc:
        problems.append(f"{rel}: not UTF-8 text ({exc.reason} at byte {exc.start}); export it again as UTF-8")
    except OSError as exc:
        problems.append(f"{rel}: cannot read: {exc.strerror}")
    return None


@dataclass(eq=False)
class Node:
    """One XML element: its tag, attributes, stripped text, children and the line it starts on."""

    tag: str
    attrib: dict[str, str]
    line: int
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def find(self, tag: str) -> Node | None:
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list[Node]:
        return [c for c in self.children if c.tag == tag]

    def findtext(self, tag: str) -> str | None:
        child = self.find(tag)
        return None if child is None else child.text

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.iter()


def load_xml(path: Path, rel: str, problems: list[str]) -> Node | None:
    """The root element of the XML file ``path``, or None with the reason (``file:line:column``) in ``problems``."""
    from xml.parsers import expat

    parser = expat.ParserCreate()
    parser.buffer_text = True
    stack: list[Node] = []
    texts: list[list[str]] = []
    roots: list[Node] = []

    def start(tag: str, attrib: dict[str, str]) -> None:
        node = Node(tag, attrib, parser.CurrentLineNumber)
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)
        texts.append([])

    def end(_tag: str) -> None:
        stack.pop().text = "".join(texts.pop()).strip()

    def chars(data: str) -> None:
        if texts:
            texts[-1].append(data)

    def no_entities(*_args: object) -> None:
        raise ValueError("entity declarations are not accepted")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.EntityDeclHandler = no_entities
    try:
        with open(path, "rb") as f:
            parser.ParseFile(f)
    except expat.ExpatError as exc:
        problems.append(
            f"{rel}:{exc.lineno}:{exc.offset + 1}: not well-formed XML ({expat.ErrorString(exc.code)}); "
            "fix the file or export it again"
        )
        return None
    except ValueError as exc:
        problems.append(f"{rel}:{parser.CurrentLineNumber}: {exc}; export the file again without a DOCTYPE")
        return None
    except OSError as exc:
        problems.append(f"{rel}: cannot read: {exc.strerror}")
        return None
    return roots[0]


def image_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` from the image file's header (the pixels are not decoded); None if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, UnidentifiedImageError):
        return None


def image_files(folder: Path) -> set[str]:
    """The relative POSIX paths of the image files under ``folder`` (hidden ones left out)."""
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        prefix = Path(dirpath).relative_to(folder).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        found.update(
            prefix + n for n in filenames if not n.startswith(".") and os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES
        )
    return found
