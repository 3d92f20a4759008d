"""Dataset snapshots in a project: create, list, load, verify and check out.

A project is a folder (usually the git repository) holding::

    data/manifests/DS-x.y.z.json   frozen manifests (commit them)
    conf/data/DS-x.y.z.yaml        the Hydra option for each snapshot (commit them)
    .mlflow-cv/objects/            the content-addressed store (or $MLFLOW_CV_STORE)
    .mlflow-cv/cache/              stat caches that make re-checks incremental

Creating a snapshot is ordered so that a crash at any point leaves no partial state behind: the
files are staged, the semver rules are checked, staged objects are published, the Hydra option is
written, and last the manifest is written atomically, read-only, never replacing one that exists.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlflow_cv.data.atomic import atomic_write_text
from mlflow_cv.data.build import BuildResult, build_manifest
from mlflow_cv.data.diff import diff_manifests
from mlflow_cv.data.hashing import StatCache
from mlflow_cv.data.manifest import Manifest, read_manifest, write_manifest
from mlflow_cv.data.splits import SplitSpec
from mlflow_cv.data.store import ObjectStore
from mlflow_cv.errors import SnapshotError, SnapshotNotFoundError
from mlflow_cv.semver import SNAPSHOT_PREFIX, Bump, Version, check_bump, parse_snapshot_id

__all__ = ["Project", "SnapshotResult", "create_snapshot", "install_manifest", "write_hydra_option"]


@dataclass(frozen=True)
class Project:
    """Where a project keeps its manifests, Hydra data options, object store and caches."""

    root: Path
    store_root: Path | None = None

    @classmethod
    def at(cls, root: str | os.PathLike[str] | None = None) -> Project:
        """The project at ``root``, else ``$MLFLOW_CV_PROJECT``, else the current directory."""
        chosen = Path(root or os.environ.get("MLFLOW_CV_PROJECT") or os.getcwd()).resolve()
        store = os.environ.get("MLFLOW_CV_STORE")
        return cls(root=chosen, store_root=Path(store).resolve() if store else None)

    @property
    def manifests_dir(self) -> Path:
        return self.root / "data" / "manifests"

    @property
    def conf_data_dir(self) -> Path:
        return self.root / "conf" / "data"

    @property
    def state_dir(self) -> Path:
        return self.root / ".mlflow-cv"

    @property
    def store(self) -> ObjectStore:
        return ObjectStore(self.store_root or self.state_dir)

    def cache_for(self, tree: Path) -> StatCache:
        return StatCache.for_root(self.state_dir / "cache", tree)

    def manifest_path(self, snapshot_id: str) -> Path:
        parse_snapshot_id(snapshot_id)  # refuses anything that could escape the folder
        return self.manifests_dir / f"{snapshot_id}.json"

    def snapshot_ids(self) -> list[str]:
        """Every frozen snapshot id, oldest version first."""
        ids: list[tuple[Version, str]] = []
        if self.manifests_dir.is_dir():
            for path in self.manifests_dir.glob(f"{SNAPSHOT_PREFIX}*.json"):
                try:
                    ids.append((parse_snapshot_id(path.stem), path.stem))
                except SnapshotError:
                    continue
        return [sid for _, sid in sorted(ids)]

    def load(self, snapshot_id: str) -> Manifest:
        """The frozen manifest of ``snapshot_id``, checked against its stored hash."""
        path = self.manifest_path(snapshot_id)
        if not path.is_file():
            known = ", ".join(self.snapshot_ids()) or "none yet"
            raise SnapshotNotFoundError(
                f"snapshot {snapshot_id} does not exist in {self.manifests_dir} (known: {known}); "
                "create it with `mlflow-cv data snapshot SOURCE --id …`"
            )
        manifest = read_manifest(path)
        if manifest.snapshot_id != snapshot_id:
            raise SnapshotError(f"{path} holds snapshot {manifest.snapshot_id}, not {snapshot_id}")
        return manifest


@dataclass(frozen=True)
class SnapshotResult:
    manifest: Manifest
    path: Path
    skipped: tuple[str, ...]
    hashed: int
    new_objects: int
    declared: Bump | None  # None for a first snapshot without parent
    reasons: tuple[str, ...]


def next_free_id(project: Project, parent: str, bump: Bump) -> str:
    """The smallest unused id that is a ``bump`` of ``parent`` (ids are never reused)."""
    taken = set(project.snapshot_ids())
    version = parse_snapshot_id(parent).bump(bump)
    while f"{SNAPSHOT_PREFIX}{version}" in taken:
        version = version.bump(bump)
    return f"{SNAPSHOT_PREFIX}{version}"


def create_snapshot(
    project: Project,
    source: Path,
    *,
    snapshot_id: str | None = None,
    parent: str | None = None,
    bump: Bump | None = None,
    task: str | None = None,
    class_map: Mapping[int, str] | None = None,
    split: SplitSpec | None = None,
    notes: str = "",
    progress: Callable[[int], None] | None = None,
) -> SnapshotResult:
    """Freeze the working files under ``source`` as snapshot ``snapshot_id`` (see the module doc).

    With ``parent`` the change is classified by DESIGN §2's table and the declared bump (from the ids,
    or ``bump`` when no id is given) must be at least the required one. Without ``split`` a child
    keeps its parent's task and split settings, and a first snapshot gets ``SplitSpec()`` (seed 42, 70/20/10).
    """
    existing = project.snapshot_ids()
    parent_manifest = project.load(parent) if parent else None
    if snapshot_id is None:
        if parent is None or bump is None:
            raise SnapshotError("give --id DS-x.y.z, or --parent with --bump to pick the next id")
        snapshot_id = next_free_id(project, parent, bump)
    new_version = parse_snapshot_id(snapshot_id)
    if snapshot_id in existing:
        raise SnapshotError(
            f"snapshot {snapshot_id} already exists; snapshot ids are never reused. "
            f"Use a new id (the latest is {existing[-1]})"
        )
    if parent_manifest is None and existing:
        raise SnapshotError(
            f"snapshots already exist ({', '.join(existing)}): name the one this snapshot derives from "
            f"with --parent (e.g. --parent {existing[-1]})"
        )
    if split is None:
        split = parent_manifest.split if parent_manifest is not None else SplitSpec()
    if task is None:
        task = parent_manifest.task if parent_manifest is not None else "detect"

    cache = project.cache_for(source)
    with project.store.staging() as staging:
        built: BuildResult = build_manifest(
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
        )
        cache.save()  # an accelerator only: worth keeping even if the rules below refuse
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
                label=SNAPSHOT_PREFIX,
            )
        new_objects = staging.commit()
    write_hydra_option(project, built.manifest)
    path = project.manifest_path(snapshot_id)
    write_manifest(path, built.manifest)
    return SnapshotResult(
        manifest=built.manifest,
        path=path,
        skipped=built.skipped,
        hashed=built.hashed,
        new_objects=new_objects,
        declared=declared,
        reasons=reasons,
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
    atomic_write_text(project.conf_data_dir / f"{manifest.snapshot_id}.yaml", text)


def install_manifest(project: Project, manifest: Manifest) -> None:
    """Give ``project`` a frozen manifest made elsewhere (pulled, or from a run) and its Hydra option,
    each only if missing: an existing one is never rewritten."""
    path = project.manifest_path(manifest.snapshot_id)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_manifest(path, manifest)
    if not (project.conf_data_dir / f"{manifest.snapshot_id}.yaml").is_file():
        write_hydra_option(project, manifest)
