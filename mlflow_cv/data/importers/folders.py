"""Classification exports, one folder per class: ``SOURCE/<class>/<image>`` → DEST ``<class>/<image>``.

Class names are the folder names lowercased with spaces turned to ``_`` (``Red Car`` → ``red_car``); two
folders that become the same name are refused. Class ids follow the sorted names (what a snapshot of a
classify tree assumes), recorded in ``data.yaml`` and the provenance. Images must lie directly in their
class folder; files that are not images (a README, a CSV) are left out and counted. There is no
annotation file: the folder names are the labels, and the category map records them.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlflow_cv.data.importers.common import Conversion, ImportOptions, fixed
from mlflow_cv.data.importers.files import Located
from mlflow_cv.data.scan import IMAGE_SUFFIXES
from mlflow_cv.errors import AnnotationError

__all__ = ["normalized", "read"]


def normalized(folder: str) -> str:
    """The class name of a class folder: lowercase, spaces as ``_``."""
    return folder.lower().replace(" ", "_")


def read(source: Path, *, images: Path | None, options: ImportOptions) -> tuple[Conversion, Located]:
    if images is not None:
        raise AnnotationError("--images does not apply to folders imports: the images are in SOURCE/<class>/")
    if not source.is_dir():
        raise AnnotationError(f"{source}: expected a folder with one sub-folder of images per class")
    conv = Conversion("folders", task="classify", options=options)
    folders: dict[str, list[str]] = {}  # class name → the folders that normalise to it
    skipped = 0
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            folders.setdefault(normalized(entry.name), []).append(entry.name)
        else:
            skipped += 1
    for name, found in sorted(folders.items()):
        if len(found) > 1:
            conv.problems.append(
                f"{source}: folders {', '.join(repr(f) for f in found)} all become class {name!r} (lowercase, "
                "spaces as _); merge or rename them"
            )
    names = sorted(folders)
    conv.set_classes([(None, folders[n][0], n) for n in names], where=str(source))
    empty = []
    for name in names:
        folder = folders[name][0]
        n_images = 0
        for entry in sorted(os.scandir(source / folder), key=lambda e: e.name):
            rel = f"{folder}/{entry.name}"
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                conv.problems.append(f"{rel}/: a folder in a class folder (expected CLASS/IMAGE); move its files up")
            elif os.path.splitext(entry.name)[1].lower() not in IMAGE_SUFFIXES:
                skipped += 1
            else:
                n_images += conv.add_image(f"{name}/{entry.name}", Path(entry.path), fixed(rel)) is not None
        if not n_images:
            empty.append(folder)
    if skipped:
        conv.warnings.append(f"{skipped} file(s) that are not images (or not in a class folder) were not imported")
    if empty:
        conv.warnings.append(f"class folder(s) without images: {', '.join(empty)} (their classes are kept)")
    return conv, Located(source, (), source)
