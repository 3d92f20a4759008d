"""Dataset snapshots in a project (:class:`mlflow_cv.project.Project`): create and list them, and
install a frozen manifest (one pulled from a remote) with its Hydra option.

Creating a snapshot is ordered so that a crash at any point leaves no partial state behind: the
files are staged, the semver rules are checked, staged objects are published, the Hydra option is
written, and last the manifest is written atomically, read-only, never replacing one that exists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_cv.data.manifest import load_manifest
from mlflow_cv.data.stat_cache import StatCache
from mlflow_cv.data.store import ObjectStore
from mlflow_cv.errors import SnapshotError
from mlflow_cv.project import Project
from mlflow_cv.semver import Bump, check_bump, parse_snapshot_id, snapshot_lineage
from mlflow_cv.semver import snapshot_id as id_of

if TYPE_CHECKING:
    from rich.console import RenderableType

    from mlflow_cv.data.manifest import Manifest
    from mlflow_cv.data.splits import SplitSpec
    from mlflow_cv.render import Progress

__all__ = [
    "SnapshotList",
    "SnapshotResult",
    "create_snapshot",
    "install_manifest",
    "list_snapshots",
    "write_hydra_option",
]


@dataclass(frozen=True)
class SnapshotResult:
    manifest: Manifest
    path: Path
    skipped: tuple[str, ...]
    hashed: int
    new_objects: int
    declared: Bump | None  # None for a first snapshot without parent
    reasons: tuple[str, ...]
    healed: tuple[str, ...] = ()  # hashes of stored objects found corrupt and replaced from the source

    def __rich__(self) -> RenderableType:
        from mlflow_cv.render import lines

        m = self.manifest
        out = [
            f"created {m.snapshot_id}  manifest {m.sha256}",
            f"  {m.stats.images} images, {m.stats.labels} label files, {m.stats.background} background",
            f"  splits: {', '.join(f'{k}={len(v)}' for k, v in m.splits.items())}  ({m.split})",
            f"  read {self.hashed} file(s), stored {self.new_objects} new object(s)",
        ]
        if self.declared is not None:
            out += [f"  {self.declared.name} bump of {m.parent}:", *(f"    - {r}" for r in self.reasons)]
        if self.healed:
            path_of = {f.sha256: f.path for f in m.files}
            shown = ", ".join(f"{path_of.get(sha, '?')} ({sha[:12]})" for sha in self.healed[:5])
            more = f" and {len(self.healed) - 5} more" if len(self.healed) > 5 else ""
            out.append(f"  healed {len(self.healed)} corrupt store object(s): {shown}{more}")
        if m.split_gaps:
            from mlflow_cv.data.splits import describe_gaps

            out.append(f"  {describe_gaps(m.split_gaps)}")
        if self.skipped:
            out.append(
                f"  skipped {len(self.skipped)} file(s) that are neither images nor labels, e.g. {self.skipped[0]}"
            )
        out.append(f"  wrote {self.path} and conf/data/{m.snapshot_id}.yaml")
        return lines(out)


@dataclass(frozen=True)
class SnapshotList:
    """The frozen snapshots of a project, oldest first: one row per snapshot."""

    rows: tuple[dict[str, Any], ...]

    def to_list(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows]

    def __rich__(self) -> RenderableType:
        from mlflow_cv.render import add_row, lines, table

        if not self.rows:
            return lines("no snapshots yet: create one with `mlflow-cv data snapshot SOURCE --id DS-0.1.0`")
        grid = table(
            "ID",
            "PARENT",
            "CREATED",
            "IMAGES",
            "LABELS",
            "CLASSES",
            "MANIFEST",
            "NOTES",
            right=("IMAGES", "LABELS", "CLASSES"),
        )
        for r in self.rows:
            add_row(
                grid,
                r["id"],
                r["parent"],
                r["created_at"],
                r["images"],
                r["labels"],
                r["classes"],
                r["manifest_sha256"][:12],
                r["notes"],
            )
        return grid


def list_snapshots(project: Project) -> SnapshotList:
    """Every frozen snapshot of ``project`` with its lineage and counts, oldest first."""
    rows = []
    for sid in project.snapshot_ids():
        m = load_manifest(project, sid)
        rows.append(
            {
                "id": sid,
                "parent": m.parent,
                "created_at": m.created_at,
                "images": m.stats.images,
                "labels": m.stats.labels,
                "classes": len(m.class_map),
                "manifest_sha256": m.sha256,
                "notes": m.notes,
            }
        )
    return SnapshotList(tuple(rows))


def next_free_id(project: Project, parent: str, bump: Bump) -> str:
    """The smallest unused id that is a ``bump`` of ``parent`` (ids are never reused)."""
    lineage = snapshot_lineage(parent)
    taken = set(project.snapshot_ids(lineage))
    version = parse_snapshot_id(parent).bump(bump)
    while id_of(lineage, version) in taken:
        version = version.bump(bump)
    return id_of(lineage, version)


def create_snapshot(
    project: Project,
    source: Path,
    *,
    snapshot_id: str | None = None,
    parent: str | None = None,
    bump: Bump | None = None,
    task: str | None = None,
    class_map: Mapping[int, str] | str | None = None,
    split: SplitSpec | str | None = None,
    seed: int | None = None,
    notes: str = "",
    attributes: Sequence[Path] = (),
    attr_rules: Sequence[str] = (),
    progress: Progress | None = None,
) -> SnapshotResult:
    """Freeze the working files under ``source`` as snapshot ``snapshot_id`` (see the module doc).

    With ``parent`` the change is classified by DESIGN §2's table and the declared bump (from the ids,
    or ``bump`` when no id is given) must be at least the required one. Without ``split`` a child
    keeps its parent's task and split settings, and a first snapshot gets ``SplitSpec()`` (seed 42, 70/20/10).
    ``split`` may also be the text of ``--split`` (``train=0.8,val=0.2`` or ``from-dirs``); it and ``seed``
    complete each other and the parent's split (:meth:`SplitSpec.from_options`). ``class_map`` may be
    the text of ``--classes`` (``circle,square``). ``attributes`` (CSV or JSONL files) and ``attr_rules``
    (``NAME=VALUE:GLOB``) give images attributes (DESIGN §2a); a child does not inherit its parent's.
    """
    from mlflow_cv.data.attributes import AttrRule, collect_attributes
    from mlflow_cv.data.build import build_manifest
    from mlflow_cv.data.diff import diff_manifests
    from mlflow_cv.data.importers.writer import PROVENANCE_DIR, Provenance
    from mlflow_cv.data.labels import parse_class_list
    from mlflow_cv.data.manifest import write_manifest
    from mlflow_cv.data.provenance import collect
    from mlflow_cv.data.splits import SplitSpec

    if isinstance(class_map, str):
        class_map = parse_class_list(class_map)
    rules = [AttrRule.parse(r) for r in attr_rules]  # a malformed rule is refused before any hashing
    parent_manifest = load_manifest(project, parent) if parent else None
    if isinstance(split, str) or seed is not None:
        base = split if isinstance(split, SplitSpec) else parent_manifest.split if parent_manifest else None
        split = SplitSpec.from_options(split if isinstance(split, str) else None, seed=seed, parent=base)
    if snapshot_id is None:
        if parent is None or bump is None:
            raise SnapshotError("give --id DS-x.y.z, or --parent with --bump to pick the next id")
        snapshot_id = next_free_id(project, parent, bump)
    new_version, lineage = parse_snapshot_id(snapshot_id), snapshot_lineage(snapshot_id)
    if parent is not None and snapshot_lineage(parent) != lineage:
        raise SnapshotError(
            f"{snapshot_id} is in the {lineage} lineage, its parent {parent} in {snapshot_lineage(parent)}: a "
            f"snapshot derives from one of its own lineage (start a new dataset as {lineage}-1.0.0 without --parent)"
        )
    existing = project.snapshot_ids(lineage)
    if snapshot_id in existing:
        raise SnapshotError(
            f"snapshot {snapshot_id} already exists; snapshot ids are never reused. "
            f"Use a new id (the latest is {existing[-1]})"
        )
    if parent_manifest is None and existing:
        raise SnapshotError(
            f"snapshots of {lineage} already exist ({', '.join(existing)}): name the one this snapshot derives "
            f"from with --parent (e.g. --parent {existing[-1]}), or start another dataset under a new name "
            f"(e.g. ROADS-1.0.0)"
        )
    if split is None:
        split = parent_manifest.split if parent_manifest is not None else SplitSpec()
    imported = (source / PROVENANCE_DIR).is_dir()
    if task is None:
        task = parent_manifest.task if parent_manifest is not None else None
        task = task or (Provenance.from_dir(source).task if imported else "detect")

    cache = StatCache.for_root(project.cache_dir, source)
    with ObjectStore(project.store_dir).staging() as staging:
        built = build_manifest(
            source,
            snapshot_id=snapshot_id,
            parent=parent,
            task=task,
            class_map=class_map,
            split=split,
            notes=notes,
            staging=staging,
            cache=cache,
            progress=progress,
            keep=parent_manifest.split_of if parent_manifest is not None and parent_manifest.split == split else None,
        )
        cache.save()  # an accelerator only: worth keeping even if the rules below refuse
        if imported:
            found = collect(source, staging=staging)
            built = dataclasses.replace(built, manifest=dataclasses.replace(built.manifest, provenance=found or {}))
        if attributes or rules:
            images = {path: item for item, path in built.manifest.image_of.items()}
            found = collect_attributes(images, files=attributes, rules=rules)
            built = dataclasses.replace(built, manifest=dataclasses.replace(built.manifest, attributes=found))
        declared: Bump | None = None
        reasons: tuple[str, ...] = ()
        if parent_manifest is not None:
            change = diff_manifests(parent_manifest, built.manifest)
            reasons = change.reasons
            declared = check_bump(
                old=parse_snapshot_id(parent_manifest.snapshot_id),
                new=new_version,
                required=change.required,
                reasons=list(change.reasons),
                label=f"{lineage}-",
            )
        published = staging.publish()
    write_hydra_option(project, built.manifest)
    path = project.manifest_path(snapshot_id)
    write_manifest(path, built.manifest)
    return SnapshotResult(
        manifest=built.manifest,
        path=path,
        skipped=built.skipped,
        hashed=built.hashed,
        new_objects=published.added,
        declared=declared,
        reasons=reasons,
        healed=published.healed,
    )


def write_hydra_option(project: Project, manifest: Manifest) -> None:
    seed = manifest.split.seed
    text = (
        f"# Written by `mlflow-cv data snapshot`: the manifest hash pins the exact bytes. Do not edit.\n"
        f"snapshot_id: {manifest.snapshot_id}\n"
        f"manifest_sha256: {manifest.sha256}\n"
        f"task: {manifest.task}\n"
        f"split_seed: {'null' if seed is None else seed}\n"
    )
    from mlflow_cv.data.atomic import atomic_write_text

    atomic_write_text(project.conf_data_dir / f"{manifest.snapshot_id}.yaml", text)


def install_manifest(project: Project, manifest: Manifest) -> None:
    """Give ``project`` a frozen manifest made elsewhere (pulled, or from a run) and its Hydra option,
    each only if missing: an existing one is never rewritten."""
    path = project.manifest_path(manifest.snapshot_id)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        from mlflow_cv.data.manifest import write_manifest

        write_manifest(path, manifest)
    if not (project.conf_data_dir / f"{manifest.snapshot_id}.yaml").is_file():
        write_hydra_option(project, manifest)
