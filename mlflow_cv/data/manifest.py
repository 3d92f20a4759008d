"""The snapshot manifest: what a dataset snapshot *is*, as canonical JSON.

The manifest hash is the SHA-256 of the canonical bytes (UTF-8 JSON, sorted keys, no whitespace) of
every field except ``created_at``, so two builds of the same data hash the same. The file on disk
also holds ``manifest_sha256``; loading recomputes it, so a hand edit is refused.

On disk the manifest is pretty-printed with one file entry per line (sorted keys still), which keeps
``git diff`` of two manifests readable; the hash never depends on that layout.

About 410 lines, on purpose: the value, its validation and its file format (read, write, load from a
project) are one contract (DESIGN §2), and each half alone would have to export the other's privates.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_cv.canonical import canonical_sha256
from mlflow_cv.data.atomic import atomic_write_text
from mlflow_cv.data.labels import LABEL_FORMATS, TASKS
from mlflow_cv.data.scan import check_relpath, classify_path
from mlflow_cv.data.splits import SplitSpec
from mlflow_cv.errors import ManifestError, MlflowCvError, SnapshotError, SnapshotNotFoundError

if TYPE_CHECKING:
    from rich.console import RenderableType

    from mlflow_cv.project import Project

__all__ = [
    "SCHEMA_VERSION",
    "FileEntry",
    "Manifest",
    "SplitStats",
    "load_manifest",
    "read_manifest",
    "write_manifest",
]

SCHEMA_VERSION = 1
_SHA_RE = re.compile(r"[0-9a-f]{64}")
_FIELDS = frozenset(
    {
        "schema_version",
        "snapshot_id",
        "parent",
        "created_at",
        "task",
        "label_format",
        "class_map",
        "kpt_shape",
        "files",
        "splits",
        "split",
        "stats",
        "notes",
        "tool_version",
    }
)
# Present only when set, so a manifest without them hashes as before they existed.
_OPTIONAL = frozenset({"attributes", "provenance"})


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One frozen file: relative POSIX path, size in bytes, SHA-256 of its bytes, ``image`` or ``label``."""

    path: str
    size: int
    sha256: str
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "kind": self.kind}


@dataclass(frozen=True)
class SplitStats:
    """Counts for one split (or all): images, label files, background images, instances per class name."""

    images: int
    labels: int
    background: int
    instances: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "labels": self.labels,
            "background": self.background,
            "instances": dict(self.instances),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> SplitStats:
        return cls(
            images=int(doc["images"]),
            labels=int(doc["labels"]),
            background=int(doc["background"]),
            instances={str(k): int(v) for k, v in doc["instances"].items()},
        )


@dataclass(frozen=True)
class Manifest:
    """An immutable description of one dataset snapshot (see DESIGN §2 for the contract)."""

    snapshot_id: str
    parent: str | None
    task: str
    label_format: str
    class_map: Mapping[int, str]
    files: tuple[FileEntry, ...]
    splits: Mapping[str, tuple[str, ...]]
    split: SplitSpec
    stats: SplitStats
    split_stats: Mapping[str, SplitStats]
    tool_version: str
    created_at: str
    notes: str = ""
    kpt_shape: tuple[int, int] | None = None
    attributes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # attribute → item id → value
    provenance: Mapping[str, Any] = field(default_factory=dict)  # an imported export's record (data.provenance)
    schema_version: int = SCHEMA_VERSION

    # -- serialization -------------------------------------------------------------------------
    def to_dict(self, *, with_sha256: bool = False) -> dict[str, Any]:
        """The manifest as stored (``with_sha256``: plus its hash, as ``data show --json`` prints it)."""
        extra = {"manifest_sha256": self.sha256} if with_sha256 else {}
        return {
            **extra,
            "schema_version": self.schema_version,
            "snapshot_id": self.snapshot_id,
            "parent": self.parent,
            "created_at": self.created_at,
            "task": self.task,
            "label_format": self.label_format,
            "class_map": {str(k): v for k, v in sorted(self.class_map.items())},
            "kpt_shape": list(self.kpt_shape) if self.kpt_shape else None,
            "files": [f.to_dict() for f in self.files],
            "splits": {name: list(items) for name, items in self.splits.items()},
            "split": self.split.to_dict(),
            "stats": {
                **self.stats.to_dict(),
                "per_split": {name: s.to_dict() for name, s in self.split_stats.items()},
            },
            "notes": self.notes,
            "tool_version": self.tool_version,
            **({"attributes": {k: dict(v) for k, v in self.attributes.items()}} if self.attributes else {}),
            **({"provenance": dict(self.provenance)} if self.provenance else {}),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Manifest:
        """Build and validate a manifest; raise :class:`ManifestError` naming the first bad field."""
        if not isinstance(doc, Mapping):
            raise ManifestError("a manifest must be a JSON object")
        version = doc.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ManifestError(
                f"unknown manifest schema_version {version!r}: this mlflow-cv reads version "
                f"{SCHEMA_VERSION}; upgrade mlflow-cv to read newer manifests"
            )
        missing = sorted(_FIELDS - set(doc))
        unknown = sorted(set(doc) - _FIELDS - _OPTIONAL)
        if missing or unknown:
            raise ManifestError(f"manifest fields: missing {missing}, unknown {unknown}")
        try:
            return cls._from_valid_dict(doc)
        except MlflowCvError as exc:
            raise ManifestError(f"invalid manifest: {exc.message}", problems=exc.problems) from exc
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ManifestError(f"invalid manifest: {type(exc).__name__}: {exc}") from exc

    @classmethod
    def _from_valid_dict(cls, doc: Mapping[str, Any]) -> Manifest:
        task = doc["task"]
        if task not in TASKS:
            raise ManifestError(f"task {task!r} is not one of {list(TASKS)}")
        if doc["label_format"] != LABEL_FORMATS[task]:
            raise ManifestError(f"label_format {doc['label_format']!r} does not fit task {task!r}")
        class_map = {int(k): str(v) for k, v in doc["class_map"].items()}
        if sorted(class_map) != list(range(len(class_map))) or not class_map:
            raise ManifestError("class_map ids must be 0..N-1")
        files = tuple(FileEntry(**f) for f in doc["files"])
        paths = [f.path for f in files]
        if paths != sorted(set(paths)):
            raise ManifestError("files must be sorted by path without duplicates")
        for f in files:
            check_relpath(f.path)
            if f.kind not in ("image", "label") or not _SHA_RE.fullmatch(f.sha256):
                raise ManifestError(f"{f.path}: bad kind {f.kind!r} or sha256 {f.sha256!r}")
            if not isinstance(f.size, int) or f.size < 0:
                raise ManifestError(f"{f.path}: bad size {f.size!r}")
        splits = {str(k): tuple(v) for k, v in doc["splits"].items()}
        all_items = [i for items in splits.values() for i in items]
        if any(list(items) != sorted(set(items)) for items in splits.values()):
            raise ManifestError("each split must be a sorted list of distinct item ids")
        if len(all_items) != len(set(all_items)):
            raise ManifestError("an item id appears in more than one split")
        kpt = doc["kpt_shape"]
        stats = doc["stats"]
        manifest = cls(
            schema_version=SCHEMA_VERSION,
            snapshot_id=str(doc["snapshot_id"]),
            parent=None if doc["parent"] is None else str(doc["parent"]),
            created_at=str(doc["created_at"]),
            task=task,
            label_format=str(doc["label_format"]),
            class_map=class_map,
            kpt_shape=(int(kpt[0]), int(kpt[1])) if kpt else None,
            files=files,
            splits=splits,
            split=SplitSpec.from_dict(doc["split"]),
            stats=SplitStats.from_dict(stats),
            split_stats={k: SplitStats.from_dict(v) for k, v in stats["per_split"].items()},
            notes=str(doc["notes"]),
            tool_version=str(doc["tool_version"]),
            attributes=_attributes(doc.get("attributes", {})),
            provenance=_provenance(doc.get("provenance", {})),
        )
        if set(all_items) != set(manifest.image_of):
            raise ManifestError("the split lists do not name exactly the images of the manifest")
        if stray := sorted({i for values in manifest.attributes.values() for i in values} - set(manifest.image_of)):
            raise ManifestError(f"attributes name items that are not images of the manifest: {stray[:5]}")
        return manifest

    # -- identity -----------------------------------------------------------------------------
    def hashed_dict(self) -> dict[str, Any]:
        doc = self.to_dict()
        del doc["created_at"]
        return doc

    @functools.cached_property
    def sha256(self) -> str:
        """The manifest hash: SHA-256 of the canonical bytes of every field but ``created_at``."""
        return canonical_sha256(self.hashed_dict())

    # -- convenient views ---------------------------------------------------------------------
    @property
    def split_gaps(self) -> dict[str, tuple[str, ...]]:
        """Split → the classes it has no instance of though another split has (a warning, not an error)."""
        from mlflow_cv.data.splits import split_gaps

        return split_gaps({name: s.instances for name, s in self.split_stats.items()})

    @functools.cached_property
    def split_of(self) -> dict[str, str]:
        """item id → split name."""
        return {item: name for name, items in self.splits.items() for item in items}

    @functools.cached_property
    def image_of(self) -> dict[str, str]:
        """item id → image path."""
        return {item_id(self, f.path): f.path for f in self.files if f.kind == "image"}

    def render(self, *, files: bool = False) -> RenderableType:
        """Lineage, class map and split, counts per split and class; with ``files``, every file."""
        from rich.console import Group

        from mlflow_cv.data.provenance import describe
        from mlflow_cv.data.splits import describe_gaps
        from mlflow_cv.render import add_row, lines, table

        head = lines(
            f"{self.snapshot_id}  (parent {self.parent or '-'}, created {self.created_at}, "
            f"mlflow-cv {self.tool_version})",
            f"manifest sha256: {self.sha256}",
            f"task: {self.task}  labels: {self.label_format}  split: {self.split}",
            "classes: " + ", ".join(f"{k}={v}" for k, v in self.class_map.items()),
            [f"notes: {self.notes}"] if self.notes else [],
            [describe_gaps(self.split_gaps)] if self.split_gaps else [],
            describe(self.provenance) if self.provenance else [],
        )
        names = list(self.class_map.values())
        counts = table("", "images", "labels", "backgr.", *names, right=("images", "labels", "backgr.", *names))
        for name, s in [("all", self.stats), *self.split_stats.items()]:
            add_row(counts, name, s.images, s.labels, s.background, *(s.instances.get(n, 0) for n in names))
        parts: list[RenderableType] = [head, lines(""), counts]
        if self.attributes:
            from mlflow_cv.data.attributes import slice_counts

            splits = list(self.splits)
            grid = table("slice", "images", *splits, right=("images", *splits))
            for piece, row in slice_counts(self.attributes, self.splits).items():
                add_row(grid, str(piece), row["all"], *(row[s] or "empty" for s in splits))
            parts += [lines(""), grid]
        if files:  # one line a file, fixed widths: a table of 40,000 rows would take rich seconds
            parts += [lines(""), lines(f"{f.sha256}  {f.size:>10}  {f.kind:<5}  {f.path}" for f in self.files)]
        return Group(*parts)

    def __rich__(self) -> RenderableType:
        return self.render()


def _provenance(doc: Any) -> dict[str, Any]:
    if doc and not (
        isinstance(doc, Mapping)
        and isinstance(doc.get("record"), Mapping)
        and isinstance(doc.get("files"), list)
        and all(isinstance(f, Mapping) and _SHA_RE.fullmatch(str(f.get("sha256"))) for f in doc["files"])
    ):
        raise ManifestError("provenance must be {record: {...}, files: [{path, sha256, size}]}")
    return dict(doc) if doc else {}


def _attributes(doc: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    from mlflow_cv.data.attributes import NAME_RE, VALUE_RE

    out = {}
    for name, values in sorted(doc.items()):
        if not NAME_RE.fullmatch(name) or not values:
            raise ManifestError(f"attribute {name!r}: a name like {NAME_RE.pattern} with at least one image")
        if bad := [v for v in values.values() if not isinstance(v, str) or not VALUE_RE.fullmatch(v)]:
            raise ManifestError(f"attribute {name!r}: values like {VALUE_RE.pattern}, not {bad[:3]}")
        out[name] = {str(k): v for k, v in sorted(values.items())}
    return out


def item_id(manifest: Manifest, path: str) -> str:
    """The item id of an image or label path: no root folder, no split folder, no suffix."""
    found = classify_path(path, task=manifest.task, from_dirs=manifest.split.method == "from-dirs")
    if found is None:
        raise ManifestError(f"{path}: not an image or label path for task {manifest.task!r}")
    return found[1]


def _pretty(doc: Mapping[str, Any]) -> str:
    """Sorted-key JSON with each list element on its own line (diff-friendly, still valid JSON)."""
    lines = ["{"]
    keys = sorted(doc)
    for n, key in enumerate(keys):
        value = doc[key]
        sep = "," if n < len(keys) - 1 else ""
        name = json.dumps(key, ensure_ascii=False)
        if isinstance(value, list) and value:
            body = ",\n".join("  " + json.dumps(v, sort_keys=True, ensure_ascii=False) for v in value)
            lines.append(f" {name}: [\n{body}\n ]{sep}")
        elif isinstance(value, dict) and key in ("splits", "attributes"):
            inner = ",\n".join(
                f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in sorted(value.items())
            )
            lines.append(f" {name}: {{\n{inner}\n }}{sep}")
        else:
            lines.append(f" {name}: {json.dumps(value, sort_keys=True, ensure_ascii=False)}{sep}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_manifest(path: Path, manifest: Manifest) -> None:
    """Write the manifest once: atomic, read-only, and refusing to replace an existing file."""
    doc = manifest.to_dict()
    doc["manifest_sha256"] = manifest.sha256
    try:
        atomic_write_text(path, _pretty(doc), mode=0o444, exclusive=True)
    except FileExistsError:
        raise ManifestError(f"{path} already exists: frozen manifests are never rewritten") from None


def read_manifest(path: Path, *, trusted_sha256: str | None = None) -> Manifest:
    """Load and check a manifest; refuse unknown schemas, bad fields and hand edits.

    ``trusted_sha256`` skips recomputing the hash when the caller already verified this exact file
    (same inode, size and mtime) before.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read manifest: {exc.strerror}") from exc
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: not valid UTF-8 JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ManifestError(f"{path}: a manifest must be a JSON object")
    stored = doc.pop("manifest_sha256", None)
    try:
        manifest = Manifest.from_dict(doc)
    except ManifestError as exc:
        raise ManifestError(f"{path}: {exc.message}", problems=exc.problems) from exc
    if not isinstance(stored, str):
        raise ManifestError(f"{path}: manifest_sha256 is missing")
    if trusted_sha256 is not None and trusted_sha256 == stored:
        manifest.__dict__["sha256"] = stored  # the cached_property's slot
    elif manifest.sha256 != stored:
        raise ManifestError(
            f"{path}: manifest hash mismatch (stored {stored[:12]}…, content {manifest.sha256[:12]}…): "
            "the file was edited by hand. Frozen manifests must not be changed; restore it from git "
            "or create a new snapshot"
        )
    return manifest


def load_manifest(project: Project, snapshot_id: str) -> Manifest:
    """The frozen manifest of ``snapshot_id`` in ``project``, checked against its stored hash."""
    path = project.manifest_path(snapshot_id)
    if not path.is_file():
        known = ", ".join(project.snapshot_ids()) or "none yet"
        raise SnapshotNotFoundError(
            f"snapshot {snapshot_id} does not exist in {project.manifests_dir} (known: {known}); "
            "create it with `mlflow-cv data snapshot SOURCE --id …`"
        )
    manifest = read_manifest(path)
    if manifest.snapshot_id != snapshot_id:
        raise SnapshotError(f"{path} holds snapshot {manifest.snapshot_id}, not {snapshot_id}")
    return manifest
