"""Content hashing near the machine's limit, and the stat cache that makes re-checks incremental.

CPython threads do not speed up hashing many small files (the per-file work holds the GIL), so large
batches go to a pool of processes, one per core, each hashing whole chunks of files and returning
plain tuples. Small batches are hashed in-process: starting a pool costs more than it saves.

The :class:`StatCache` remembers ``(inode, size, mtime_ns) -> sha256`` per file of one directory, so a
re-check of an unchanged tree costs about one ``stat`` per file. An entry is only trusted when the
file's mtime was older than the moment it was hashed by more than :data:`RACY_NS` (the "racy git"
rule): a file rewritten within the same clock tick as its hashing is hashed again next time.

Beside it, a small :class:`CleanTree` record per manifest says "this tree, with exactly these stats
(:func:`tree_digest`), verified clean": a re-check of an unchanged tree then needs neither the
manifest nor the per-file cache, only the walk.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import pickle
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "RACY_NS",
    "SMALL_FILE",
    "CleanTree",
    "FileStat",
    "StatCache",
    "StatTuple",
    "parallel_map",
    "sha256_file",
    "tree_digest",
]

RACY_NS = 100_000_000  # 0.1 s: far above any file system's timestamp granularity
SMALL_FILE = 16 * 1024 * 1024  # read whole below this size, stream above it
_POOL_MIN_ITEMS = 512
_POOL_MIN_BYTES = 64 * 1024 * 1024

StatTuple = tuple[int, int, int]  # (inode, size, mtime_ns): what a walk yields, a FileStat's fields
T = TypeVar("T")
R = TypeVar("R")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of one file, streamed."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class FileStat(NamedTuple):
    """The identity of a file's current bytes as far as ``stat`` can tell.

    A named tuple rather than a dataclass: one is made per file on every walk, the hottest path.
    """

    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        return cls(st.st_ino, st.st_size, st.st_mtime_ns)


def parallel_map(
    func: Callable[[Sequence[T]], list[R]],
    items: Sequence[T],
    *,
    total_bytes: int = 0,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> list[R]:
    """Apply ``func`` (a top-level function over a chunk) to ``items`` in chunks; results keep order.

    Uses one process per core for large batches (``len(items)`` or ``total_bytes`` above a threshold),
    the calling process otherwise. ``progress(n)`` is called with the number of items each chunk did.
    """
    n_workers = workers or os.cpu_count() or 1
    if n_workers <= 1 or (len(items) < _POOL_MIN_ITEMS and total_bytes < _POOL_MIN_BYTES):
        done = func(items)
        if progress is not None:
            progress(len(items))
        return done
    # Enough chunks to balance uneven files and report progress, few enough to keep overhead low.
    n_chunks = min(len(items), n_workers * 16)
    size = -(-len(items) // n_chunks)
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    # fork is cheapest, but unsafe once other threads run (locks held mid-copy); then use forkserver.
    method = "fork" if threading.active_count() == 1 else "forkserver"
    ctx = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:
        results: list[R] = []
        for chunk, out in zip(chunks, pool.map(func, chunks), strict=True):
            results.extend(out)
            if progress is not None:
                progress(len(chunk))
        return results


class ExpectedTree(NamedTuple):
    """What a manifest expects of one tree, kept so a re-check need not load the manifest.

    ``manifest`` and ``manifest_sha256`` identify the manifest file it was derived from (its stat
    and hash: if the file changes, the record is not used); ``files`` maps each expected path in the
    tree to its hash; ``others`` are the paths that were judged not to be data.
    """

    manifest: FileStat
    manifest_sha256: str
    files: dict[str, str]
    others: frozenset[str]


def tree_digest(rels: Sequence[str], stats: Sequence[StatTuple]) -> str:
    """SHA-256 of a walk (paths and stats, in walk order): equal only when nothing in the tree changed.

    Order-sensitive on purpose: a reordered walk only costs a full check, never a wrong answer."""
    h = hashlib.sha256("\0".join(rels).encode("utf-8", "surrogateescape"))
    # marshal: the fastest exact serialization of plain tuples there is; version 2 writes values only
    # (no back-references), so equal walks give equal bytes whatever objects they share
    try:
        h.update(marshal.dumps(list(stats), 2))
    except ValueError:  # FileStat, a tuple subclass, is not marshallable
        h.update(marshal.dumps([tuple(s) for s in stats], 2))
    return h.hexdigest()


class CleanTree(NamedTuple):
    """The last verify of a tree against one manifest found it clean: the manifest file's stat and hash,
    the :func:`tree_digest` of the walk it checked, and how many files the manifest expects there.
    ``cache`` is the stat of the cache file it goes with: rewritten or deleted, the record is void."""

    manifest: FileStat
    manifest_sha256: str
    tree: str
    checked: int
    cache: FileStat | None = None


class StatCache:
    """``relative path -> (FileStat, sha256)`` for one directory tree, persisted with pickle.

    The cache is a local accelerator, never a source of truth: an unreadable or foreign cache file is
    treated as empty and rewritten.
    """

    _VERSION = 2

    def __init__(self, path: Path, *, root: Path) -> None:
        self.path = path
        self.root = str(root)
        self._entries: dict[str, tuple[int, int, int, str]] = {}
        self._expected: dict[str, ExpectedTree] = {}
        self._clean: dict[str, CleanTree] | None = None
        self._loaded = False
        self._dirty = False

    def _load(self) -> None:
        """Read the cache file on first use: a re-check that :meth:`clean` answers never reads it."""
        if self._loaded:
            return
        self._loaded = True
        doc = self._read(self.path)
        if doc is not None and isinstance(doc.get("entries"), dict) and isinstance(doc.get("expected"), dict):
            self._entries, self._expected = doc["entries"], doc["expected"]

    def _read(self, path: Path) -> Any:
        try:
            with open(path, "rb") as f:
                doc: Any = pickle.load(f)
            if doc.get("version") == self._VERSION and doc.get("root") == self.root:
                return doc
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, KeyError, TypeError, ValueError):
            pass
        return None

    @property
    def _clean_path(self) -> Path:
        return self.path.with_suffix(".clean")

    def clean(self, key: str) -> CleanTree | None:
        """The last clean verify of this tree against the manifest at path ``key``, if the cache file is
        still the one it was recorded with (the record is a small file of its own)."""
        if self._clean is None:
            doc = self._read(self._clean_path)
            self._clean = dict(doc["clean"]) if doc is not None and isinstance(doc.get("clean"), dict) else {}
        record = self._clean.get(key)
        if record is None or record.cache is None or record.cache != self._cache_stat():
            return None
        return record

    def set_clean(self, key: str, record: CleanTree | None) -> None:
        """Record (or, with None, forget) a clean verify, after :meth:`save`; written at once, atomically."""
        if record is not None:
            record = record._replace(cache=self._cache_stat())
        if self.clean(key) == record or (record is not None and record.cache is None):
            return
        assert self._clean is not None
        if record is None:
            self._clean.pop(key, None)
        else:
            self._clean[key] = record
        from mlflow_cv.data.atomic import atomic_write_bytes

        doc = {"version": self._VERSION, "root": self.root, "clean": self._clean}
        atomic_write_bytes(self._clean_path, pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL))

    def _cache_stat(self) -> FileStat | None:
        try:
            return FileStat.of(os.stat(self.path))
        except FileNotFoundError:
            return None

    @classmethod
    def for_root(cls, cache_dir: Path, root: Path) -> StatCache:
        root = root.resolve()
        key = hashlib.sha256(str(root).encode("utf-8", "surrogateescape")).hexdigest()[:24]
        return cls(cache_dir / f"{key}.stat", root=root)

    def get(self, rel: str, stat: FileStat) -> str | None:
        """The cached hash if the file still has exactly this (inode, size, mtime_ns)."""
        self._load()
        entry = self._entries.get(rel)
        if entry is not None and entry[0] == stat.ino and entry[1] == stat.size and entry[2] == stat.mtime_ns:
            return entry[3]
        return None

    def known(self, rels: Iterable[str], stats: Mapping[str, StatTuple]) -> tuple[dict[str, str], list[str]]:
        """Split ``rels`` into ``{rel: cached hash}`` and the list of those that must be read again."""
        self._load()
        entries = self._entries
        known: dict[str, str] = {}
        unknown: list[str] = []
        for rel in rels:
            entry = entries.get(rel)
            stat = stats[rel]
            if entry is not None and entry[0] == stat[0] and entry[1] == stat[1] and entry[2] == stat[2]:
                known[rel] = entry[3]
            else:
                unknown.append(rel)
        return known, unknown

    def put(self, rel: str, stat: FileStat, sha256: str, *, hashed_at_ns: int) -> bool:
        """Remember the hash; False when it cannot be trusted later (the racy rule) and was not kept."""
        self._load()
        self._dirty = True
        if hashed_at_ns - stat.mtime_ns <= RACY_NS:
            # Rewritten in the same tick it was hashed: its mtime cannot prove a later change.
            self._entries.pop(rel, None)
            return False
        self._entries[rel] = (stat.ino, stat.size, stat.mtime_ns, sha256)
        return True

    def expected(self, key: str) -> ExpectedTree | None:
        """What the manifest at path ``key`` expects of this tree, as recorded by the last full verify."""
        self._load()
        return self._expected.get(key)

    def set_expected(self, key: str, record: ExpectedTree) -> None:
        self._load()
        if self._expected.get(key) != record:
            self._expected[key] = record
            self._dirty = True

    def save(self) -> None:
        """Write the cache atomically (temp file + rename); a no-op when nothing changed."""
        if not self._dirty:
            return
        from mlflow_cv.data.atomic import atomic_write_bytes

        doc = {"version": self._VERSION, "root": self.root, "entries": self._entries, "expected": self._expected}
        atomic_write_bytes(self.path, pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL))
        self._dirty = False
