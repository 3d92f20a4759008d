"""Content hashing near the machine's limit, and the plain records the stat cache keeps.

:func:`sha256_file` hashes one file, streamed. :func:`parallel_map` spreads work over a pool of
processes, one per core, for large batches (CPython threads do not speed up hashing many small files:
the per-file work holds the GIL); small batches run in-process, where starting a pool costs more than
it saves.

The records here are what :class:`mlflow_cv.data.stat_cache.StatCache` stores and compares:
:class:`FileStat` (``(inode, size, mtime_ns)``, trusted only when the file's mtime was older than the
moment it was hashed by more than :data:`RACY_NS`, the "racy git" rule), :class:`ExpectedTree` (what a
manifest expects of a tree, so a re-check need not load the manifest), :func:`tree_digest` (a walk's
paths and stats in one hash) and :class:`CleanTree` ("this tree, with exactly these stats, verified
clean": a re-check of an unchanged tree then needs only the walk).
"""

from __future__ import annotations

import hashlib
import marshal
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple, TypeVar

__all__ = [
    "RACY_NS",
    "SMALL_FILE",
    "CleanTree",
    "FileStat",
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
