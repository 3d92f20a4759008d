"""``mlflow-cv data import FORMAT SOURCE DEST``: a labelling tool's export as a YOLO-layout tree that
``mlflow-cv data snapshot DEST`` takes as it is, with the export's provenance beside it (DESIGN §2b).

One module per format reads the export into a :class:`~mlflow_cv.data.importers.common.Conversion`
(``coco``, ``voc``, ``cvat``, ``labelstudio``, ``masks``, ``folders``); :mod:`.common` holds the rules all
of them follow (options, geometry checks), :mod:`.writer` the tree, the provenance and the refusal:
every problem is listed at once (:class:`~mlflow_cv.errors.AnnotationError`) and nothing is written to DEST.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path

from mlflow_cv.data.importers.common import IMPORT_FORMATS, OUT_OF_BOUNDS, ImportOptions
from mlflow_cv.data.importers.writer import LINKS, ImportResult, Provenance, check_dest, write_tree
from mlflow_cv.errors import DatasetError

__all__ = ["IMPORT_FORMATS", "OUT_OF_BOUNDS", "ImportResult", "Provenance", "import_dataset"]


def import_dataset(
    format: str,
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    images: str | os.PathLike[str] | None = None,
    task: str | None = None,
    out_of_bounds: str = "refuse",
    drop_invalid: bool = False,
    voc_drop_difficult: bool = False,
    palette: str | Sequence[tuple[str, tuple[int, int, int]]] | None = None,
    classes: str | Sequence[str] | None = None,
    min_area: int | None = None,
    link: str = "copy",
) -> ImportResult:
    """Convert the ``format`` export at ``source`` into a new YOLO-layout tree at ``dest`` (new or empty).

    ``images``: the images folder (needed when ``source`` is an annotation file). ``task``: ``detect`` or
    ``segment`` for coco, cvat and labelstudio (default: ``segment`` when the export has polygons or
    masks). ``out_of_bounds``: ``refuse`` (default) or ``clip`` shapes that reach outside their image.
    ``drop_invalid``: drop (and count) zero-area boxes and empty or degenerate polygons instead of refusing.
    ``voc_drop_difficult``: drop VOC objects marked difficult (else kept, the flag recorded beside the
    labels). ``palette`` (``"road=128,64,128;car=0,0,142"``) or ``classes`` (``"road,car"``): the classes of
    masks; ``classes`` also fixes the class order of voc, cvat and labelstudio (else sorted names).
    ``min_area``: masks' smallest region kept, in pixels (default 10). ``link``: ``copy`` the images (default)
    or ``hardlink`` them where the file system allows (the same bytes, much faster to make; an in-place
    edit then shows in both trees).

    An option that does not apply to ``format`` is refused. Raises :class:`~mlflow_cv.errors.AnnotationError`
    listing every problem of the export, or :class:`~mlflow_cv.errors.DatasetError` for a bad option or DEST.
    """
    from mlflow_cv.data.labels import parse_class_list

    if format not in IMPORT_FORMATS:
        raise DatasetError(f"unknown import format {format!r}: expected one of {', '.join(IMPORT_FORMATS)}")
    if link not in LINKS:
        raise DatasetError(f"link must be one of {', '.join(LINKS)}, not {link!r}")
    if isinstance(palette, str):
        from mlflow_cv.data.importers.masks import parse_palette

        palette = parse_palette(palette)
    if isinstance(classes, str):
        classes = tuple(parse_class_list(classes).values())
    options = ImportOptions(
        task=task,
        out_of_bounds=out_of_bounds,
        drop_invalid=drop_invalid,
        voc_drop_difficult=voc_drop_difficult,
        palette=tuple(palette or ()),
        classes=tuple(classes or ()),
        min_area=min_area,
    )
    options.check(format)
    source, dest = Path(source), Path(dest)
    images_dir = Path(images) if images is not None else None
    check_dest(dest, reads=[p for p in (source, images_dir) if p is not None and p.is_dir()])
    reader = importlib.import_module(f"mlflow_cv.data.importers.{format}")
    conv, located = reader.read(source, images=images_dir, options=options)
    return write_tree(conv, dest, source=source, located=located, link=link)
