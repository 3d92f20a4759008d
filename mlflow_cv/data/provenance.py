"""What an imported snapshot records of its export (DESIGN §2b): the manifest's ``provenance`` field.

``mlflow-cv data import`` leaves ``.mlflow-cv-import/`` in the tree it writes (:mod:`mlflow_cv.data.importers`):
``provenance.json`` (format, converter and version, category mapping, each source annotation file's
sha256), ``sources/<path>`` (those files, byte for byte) and sidecars. A snapshot of such a tree records
the provenance and every file of that folder (path, size, sha256), and stores their bytes with the
images, so the original annotation files can be checked out byte for byte (:func:`export_sources`). The
copies are verified against the recorded hashes first: an annotation file edited after the import is
refused, never frozen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow_cv.data.manifest import load_manifest
from mlflow_cv.data.store import ObjectStore
from mlflow_cv.errors import DatasetError

__all__ = ["collect", "describe", "export_sources"]


def collect(source: Path, *, staging: Any | None) -> dict[str, Any] | None:
    """The manifest's ``provenance`` for the tree at ``source`` (None: it was not imported); stages the
    folder's files when ``staging`` is set."""
    from mlflow_cv.data.importers.writer import PROVENANCE_DIR, Provenance
    from mlflow_cv.data.store import Staging

    folder = source / PROVENANCE_DIR
    if not folder.is_dir():
        return None
    record = Provenance.from_dir(source)
    files: list[dict[str, Any]] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        files.append({"path": path.relative_to(source).as_posix(), "sha256": sha, "size": len(data)})
        if staging is not None:
            Staging.put(str(staging.path), str(staging.store.root / "objects"), sha, data)
    stored = {str(f["path"]): str(f["sha256"]) for f in files}
    edited = []
    for entry in record.sources:
        found = stored.get(f"{PROVENANCE_DIR}/sources/{entry.path}", "missing")
        if found != entry.sha256:
            edited.append(f"{entry.path}: sha256 {found[:12]}, recorded {entry.sha256[:12]}")
    if edited:
        raise DatasetError(
            f"{folder}: the copies of the source annotation files do not match what the import "
            "recorded; import the export again instead of editing them",
            problems=edited,
        )
    return {"record": record.to_dict(), "files": files}


def describe(provenance: Mapping[str, Any]) -> list[str]:
    """What ``data show`` prints of it."""
    record = provenance["record"]
    sources = ", ".join(f"{s['path']} ({s['sha256'][:12]})" for s in record["sources"][:3])
    more = f" … (+{len(record['sources']) - 3})" if len(record["sources"]) > 3 else ""
    mapping = ", ".join(
        f"{c['source_id'] if c['source_id'] is not None else c['source_name']}→{c['class_id']}"
        for c in record["category_map"][:12]
    )
    libraries = ", ".join(f"{k} {v}" for k, v in sorted(record["libraries"].items()))
    return [
        f"imported: {record['format']} by {record['converter']} {record['converter_version']}"
        + (f" ({libraries})" if libraries else ""),
        f"  sources: {sources}{more}",
        f"  category ids → classes: {mapping}",
    ]


def export_sources(project: Any, snapshot_id: str, dest: Path) -> list[Path]:
    """Write the snapshot's original annotation files (and the import's record) under ``dest``, byte for
    byte from the store, each checked against its hash; return the paths written."""
    manifest = load_manifest(project, snapshot_id)
    if not manifest.provenance:
        raise DatasetError(f"{snapshot_id} was not imported (no provenance): it has no source annotation files")
    written = []
    for entry in manifest.provenance["files"]:
        target = dest / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(ObjectStore(project.store_dir).read_verified(entry["sha256"]))
        written.append(target)
    return written
