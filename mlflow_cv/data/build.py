"""Building a manifest from working files: scan, hash (and stage into the store) in parallel, count.

Each file is read exactly once: the worker that hashes it also parses it (labels) and, when a
staging area is given, writes its bytes there, so a cold snapshot costs one read per file. Objects
the store holds already are checked before they are reused (see :mod:`mlflow_cv.data.store`): a
damaged one is staged again from the file's bytes, to be replaced when the staging is published.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_cv._version import __version__
from mlflow_cv.data.hashing import SMALL_FILE, FileStat, parallel_map
from mlflow_cv.data.labels import LABEL_FORMATS, TASKS, check_class_ids, load_class_map, parse_label_text
from mlflow_cv.data.manifest import FileEntry, Manifest, SplitStats
from mlflow_cv.data.scan import SourceFile, scan_source
from mlflow_cv.data.splits import SplitSpec, assign_splits
from mlflow_cv.data.stat_cache import StatCache
from mlflow_cv.data.store import ContentSample, ObjectStore, Staging
from mlflow_cv.errors import DatasetError, LabelError

if TYPE_CHECKING:
    from mlflow_cv.render import Progress

__all__ = ["BuildResult", "build_manifest", "hash_paths"]

DEFAULT_SPLIT = SplitSpec()

# (sha256, size, ino, mtime_ns, hashed_at_ns, counts or None, problems)
_Hashed = tuple[str, int, int, int, int, dict[int, int] | None, list[str]]


@dataclass(frozen=True)
class BuildResult:
    manifest: Manifest
    skipped: tuple[str, ...]  # files that are neither images nor labels
    hashed: int  # files actually read (the rest came from the stat cache)


def build_manifest(
    source: Path,
    *,
    snapshot_id: str,
    parent: str | None = None,
    task: str = "detect",
    class_map: Mapping[int, str] | None = None,
    split: SplitSpec = DEFAULT_SPLIT,
    notes: str = "",
    staging: Staging | None = None,
    cache: StatCache | None = None,
    progress: Progress | None = None,
    keep: Mapping[str, str] | None = None,
) -> BuildResult:
    """Scan ``source`` and describe it as a manifest; stage every file's bytes when ``staging`` is set.
    ``keep`` (item → split, the parent's with the same split spec) keeps those items where they were."""
    if task not in TASKS:
        raise DatasetError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
    source = source.resolve()
    found_map, extra = load_class_map(source)
    if class_map is not None and found_map is not None and dict(class_map) != found_map:
        raise DatasetError(
            f"the class map given ({dict(class_map)}) differs from the dataset's ({found_map}); "
            "drop the flag or fix the dataset's data.yaml / classes.txt"
        )
    class_map = dict(class_map) if class_map is not None else found_map
    kpt_shape = _kpt_shape(extra.get("kpt_shape"), task)
    scan = scan_source(source, task=task, from_dirs=split.method == "from-dirs")
    if task == "classify":
        folders = sorted({f.item.split("/")[0] for f in scan.files})
        class_map = _classify_map(class_map, folders)
    elif class_map is None:
        raise DatasetError(
            f"{source}: no class map: add data.yaml with 'names', a classes.txt, or pass --classes a,b,c"
        )

    sample = ContentSample.for_snapshot(snapshot_id, len(scan.files)) if staging is not None else None
    hashed = _hash_all(
        source,
        scan.files,
        task=task,
        kpt_shape=kpt_shape,
        staging=staging,
        sample=sample,
        cache=cache,
        progress=progress,
    )
    problems = [p for h in hashed.values() for p in h[6]]
    if problems:
        raise LabelError(f"{len(problems)} malformed label line(s)", problems=problems)
    counts_by_file = {path: h[5] for path, h in hashed.items() if h[5] is not None}
    check_class_ids(counts_by_file, class_map)

    images = [f for f in scan.files if f.kind == "image"]
    label_of = {f.item: f.path for f in scan.files if f.kind == "label"}
    counts_by_item: dict[str, dict[int, int]] = {}
    for image in images:
        if task == "classify":
            cid = next(c for c, n in class_map.items() if n == image.item.split("/")[0])
            counts_by_item[image.item] = {cid: 1}
        else:
            label = label_of.get(image.item)
            counts_by_item[image.item] = counts_by_file.get(label, {}) if label else {}
    splits = _splits(images, split, classes=counts_by_item, keep=keep)

    def stats_for(items: Sequence[str]) -> SplitStats:
        per_class = dict.fromkeys(class_map.values(), 0)
        background = 0
        for item in items:
            counts = counts_by_item[item]
            background += not counts
            for cid, n in counts.items():
                per_class[class_map[cid]] += n
        return SplitStats(
            images=len(items),
            labels=sum(1 for i in items if i in label_of),
            background=background,
            instances=per_class,
        )

    manifest = Manifest(
        snapshot_id=snapshot_id,
        parent=parent,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        task=task,
        label_format=LABEL_FORMATS[task],
        class_map=class_map,
        kpt_shape=kpt_shape,
        files=tuple(
            FileEntry(path=f.path, size=hashed[f.path][1], sha256=hashed[f.path][0], kind=f.kind) for f in scan.files
        ),
        splits={name: tuple(items) for name, items in splits.items()},
        split=split,
        stats=stats_for([f.item for f in images]),
        split_stats={name: stats_for(items) for name, items in splits.items()},
        notes=notes,
        tool_version=__version__,
    )
    n_read = sum(1 for h in hashed.values() if h[4] >= 0)
    return BuildResult(manifest=manifest, skipped=scan.skipped, hashed=n_read)


def _kpt_shape(value: Any, task: str) -> tuple[int, int] | None:
    if task != "pose":
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) for v in value)
        or value[0] < 1
        or value[1] not in (2, 3)
    ):
        raise DatasetError("pose datasets need 'kpt_shape: [K, 2|3]' in data.yaml (K keypoints per object)")
    return (value[0], value[1])


def _classify_map(given: Mapping[int, str] | None, folders: list[str]) -> dict[int, str]:
    if given is None:
        return dict(enumerate(folders))
    unknown = sorted(set(folders) - set(given.values()))
    if unknown:
        raise DatasetError(f"class folders {unknown} are not in the class map {dict(given)}")
    return dict(given)


def _splits(
    images: list[SourceFile],
    spec: SplitSpec,
    *,
    classes: Mapping[str, Mapping[int, int]],
    keep: Mapping[str, str] | None,
) -> dict[str, list[str]]:
    if spec.method == "hash":
        return assign_splits((f.item for f in images), spec, classes=classes, keep=keep)
    out: dict[str, list[str]] = {}
    for f in images:
        out.setdefault(str(f.split), []).append(f.item)
    order = {"train": 0, "val": 1, "test": 2}
    return {k: sorted(out[k]) for k in sorted(out, key=lambda k: (order.get(k, 3), k))}


def _hash_all(
    root: Path,
    files: Sequence[SourceFile],
    *,
    task: str,
    kpt_shape: tuple[int, int] | None,
    staging: Staging | None,
    sample: ContentSample | None,
    cache: StatCache | None,
    progress: Progress | None,
) -> dict[str, _Hashed]:
    """Hash every file (labels are also parsed); images whose stat is cached are not read again,
    unless the store's copy of their bytes (being staged) turns out to be missing or damaged."""
    done: dict[str, _Hashed] = {}
    todo: list[tuple[str, str]] = []
    cached: list[tuple[SourceFile, str]] = []
    for f in files:
        sha = cache.get(f.path, f.stat) if cache is not None and f.kind == "image" else None
        if sha is not None and staging is None:
            done[f.path] = (sha, f.stat.size, f.stat.ino, f.stat.mtime_ns, -1, None, [])
        elif sha is not None and staging is not None and staging.store.is_sound(sha, f.stat.size, content=False):
            cached.append((f, sha))
        else:
            todo.append((f.path, f.kind))
    damaged = _damaged(staging, sample, cached)
    for f, sha in cached:
        if sha in damaged:
            todo.append((f.path, f.kind))  # read it again: its bytes will replace the damaged object
        else:
            done[f.path] = (sha, f.stat.size, f.stat.ino, f.stat.mtime_ns, -1, None, [])
    if progress is not None:
        progress.start(len(todo))  # the files to read: the cached ones cost nothing
    worker = functools.partial(
        _hash_chunk,
        root=str(root),
        stage=str(staging.path) if staging is not None else None,
        objects=str(staging.store.root / "objects") if staging is not None else None,
        sample=sample,
        task=task,
        kpt_shape=kpt_shape,
    )
    todo_paths = {path for path, _ in todo}
    total = sum(f.stat.size for f in files if f.path in todo_paths)
    advance = progress.advance if progress is not None else None
    for (path, _), result in zip(todo, parallel_map(worker, todo, total_bytes=total, progress=advance), strict=True):
        done[path] = result
        if cache is not None:
            cache.put(path, FileStat(result[2], result[1], result[3]), result[0], hashed_at_ns=result[4])
    return done


def _damaged(
    staging: Staging | None, sample: ContentSample | None, cached: Sequence[tuple[SourceFile, str]]
) -> set[str]:
    """The hashes, among the sampled objects of ``cached`` files, whose stored bytes no longer match."""
    if staging is None or sample is None:
        return set()
    sizes = {sha: f.stat.size for f, sha in cached if sample.picks(sha)}
    if not sizes:
        return set()
    shas = sorted(sizes)
    worker = functools.partial(_check_objects, store=staging.store)
    sound = parallel_map(worker, [(sha, sizes[sha]) for sha in shas], total_bytes=sum(sizes.values()))
    return {sha for sha, ok in zip(shas, sound, strict=True) if not ok}


def _check_objects(chunk: Sequence[tuple[str, int]], *, store: ObjectStore) -> list[bool]:
    """Worker: whether each stored object still has its size and hash."""
    return [store.is_sound(sha, size, content=True) for sha, size in chunk]


def _hash_chunk(
    chunk: Sequence[tuple[str, str]],
    *,
    root: str,
    stage: str | None,
    objects: str | None,
    sample: ContentSample | None = None,
    task: str,
    kpt_shape: tuple[int, int] | None,
) -> list[_Hashed]:
    """Worker: read each file once; hash it, parse it if a label, stage its bytes if asked."""
    out: list[_Hashed] = []
    for rel, kind in chunk:
        path = os.path.join(root, rel)
        try:
            sha, st, data, hashed_at = _read_and_hash(path, stage=stage, objects=objects, sample=sample)
        except OSError as exc:
            raise DatasetError(f"{rel}: cannot read: {exc.strerror or exc}") from exc
        counts: dict[int, int] | None = None
        problems: list[str] = []
        if kind == "label":
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                problems.append(f"{rel}:1: not UTF-8 text")
            else:
                counts, problems = parse_label_text(text, path=rel, task=task, kpt_shape=kpt_shape)
        out.append((sha, st.st_size, st.st_ino, st.st_mtime_ns, hashed_at, counts, problems))
    return out


def _read_and_hash(
    path: str, *, stage: str | None, objects: str | None, sample: ContentSample | None
) -> tuple[str, os.stat_result, bytes, int]:
    with open(path, "rb") as f:
        before = os.fstat(f.fileno())
        if before.st_size > SMALL_FILE and stage is not None and objects is not None:
            sha, data = Staging.stream_into(stage, f), b""
            check = sample is not None and sample.picks(sha)
            Staging.drop_if_stored(stage, objects, sha, before.st_size, check=check)
        elif before.st_size > SMALL_FILE:
            sha, data = hashlib.file_digest(f, "sha256").hexdigest(), b""
        else:
            data = f.read()
            sha = hashlib.sha256(data).hexdigest()
            if stage is not None and objects is not None:
                Staging.put(stage, objects, sha, data, check=sample is not None and sample.picks(sha))
        after = os.fstat(f.fileno())
    hashed_at = time.time_ns()
    if FileStat.of(before) != FileStat.of(after):
        raise DatasetError(f"{path}: the file changed while it was read; run again when it is stable")
    return sha, after, data, hashed_at


def hash_paths(
    root: Path, paths: Sequence[str], *, progress: Progress | None = None
) -> dict[str, tuple[str, FileStat, int]]:
    """``path -> (sha256, stat, hashed_at_ns)`` for files under ``root``, hashed in parallel."""
    if not paths:
        return {}
    worker = functools.partial(_hash_chunk, root=str(root), stage=None, objects=None, task="", kpt_shape=None)
    items = [(p, "image") for p in paths]
    if progress is not None:
        progress.start(len(items))
    results = parallel_map(worker, items, progress=progress.advance if progress is not None else None)
    return {p: (r[0], FileStat(r[2], r[1], r[3]), r[4]) for p, r in zip(paths, results, strict=True)}
