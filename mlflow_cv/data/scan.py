"""Walking a dataset's working files safely, and naming what each file is.

Layouts (``from-dirs`` adds a split folder right below ``images/``/``labels/`` or the root):

- detect / segment / pose: ``images/<item>.<ext>`` with ``labels/<item>.txt`` beside the mirror path
- classify: ``<class>/<name>.<ext>`` (item id ``<class>/<name>``)

``data.yaml``, ``data.yml`` and ``classes.txt`` at the root hold the class map; hidden files and
folders are ignored; any other file is listed as skipped so nothing is left out silently.
"""

from __future__ import annotations

import functools
import os
import stat as stat_mod
from dataclasses import dataclass
from pathlib import Path

from mlflow_cv.data.hashing import FileStat, StatTuple
from mlflow_cv.errors import DatasetError, UnsafePathError

__all__ = ["IMAGE_SUFFIXES", "SourceFile", "SourceScan", "check_relpath", "scan_source", "walk_files", "walk_tree"]

IMAGE_SUFFIXES = frozenset({".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm", ".heic"})
META_FILES = frozenset({"data.yaml", "data.yml", "classes.txt"})


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One image or label file of the working tree, with what :func:`scan_source` learned of it."""

    path: str  # relative POSIX path
    kind: str  # "image" | "label"
    item: str  # item id: the image path without root folder, split folder and suffix
    split: str | None  # the split folder, for from-dirs layouts
    stat: FileStat


@dataclass(frozen=True)
class SourceScan:
    files: tuple[SourceFile, ...]
    skipped: tuple[str, ...]


def check_relpath(path: str) -> str:
    """Return ``path`` if it is a clean relative POSIX path inside its root, else raise."""
    if not path or "\\" in path or "\x00" in path or any(p in ("", ".", "..") for p in path.split("/")):
        raise UnsafePathError(f"{path!r} is not a clean relative path inside the dataset (no '..', no '/' start)")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafePathError(f"{path!r} is not valid UTF-8; rename the file") from None
    return path


def walk_files(root: Path) -> list[tuple[str, FileStat]]:
    """``(relative POSIX path, stat)`` of every non-hidden regular file under ``root``, unordered
    (see :func:`walk_tree`)."""
    rels, stats = walk_tree(root)
    return [(rel, _new_stat(st)) for rel, st in zip(rels, stats, strict=True)]


def walk_tree(root: Path) -> tuple[list[str], list[StatTuple]]:
    """The relative POSIX paths of every non-hidden regular file under ``root`` and their
    ``(inode, size, mtime_ns)``, as two parallel lists in walk order (the same for an unchanged tree).

    File symlinks are followed only when they resolve inside ``root``; directory symlinks, symlinks
    pointing outside and non-UTF-8 names raise :class:`UnsafePathError` naming the path. This is the
    hot path of every verify: one ``stat`` per file and as little Python as possible around it (plain
    tuples, and a regular file, the common case, is known from the directory entry alone).
    """
    rels: list[str] = []
    stats: list[StatTuple] = []
    add_rel, add_stat = rels.append, stats.append
    stack = [("", os.fspath(root))]
    while stack:
        prefix, directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError as exc:
            raise DatasetError(f"{directory}: cannot list folder: {exc.strerror}") from exc
        for entry in entries:
            name = entry.name
            if name[0] == ".":
                continue
            if not name.isascii():
                _check_utf8(prefix + name, entry.path)
            if entry.is_file(follow_symlinks=False):
                try:
                    st = entry.stat()
                except OSError as exc:
                    raise DatasetError(f"{prefix}{name}: cannot stat: {exc.strerror}") from exc
            elif entry.is_dir(follow_symlinks=False):
                stack.append((f"{prefix}{name}/", entry.path))
                continue
            else:
                st = _odd_entry(prefix + name, entry, root)
            add_rel(prefix + name)
            add_stat((st.st_ino, st.st_size, st.st_mtime_ns))
    return rels, stats


def _odd_entry(rel: str, entry: os.DirEntry[str], root: Path) -> os.stat_result:
    """The stat of a symlink's target inside ``root``; anything else that is not a regular file raises."""
    if entry.is_symlink():
        _check_symlink(rel, entry.path, root.resolve())
    try:
        st = entry.stat()
    except OSError as exc:
        raise DatasetError(f"{rel}: cannot stat: {exc.strerror}") from exc
    if not stat_mod.S_ISREG(st.st_mode):
        raise DatasetError(f"{rel}: not a regular file")
    return st


_new_stat = functools.partial(tuple.__new__, FileStat)  # FileStat(...) without Python-level __new__


def _check_utf8(rel: str, path: str) -> None:
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafePathError(f"{os.fsencode(path)!r}: file name is not valid UTF-8; rename it") from None


def _check_symlink(rel: str, path: str, real_root: Path) -> None:
    try:
        target = Path(path).resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise UnsafePathError(f"{rel}: symlink cannot be resolved (dangling or a loop): {exc}") from None
    if not target.is_relative_to(real_root):
        raise UnsafePathError(f"{rel}: symlink points outside the dataset, to {target}")
    if target.is_dir():
        raise UnsafePathError(f"{rel}: directory symlinks are not supported; use a real folder")


def classify_path(rel: str, *, task: str, from_dirs: bool) -> tuple[str, str, str | None] | None:
    """``(kind, item id, split folder)`` of a dataset file, or None for files that are not data.

    Plain string operations: this runs once per file on every verify, so it must cost next to nothing.
    """
    last = rel.rfind("/")
    dot = rel.rfind(".")
    suffix = rel[dot:].lower() if dot > last + 1 else ""
    if task == "classify":
        if suffix not in IMAGE_SUFFIXES:
            return None
        kind, body = "image", rel
    else:
        head, _, body = rel.partition("/")
        if head == "images" and suffix in IMAGE_SUFFIXES:
            kind = "image"
        elif head == "labels" and suffix == ".txt":
            kind = "label"
        else:
            return None
    split = None
    if from_dirs:
        split, _, body = body.partition("/")
    depth = body.count("/")
    if not body or (task == "classify" and depth != 1):
        where = " below a split folder (train/val/test)" if from_dirs else ""
        shape = "CLASS/IMAGE" if task == "classify" else "images/NAME or labels/NAME"
        raise DatasetError(f"{rel}: expected {shape}{where}")
    return kind, body[: len(body) - len(suffix)], split


def scan_source(root: Path, *, task: str, from_dirs: bool) -> SourceScan:
    """Find the images and labels of a dataset; raise listing every duplicate or orphan found."""
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder does not exist")
    images: dict[str, SourceFile] = {}  # by item id
    labels: list[SourceFile] = []
    skipped: list[str] = []
    problems: list[str] = []
    for rel, stat in sorted(walk_files(root)):
        try:
            found = classify_path(rel, task=task, from_dirs=from_dirs)
        except DatasetError as exc:
            problems.append(exc.message)
            continue
        if found is None:
            if rel not in META_FILES:
                skipped.append(rel)
            continue
        kind, item, split = found
        f = SourceFile(rel, kind, item, split, stat)
        if kind == "label":
            labels.append(f)
        elif item in images:
            problems.append(f"{images[item].path} and {rel}: two images with the same item id {item!r}")
        else:
            images[item] = f
    image_stems = {f.path[len("images/") : f.path.rfind(".")] for f in images.values()}
    for label in labels:
        stem = label.path[len("labels/") : -len(".txt")]
        if stem not in image_stems:
            problems.append(f"{label.path}: label without an image (expected images/{stem}.<ext>)")
    if problems:
        raise DatasetError(f"{root}: {len(problems)} problem(s) with the dataset's files", problems=problems)
    if not images:
        expected = "CLASS/IMAGE files" if task == "classify" else "images/ with image files"
        raise DatasetError(f"{root}: empty dataset: no images found (expected {expected})")
    files = sorted([*images.values(), *labels], key=lambda f: f.path)
    return SourceScan(files=tuple(files), skipped=tuple(skipped))
