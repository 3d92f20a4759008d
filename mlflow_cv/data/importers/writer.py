"""Writing an import: the YOLO-layout tree, its provenance, and the refusal when anything is wrong.

DEST gets exactly what ``mlflow-cv data snapshot DEST`` takes (see :mod:`mlflow_cv.data.scan`):

- detect / segment: ``images/<item>.<ext>`` (the source bytes), ``labels/<item>.txt`` (one per image,
  empty for an image without objects), ``data.yaml`` with ``names`` (class id → name);
- classify: ``<class>/<image>`` and ``data.yaml``;
- ``.mlflow-cv-import/`` (hidden, so a snapshot's scan leaves it out): ``provenance.json`` (canonical
  JSON, see :class:`Provenance`), ``sources/<path>`` (each annotation file, byte for byte) and, for VOC,
  ``object_flags.json`` (``difficult``/``truncated`` per label line, which YOLO labels cannot hold).

Nothing in it depends on time or on where SOURCE lives, so the same export gives the same bytes. The tree
is built in a hidden folder beside DEST and renamed to DEST at the end: a refusal, or a crash, leaves
DEST as it was.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_cv._version import __version__
from mlflow_cv.canonical import canonical_bytes
from mlflow_cv.errors import AnnotationError, DatasetError

if TYPE_CHECKING:
    from rich.console import RenderableType

    from mlflow_cv.data.importers.common import Conversion
    from mlflow_cv.data.importers.files import Located

__all__ = [
    "LINKS",
    "PROVENANCE_DIR",
    "CategoryEntry",
    "ImportResult",
    "Provenance",
    "SourceEntry",
    "check_dest",
    "write_tree",
]

LINKS = ("copy", "hardlink")
PROVENANCE_DIR = ".mlflow-cv-import"
PROVENANCE_FILE = "provenance.json"
FLAGS_FILE = "object_flags.json"
SCHEMA = 1


@dataclass(frozen=True)
class CategoryEntry:
    """How one of the export's categories became a class: ``source_id`` is the export's id (COCO's category
    id, a mask's pixel value or ``"R,G,B"`` colour; None where labels have only names)."""

    source_id: int | str | None
    source_name: str
    class_id: int
    name: str


@dataclass(frozen=True)
class SourceEntry:
    """An annotation file of the export: path relative to SOURCE, SHA-256 and size of its bytes."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Provenance:
    """What ``.mlflow-cv-import/provenance.json`` records of an import (DESIGN §2b)."""

    format: str
    task: str
    converter: str
    converter_version: str
    libraries: Mapping[str, str]  # distribution name → version, of the libraries this format's importer uses
    category_map: tuple[CategoryEntry, ...]
    sources: tuple[SourceEntry, ...]
    options: Mapping[str, Any]  # the options that change the output, defaults included
    images: int
    objects: int
    clipped: Mapping[str, int]  # shape kind → how many were clipped to the image
    dropped: Mapping[str, int]  # reason → how many objects were left out
    warnings: tuple[str, ...]
    sidecars: tuple[str, ...] = ()  # other files in .mlflow-cv-import/ (object_flags.json)
    schema: int = SCHEMA

    @property
    def class_map(self) -> dict[int, str]:
        return {c.class_id: c.name for c in self.category_map}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "format": self.format,
            "task": self.task,
            "converter": self.converter,
            "converter_version": self.converter_version,
            "libraries": dict(self.libraries),
            "category_map": [vars(c) for c in self.category_map],
            "sources": [vars(s) for s in self.sources],
            "options": dict(self.options),
            "images": self.images,
            "objects": self.objects,
            "clipped": dict(self.clipped),
            "dropped": dict(self.dropped),
            "warnings": list(self.warnings),
            "sidecars": list(self.sidecars),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Provenance:
        if doc.get("schema") != SCHEMA:
            raise DatasetError(f"provenance schema {doc.get('schema')!r} is not {SCHEMA}; import the export again")
        try:
            return cls(
                format=doc["format"],
                task=doc["task"],
                converter=doc["converter"],
                converter_version=doc["converter_version"],
                libraries=dict(doc["libraries"]),
                category_map=tuple(CategoryEntry(**c) for c in doc["category_map"]),
                sources=tuple(SourceEntry(**s) for s in doc["sources"]),
                options=dict(doc["options"]),
                images=doc["images"],
                objects=doc["objects"],
                clipped=dict(doc["clipped"]),
                dropped=dict(doc["dropped"]),
                warnings=tuple(doc["warnings"]),
                sidecars=tuple(doc["sidecars"]),
            )
        except (KeyError, TypeError) as exc:
            raise DatasetError(
                f"provenance record is incomplete or malformed ({exc}); import the export again"
            ) from exc

    @classmethod
    def from_dir(cls, dest: Path) -> Provenance:
        """The provenance of the imported tree at ``dest``."""
        import json

        path = dest / PROVENANCE_DIR / PROVENANCE_FILE
        try:
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise DatasetError(f"{path}: no provenance: {dest} was not made by `mlflow-cv data import`") from None
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path}: cannot read provenance: {exc}") from exc
        if not isinstance(doc, Mapping):
            raise DatasetError(f"{path}: expected a JSON object")
        return cls.from_dict(doc)


@dataclass(frozen=True)
class ImportResult:
    """What ``mlflow-cv data import`` wrote: counts, the class map, and what was clipped or dropped."""

    dest: Path
    format: str
    task: str
    images: int
    objects: int
    classes: tuple[str, ...]
    clipped: Mapping[str, int]
    dropped: Mapping[str, int]
    warnings: tuple[str, ...]

    def __rich__(self) -> RenderableType:
        from mlflow_cv.render import lines

        shown = ", ".join(f"{i}={n}" for i, n in enumerate(self.classes[:12]))
        more = f", … ({len(self.classes)} in all)" if len(self.classes) > 12 else ""
        out = [
            f"imported {self.format} export to {self.dest}: {self.images} images, {self.objects} objects ({self.task})",
            f"  classes: {shown}{more}",
        ]
        if self.clipped:
            out.append(f"  clipped to the image: {_counts(self.clipped)}")
        if self.dropped:
            out.append(f"  dropped: {_counts(self.dropped)}")
        out += [f"  note: {w}" for w in self.warnings]
        out.append(
            f"  provenance in {PROVENANCE_DIR}/{PROVENANCE_FILE}; snapshot it with "
            f"`mlflow-cv data snapshot {self.dest} --task {self.task} --id DS-…`"
        )
        return lines(out)


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))


def check_dest(dest: Path, *, reads: Sequence[Path]) -> None:
    """Refuse a DEST that exists and is not an empty folder, or that lies inside a folder the import reads."""
    if dest.exists() or dest.is_symlink():
        if not dest.is_dir() or dest.is_symlink():
            raise DatasetError(f"{dest}: exists and is not a folder; give a new or empty folder as DEST")
        if any(os.scandir(dest)):
            raise DatasetError(f"{dest}: is not empty; give a new or empty folder as DEST (an import never merges)")
    target = dest.resolve()
    for folder in reads:
        if target.is_relative_to(folder.resolve()):
            raise DatasetError(f"{dest}: is inside {folder}, which the import reads; put DEST somewhere else")


def write_tree(conv: Conversion, dest: Path, *, source: Path, located: Located, link: str) -> ImportResult:
    """Write ``conv`` to ``dest`` (see the module doc), or raise :class:`AnnotationError` with every problem.

    ``located``: where the export is (DEST may not lie inside a folder it reads; its annotation files are
    recorded and copied). ``link``: ``copy`` the
    images, or ``hardlink`` them where the file system allows (else copy): the bytes are the same, a link
    is much faster to make, but an in-place edit of one file then shows in the other."""
    if conv.problems:
        raise AnnotationError(
            f"{source}: {len(conv.problems)} problem(s) in the {conv.fmt} export; nothing was written to {dest}",
            problems=conv.problems,
        )
    if not conv.items:
        raise AnnotationError(f"{source}: the {conv.fmt} export names no image; nothing was written to {dest}")
    check_dest(dest, reads=[located.images, *([located.root] if source.is_dir() else [])])
    warnings = (*conv.warnings, *(f"{n} {what} ({conv.task} import)" for what, n in sorted(conv.converted.items())))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.import-"))
    try:
        os.chmod(tmp, 0o755)
        sidecars = _write_items(conv, tmp, link=link)
        meta = tmp / PROVENANCE_DIR
        meta.mkdir(exist_ok=True)
        sources = tuple(_copy_source(located.rel(p), p, meta / "sources") for p in located.annotations)
        provenance = Provenance(
            format=conv.fmt,
            task=conv.task,
            converter=f"mlflow-cv {conv.fmt} importer",
            converter_version=__version__,
            libraries=dict(conv.libraries),
            category_map=tuple(CategoryEntry(**c) for c in conv.category_map),
            sources=sources,
            options=conv.options.recorded(conv.fmt),
            images=len(conv.items),
            objects=conv.objects,
            clipped=dict(conv.clipped),
            dropped=dict(conv.dropped),
            warnings=warnings,
            sidecars=sidecars,
        )
        (meta / PROVENANCE_FILE).write_bytes(canonical_bytes(provenance.to_dict()))
        _write_data_yaml(tmp / "data.yaml", conv)
        try:
            os.rename(tmp, dest)  # atomic; replaces DEST only while it is an empty folder
        except OSError as exc:
            raise DatasetError(
                f"{dest}: cannot be replaced by the import ({exc.strerror}); is it still empty?"
            ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ImportResult(
        dest=dest,
        format=conv.fmt,
        task=conv.task,
        images=len(conv.items),
        objects=conv.objects,
        classes=tuple(conv.names),
        clipped=dict(conv.clipped),
        dropped=dict(conv.dropped),
        warnings=warnings,
    )


def _write_items(conv: Conversion, tmp: Path, *, link: str) -> tuple[str, ...]:
    made: set[str] = set()

    def folder_of(rel: str) -> str:
        parent = os.path.join(tmp, os.path.dirname(rel))
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        return os.path.join(tmp, rel)

    flags: dict[str, list[dict[str, Any]]] = {}
    classify = conv.task == "classify"
    for item_id, item in sorted(conv.items.items()):
        _place(item.path, folder_of(item.rel if classify else f"images/{item.rel}"), link=link)
        if not classify:
            with open(folder_of(f"labels/{item_id}.txt"), "w", encoding="utf-8", newline="\n") as f:
                f.writelines(line + "\n" for line in item.lines)
        if item.flags:
            flags[item_id] = item.flags
    if not flags:
        return ()
    path = tmp / PROVENANCE_DIR / FLAGS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(canonical_bytes(flags))
    return (FLAGS_FILE,)


def _place(source: Path, target: str, *, link: str) -> None:
    if link == "hardlink":
        try:
            os.link(source, target)
            return
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):  # another file system, or not allowed
                raise
    shutil.copyfile(source, target)


def _copy_source(rel: str, path: Path, into: Path) -> SourceEntry:
    data = path.read_bytes()
    target = into / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return SourceEntry(path=rel, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def _write_data_yaml(path: Path, conv: Conversion) -> None:
    import yaml

    body = yaml.safe_dump({"names": dict(enumerate(conv.names))}, sort_keys=False, allow_unicode=True)
    header = f"# Written by `mlflow-cv data import {conv.fmt}`: the class map. Provenance: {PROVENANCE_DIR}/\n"
    path.write_text(header + body, encoding="utf-8")
