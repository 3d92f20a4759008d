"""The stat cache: ``relative path -> (FileStat, sha256)`` per tree, so a re-check costs a ``stat`` per
file. Persisted as strictly validated JSON (never pickle: the file lives in the project, and loading it
must not run code); anything malformed counts as no cache."""

from __future__ import annotations

import gc
import hashlib
import itertools
import operator
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from mlflow_cv.data.hashing import RACY_NS, CleanTree, ExpectedTree, FileStat, StatTuple

__all__ = ["StatCache"]

T = TypeVar("T")


class StatCache:
    """``relative path -> (FileStat, sha256)`` for one directory tree, persisted as compact JSON.

    The cache is a local accelerator, never a source of truth, and loading it runs no code: a file
    that is unreadable, of another format version (the pickles of version 2 included) or another
    root, or malformed in any field is treated as no cache at all, and the next save rewrites it.

    On disk (version 3; the clean records of :meth:`clean` sit in a small file of their own, with the
    same header and ``"clean": {manifest path: {"manifest", "manifest_sha256", "tree", "checked",
    "cache"}}``)::

        {"format": "mlflow-cv stat cache", "version": 3, "root": "/abs/tree",
         "entries": {"paths": [rel, ...], "ino": base64 of little-endian u64s, "size": the same,
                     "mtime_ns": base64 of little-endian i64s, "sha256": the hex digests, concatenated},
         "expected": {manifest path: {"manifest": [ino, size, mtime_ns], "manifest_sha256": hex,
                                      "cached": base64 of one byte per entry, 1 where the manifest
                                                expects that path with the entry's hash,
                                      "files": {rel: hex, ...} the other expected files,
                                      "others": [rel, ...]}}}

    Columns, not one JSON object per file, and an expected tree stored as a mask over the entries
    (after a verify they hold the same paths and hashes): 40,000 files load, every field checked,
    about as fast as the pickle this format replaced, and save faster, in a file 40% smaller.
    """

    _VERSION = 3

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
        collecting = gc.isenabled()
        gc.disable()  # a load makes ~100,000 objects and no cycle: collections would only slow it down
        try:
            doc = self._read(self.path, "entries", "expected")
            if doc is None:
                return
            columns = _decode_entries(doc["entries"])
            if columns is None:
                return
            paths, ino, size, mtime_ns, digests = columns
            entries = dict(zip(paths, zip(ino, size, mtime_ns, digests, strict=True), strict=True))
            expected = _decode_map(doc["expected"], lambda record: _decode_expected(record, paths, digests))
            if expected is not None and len(entries) == len(paths):  # no path twice
                self._entries, self._expected = entries, expected
        finally:
            if collecting:
                gc.enable()

    def _read(self, path: Path, *body: str) -> dict[str, Any] | None:
        """The document at ``path`` if it is this format, version and root with exactly ``body`` besides."""
        import json

        try:
            with open(path, "rb") as f:
                doc = json.loads(f.read())
        except (OSError, ValueError, RecursionError):  # unreadable, not UTF-8 JSON (an old pickle), too deep
            return None
        if (
            type(doc) is dict
            and doc.keys() == {"format", "version", "root", *body}
            and doc["format"] == _FORMAT
            and type(doc["version"]) is int
            and doc["version"] == self._VERSION
            and doc["root"] == self.root
        ):
            return doc
        return None

    def _write(self, path: Path, body: dict[str, Any]) -> None:
        import json

        from mlflow_cv.data.atomic import atomic_write_bytes

        doc = {"format": _FORMAT, "version": self._VERSION, "root": self.root, **body}
        atomic_write_bytes(path, json.dumps(doc, separators=(",", ":"), check_circular=False).encode("ascii"))

    @property
    def _clean_path(self) -> Path:
        return self.path.with_suffix(".clean")

    def clean(self, key: str) -> CleanTree | None:
        """The last clean verify of this tree against the manifest at path ``key``, if the cache file is
        still the one it was recorded with (the record is a small file of its own)."""
        if self._clean is None:
            doc = self._read(self._clean_path, "clean")
            self._clean = (_decode_map(doc["clean"], _decode_clean) if doc is not None else None) or {}
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
        self._write(self._clean_path, {"clean": {k: _encode_clean(r) for k, r in self._clean.items()}})

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
        entries = self._entries
        paths, digests = list(entries), [e[3] for e in entries.values()]
        self._write(
            self.path,
            {
                "entries": _encode_entries(paths, entries.values()),
                "expected": {k: _encode_expected(r, entries, paths, digests) for k, r in self._expected.items()},
            },
        )
        self._dirty = False


# --- the stat cache's JSON: every decoder returns None for anything but exactly what the encoders write ---

_FORMAT = "mlflow-cv stat cache"
_HEX = 64  # characters of a SHA-256 hex digest


def _encode_entries(paths: list[str], values: Iterable[tuple[int, int, int, str]]) -> dict[str, Any]:
    ino, size, mtime_ns, sha256 = zip(*values, strict=True) if paths else ((), (), (), ())
    return {
        "paths": paths,
        "ino": _pack("Q", ino),
        "size": _pack("Q", size),
        "mtime_ns": _pack("q", mtime_ns),
        "sha256": "".join(sha256),
    }


_Columns = tuple[list[str], tuple[int, ...], tuple[int, ...], tuple[int, ...], list[str]]


def _decode_entries(doc: Any) -> _Columns | None:
    """The entries' columns: paths, inodes, sizes, mtimes and hashes, all of one length."""
    if not _is_record(doc, "paths", "ino", "size", "mtime_ns", "sha256") or (paths := _strings(doc["paths"])) is None:
        return None
    n = len(paths)
    ino, size, mtime_ns = _unpack("Q", doc["ino"], n), _unpack("Q", doc["size"], n), _unpack("q", doc["mtime_ns"], n)
    digests = _digests(doc["sha256"], n)
    if ino is None or size is None or mtime_ns is None or digests is None:
        return None
    return paths, ino, size, mtime_ns, digests


def _pack(code: str, values: Sequence[int]) -> str:
    """Integers as base64 of little-endian 64-bit words (``Q`` unsigned, ``q`` signed)."""
    import struct

    return _to_base64(struct.pack(f"<{len(values)}{code}", *values))


def _unpack(code: str, doc: Any, n: int) -> tuple[int, ...] | None:
    """The ``n`` integers :func:`_pack` wrote, or None."""
    packed = _base64(doc, n * 8)
    if packed is None:
        return None
    import struct

    values: tuple[int, ...] = struct.unpack(f"<{n}{code}", packed)
    return values


def _to_base64(data: bytes) -> str:
    import base64  # here, as struct: a re-check that the clean record answers never needs them

    return base64.b64encode(data).decode("ascii")


def _base64(doc: Any, size: int) -> bytes | None:
    """The ``size`` bytes that ``doc`` holds in strict base64, or None."""
    import base64
    import binascii

    if type(doc) is not str:
        return None
    try:
        data = base64.b64decode(doc, validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if len(data) == size else None


def _encode_expected(
    record: ExpectedTree, entries: Mapping[str, tuple[int, int, int, str]], paths: list[str], digests: list[str]
) -> dict[str, Any]:
    files = record.files
    cached = bytes(map(operator.eq, map(files.get, paths), digests))  # 1 where the entry is what is expected
    rest = (
        {}
        if sum(cached) == len(files)
        else {rel: sha for rel, sha in files.items() if (entry := entries.get(rel)) is None or entry[3] != sha}
    )
    return {
        "manifest": list(record.manifest),
        "manifest_sha256": record.manifest_sha256,
        "cached": _to_base64(cached),
        "files": rest,
        "others": sorted(record.others),
    }


def _decode_expected(doc: Any, paths: list[str], digests: list[str]) -> ExpectedTree | None:
    if not _is_record(doc, "manifest", "manifest_sha256", "cached", "files", "others"):
        return None
    manifest, manifest_sha256 = _stat(doc["manifest"]), _digest(doc["manifest_sha256"])
    cached, rest, others = (
        _base64(doc["cached"], len(paths)),
        _decode_map(doc["files"], _digest),
        _strings(doc["others"]),
    )
    if manifest is None or manifest_sha256 is None or cached is None or rest is None or others is None:
        return None
    if cached.translate(None, b"\x00\x01"):  # a mask holds only 0 and 1
        return None
    files = dict(zip(itertools.compress(paths, cached), itertools.compress(digests, cached), strict=True))
    if not files.keys().isdisjoint(rest):
        return None
    files.update(rest)
    return ExpectedTree(manifest, manifest_sha256, files, frozenset(others))


def _encode_clean(record: CleanTree) -> dict[str, Any]:
    return {
        "manifest": list(record.manifest),
        "manifest_sha256": record.manifest_sha256,
        "tree": record.tree,
        "checked": record.checked,
        "cache": None if record.cache is None else list(record.cache),
    }


def _decode_clean(doc: Any) -> CleanTree | None:
    if not _is_record(doc, "manifest", "manifest_sha256", "tree", "checked", "cache"):
        return None
    manifest, manifest_sha256, tree = _stat(doc["manifest"]), _digest(doc["manifest_sha256"]), _digest(doc["tree"])
    checked, cache = doc["checked"], _stat(doc["cache"])
    if manifest is None or manifest_sha256 is None or tree is None or type(checked) is not int or checked < 0:
        return None
    if cache is None and doc["cache"] is not None:
        return None
    return CleanTree(manifest, manifest_sha256, tree, checked, cache)


def _decode_map(doc: Any, decode: Callable[[Any], T | None]) -> dict[str, T] | None:
    """``{key: decode(value)}`` for a JSON object, or None when it is not one or any value fails."""
    if type(doc) is not dict:
        return None
    out: dict[str, T] = {}
    for key, value in doc.items():
        if (decoded := decode(value)) is None:
            return None
        out[key] = decoded
    return out


def _is_record(doc: Any, *keys: str) -> bool:
    return type(doc) is dict and doc.keys() == set(keys)


def _strings(doc: Any) -> list[str] | None:
    return doc if type(doc) is list and set(map(type, doc)) <= {str} else None


def _stat(doc: Any) -> FileStat | None:
    if type(doc) is list and len(doc) == 3 and set(map(type, doc)) == {int}:
        return FileStat(*doc)
    return None


def _digest(doc: Any) -> str | None:
    digests = _digests(doc, 1)
    return digests[0] if digests is not None else None


def _digests(doc: Any, n: int) -> list[str] | None:
    """``n`` SHA-256 hex digests written back to back, split; None unless exactly that (lower case)."""
    if type(doc) is not str or len(doc) != _HEX * n:
        return None
    try:
        canonical = bytes.fromhex(doc).hex()  # C speed; whitespace or upper case would come back different
    except ValueError:
        return None
    if canonical != doc:
        return None
    return [doc[i : i + _HEX] for i in range(0, len(doc), _HEX)]
