"""Re-checking files against a frozen manifest, and materializing a snapshot from the store.

``verify`` compares a working tree (or the store itself) with a manifest and reports missing,
modified and extra files by path. Files whose (inode, size, mtime_ns) match the stat cache are not
read again, so verifying an unchanged tree costs about one ``stat`` per file.

``checkout`` writes a snapshot's exact bytes into a new folder (verifying every object on the way)
and adds what Ultralytics needs to train on it directly: ``data.yaml`` and one list file per split.
"""

from __future__ import annotations

import fcntl
import fnmatch
import functools
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow_cv.data.hashing import CleanTree, ExpectedTree, FileStat, StatTuple, parallel_map, tree_digest
from mlflow_cv.data.manifest import load_manifest
from mlflow_cv.data.scan import classify_path, walk_tree
from mlflow_cv.data.stat_cache import StatCache
from mlflow_cv.data.store import ObjectStore
from mlflow_cv.errors import DatasetError, SnapshotError
from mlflow_cv.project import Project

# Hashing, manifests and the store are imported where used: a re-check of an unchanged tree (the
# common case, run as `mlflow-cv data verify`) needs none of them.
if TYPE_CHECKING:
    from rich.console import RenderableType

    from mlflow_cv.data.manifest import Manifest
    from mlflow_cv.data.store import LinkMode
    from mlflow_cv.render import Progress

__all__ = ["CHECKOUT_MARKER", "DERIVED_PATTERN", "VerifyReport", "checkout", "checkout_layout", "verify"]

CHECKOUT_MARKER = ".mlflow-cv-checkout.json"
# Ultralytics writes its label caches beside the label folders (``labels.cache``, ``labels/cam_a.cache``
# for images in subfolders): derived from the data, not data, so a checkout's verify leaves them out
# and training drops them before it starts (they are rebuilt from the verified labels).
DERIVED_PATTERN = "*.cache"


@dataclass(frozen=True)
class VerifyReport:
    """The result of checking a tree against a manifest; ``ok`` when nothing is missing, modified or extra."""

    snapshot_id: str
    target: str
    checked: int
    hashed: int  # files read; the others were vouched for by the stat cache
    missing: tuple[str, ...]
    modified: tuple[str, ...]
    extra: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.modified or self.extra)

    def problems(self) -> list[str]:
        return [
            *(f"missing  {p}" for p in self.missing),
            *(f"modified {p}" for p in self.modified),
            *(f"extra    {p}" for p in self.extra),
        ]

    @property
    def summary(self) -> str:
        """``OK: DS-1.1.1 vs /data: 40000 file(s) checked, 0 read, 0 missing, 0 modified, 0 extra``."""
        return (
            f"{'OK' if self.ok else 'DRIFT'}: {self.snapshot_id} vs {self.target}: {self.checked} file(s) checked, "
            f"{self.hashed} read, {len(self.missing)} missing, {len(self.modified)} modified, {len(self.extra)} extra"
        )

    def __rich__(self) -> RenderableType:
        from mlflow_cv.render import lines

        return lines(self.summary, (f"  {p}" for p in self.problems()))

    def to_dict(self) -> dict[str, object]:
        return {
            "snapshot_id": self.snapshot_id,
            "target": self.target,
            "ok": self.ok,
            "checked": self.checked,
            "hashed": self.hashed,
            "missing": list(self.missing),
            "modified": list(self.modified),
            "extra": list(self.extra),
        }


def verify(
    project: Project,
    snapshot_id: str,
    source: Path | None = None,
    *,
    manifest: Manifest | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Check ``source`` (working files or a checkout) against the snapshot; without it, check the store.

    Cost: one ``stat`` per file, plus reading the files whose stat changed. What the manifest expects
    of this tree is kept beside the stat cache (:class:`~mlflow_cv.data.hashing.ExpectedTree`), so
    the manifest itself is only loaded again when it, or the set of non-data files, changed; and when
    no path or stat changed since a clean verify (:class:`~mlflow_cv.data.hashing.CleanTree`), the
    walk is all it costs.
    """
    if source is None:
        return _verify_store(project, manifest or load_manifest(project, snapshot_id), progress=progress)
    root = source.resolve()
    if not root.is_dir():
        raise DatasetError(f"{source}: folder does not exist")
    rels, stats = walk_tree(root)
    cache = StatCache.for_root(project.cache_dir, root)
    manifest_path = project.manifest_path(snapshot_id)
    key = str(manifest_path)
    digest = tree_digest(rels, stats)
    clean = cache.clean(key)
    if clean is not None and clean.tree == digest and _unchanged(clean, manifest_path, manifest):
        return VerifyReport(snapshot_id, str(root), clean.checked, 0, (), (), ())
    from mlflow_cv.data.build import hash_paths

    present = dict(zip(rels, stats, strict=True))
    record = cache.expected(key)
    if record is None or not _usable(record, present, manifest_path, manifest):
        manifest = manifest or load_manifest(project, snapshot_id)
        layout = checkout_layout(manifest) if (root / CHECKOUT_MARKER).is_file() else None
        files = {(layout or {}).get(f.path, f.path): f.sha256 for f in manifest.files}
        others = frozenset(rel for rel in present if rel not in files and not _is_data(rel, manifest, layout))
        record = ExpectedTree(FileStat.of(os.stat(manifest_path)), manifest.sha256, files, others)
        cache.set_expected(key, record)
    expected = record.files
    data = present.keys() - record.others
    actual, to_hash = cache.known(expected.keys() & data, present)
    trusted = True  # each file read was the one walked, and its stat can vouch for it next time
    for rel, (sha, stat, hashed_at) in hash_paths(root, sorted(to_hash), progress=progress).items():
        actual[rel] = sha
        kept = cache.put(rel, stat, sha, hashed_at_ns=hashed_at)
        trusted = trusted and kept and stat == present[rel]
    cache.save()
    report = VerifyReport(
        snapshot_id=snapshot_id,
        target=str(root),
        checked=len(expected),
        hashed=len(to_hash),
        missing=tuple(sorted(expected.keys() - data)),
        modified=tuple(sorted(rel for rel, sha in actual.items() if sha != expected[rel])),
        extra=tuple(sorted(data - expected.keys())),
    )
    ok = report.ok and trusted
    cache.set_clean(key, CleanTree(record.manifest, record.manifest_sha256, digest, len(expected)) if ok else None)
    return report


def _unchanged(clean: CleanTree, manifest_path: Path, manifest: Manifest | None) -> bool:
    """The manifest file is the one the clean verify checked against (and ``manifest`` is that one)."""
    try:
        if FileStat.of(os.stat(manifest_path)) != clean.manifest:
            return False
    except FileNotFoundError:
        return False
    return manifest is None or manifest.sha256 == clean.manifest_sha256


def _usable(
    record: ExpectedTree, present: dict[str, StatTuple], manifest_path: Path, manifest: Manifest | None
) -> bool:
    """The record still describes the manifest on disk, and no unjudged file appeared in the tree."""
    try:
        if FileStat.of(os.stat(manifest_path)) != record.manifest:
            return False
    except FileNotFoundError:
        return False
    if manifest is not None and manifest.sha256 != record.manifest_sha256:
        return False
    files, others = record.files, record.others
    return all(rel in files or rel in others for rel in present)


def _is_data(rel: str, manifest: Manifest, layout: dict[str, str] | None) -> bool:
    if layout is not None:  # a checkout: everything but our own files and Ultralytics' label caches is data
        return "/" in rel and not fnmatch.fnmatch(rel.rsplit("/", 1)[1], DERIVED_PATTERN)
    try:
        found = classify_path(rel, task=manifest.task, from_dirs=manifest.split.method == "from-dirs")
    except DatasetError:
        return True  # a data-looking file in the wrong place is an extra, not something to ignore
    return found is not None


def _verify_store(project: Project, manifest: Manifest, *, progress: Progress | None) -> VerifyReport:
    from mlflow_cv.data.build import hash_paths

    store = ObjectStore(project.store_dir)
    objects = store.root / "objects"
    by_object = {f"{f.sha256[:2]}/{f.sha256[2:]}": f for f in manifest.files}
    cache = StatCache.for_root(project.cache_dir, objects)
    missing: list[str] = []
    to_hash: list[str] = []
    for rel, entry in by_object.items():
        try:
            st = os.stat(objects / rel)
        except FileNotFoundError:
            missing.append(entry.path)
            continue
        if cache.get(rel, FileStat.of(st)) != entry.sha256:
            to_hash.append(rel)
    modified = []
    for rel, (sha, stat, hashed_at) in hash_paths(objects, sorted(to_hash), progress=progress).items():
        cache.put(rel, stat, sha, hashed_at_ns=hashed_at)
        if sha != by_object[rel].sha256:
            modified.append(by_object[rel].path)
    cache.save()
    return VerifyReport(
        snapshot_id=manifest.snapshot_id,
        target=f"store {store.root}",
        checked=len(by_object),
        hashed=len(to_hash),
        missing=tuple(sorted(missing)),
        modified=tuple(sorted(modified)),
        extra=(),
    )


def checkout_layout(manifest: Manifest) -> dict[str, str]:
    """manifest path → path inside a checkout. Classification data is laid out ``split/class/file``."""
    from mlflow_cv.data.manifest import item_id

    if manifest.task != "classify":
        return {f.path: f.path for f in manifest.files}
    split_of = manifest.split_of
    out = {}
    for f in manifest.files:
        item = item_id(manifest, f.path)
        out[f.path] = f"{split_of[item]}/{item.split('/')[0]}/{f.path.rsplit('/', 1)[-1]}"
    return out


def checkout(
    project: Project,
    snapshot_id: str,
    dest: Path,
    *,
    link: LinkMode = "copy",
    progress: Progress | None = None,
) -> Path:
    """Materialize the snapshot into ``dest`` (new or empty), byte for byte, ready for Ultralytics.

    An existing checkout of the same snapshot is re-verified (incrementally) and reused; anything
    else already at ``dest`` is refused. Built in a temp folder and renamed, so a crash leaves no
    half checkout at ``dest``. Concurrent checkouts of one ``dest`` take turns on a lock file beside it:
    one builds, the others find the built checkout and re-verify it.
    """
    manifest = load_manifest(project, snapshot_id)
    dest = dest.resolve()
    locks = project.state_dir / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(str(dest).encode()).hexdigest()[:16]
    with open(locks / f"checkout-{name}.lock", "a") as lock:  # one builder; the others wait, then reuse
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _checkout_locked(project, manifest, dest, link=link, progress=progress)


def _checkout_locked(
    project: Project, manifest: Manifest, dest: Path, *, link: LinkMode, progress: Progress | None
) -> Path:
    import json
    import shutil
    import tempfile

    snapshot_id = manifest.snapshot_id
    marker = dest / CHECKOUT_MARKER
    if marker.is_file():
        info = json.loads(marker.read_text(encoding="utf-8"))
        if info.get("manifest_sha256") != manifest.sha256:
            raise SnapshotError(f"{dest} holds a checkout of {info.get('snapshot_id')}; choose another folder")
        report = verify(project, snapshot_id, dest, manifest=manifest, progress=progress)
        if not report.ok:
            raise SnapshotError(
                f"{dest}: the checkout of {snapshot_id} was changed; delete the folder and check out again",
                problems=report.problems(),
            )
        return dest
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise SnapshotError(f"{dest} exists and is not empty: check out into a new or empty folder")
    _pull_missing(project, manifest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.partial-"))
    try:
        layout = checkout_layout(manifest)
        jobs = [(f.sha256, layout[f.path]) for f in manifest.files]
        for rel in {os.path.dirname(r) for _, r in jobs}:
            (tmp / rel).mkdir(parents=True, exist_ok=True)
        worker = functools.partial(_materialize_chunk, store=str(project.store_dir), dest=str(tmp), link=link)
        if progress is not None:
            progress.start(len(jobs))
        parallel_map(
            worker,
            jobs,
            total_bytes=sum(f.size for f in manifest.files),
            progress=progress.advance if progress is not None else None,
        )
        _write_training_files(manifest, tmp, layout)
        (tmp / CHECKOUT_MARKER).write_text(
            json.dumps({"snapshot_id": manifest.snapshot_id, "manifest_sha256": manifest.sha256}) + "\n",
            encoding="utf-8",
        )
        if dest.exists():
            dest.rmdir()
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _pull_missing(project: Project, manifest: Manifest) -> None:
    """Objects missing locally come from the configured remote, if there is one."""
    if all(ObjectStore(project.store_dir).has(f.sha256) for f in manifest.files):
        return
    from mlflow_cv.data.remote import configured_remote, pull

    if configured_remote(project):
        pull(project, [manifest.snapshot_id])


def _materialize_chunk(chunk: Sequence[tuple[str, str]], *, store: str, dest: str, link: LinkMode) -> list[None]:
    from mlflow_cv.data.store import ObjectStore

    objects = ObjectStore(Path(store))
    for sha, rel in chunk:
        objects.materialize(sha, Path(dest, rel), link=link)
    return [None] * len(chunk)


def _write_training_files(manifest: Manifest, root: Path, layout: dict[str, str]) -> None:
    import yaml  # here, not at the top: verify (the hot path) never needs it

    names = {cid: name for cid, name in sorted(manifest.class_map.items())}
    doc: dict[str, object] = {}
    if manifest.task != "classify":
        for split, items in manifest.splits.items():
            lines = [f"./{layout[manifest.image_of[item]]}\n" for item in items]
            (root / f"{split}.txt").write_text("".join(lines), encoding="utf-8")
            doc[split] = f"{split}.txt"
    else:
        doc.update({split: split for split in manifest.splits})
    doc["names"] = names
    if manifest.kpt_shape:
        doc["kpt_shape"] = list(manifest.kpt_shape)
    header = f"# {manifest.snapshot_id} (manifest {manifest.sha256}), written by `mlflow-cv data checkout`\n"
    (root / "data.yaml").write_text(header + yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
