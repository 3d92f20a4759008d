"""The local content-addressed object store: every frozen file's bytes, kept by SHA-256.

Layout: ``<root>/objects/ab/cdef…`` (read-only files named by their hash) and ``<root>/tmp/`` for
writes in flight. An object becomes visible only by an atomic rename of a complete temp file, so a
crash or kill leaves at most an orphan in ``tmp/`` (swept by the next writer), never a partial object.
Objects are not fsynced one by one (that would cost more than the hashing); readers verify hashes,
so an object damaged by a power loss is detected, named and can be re-added from the source.

Ingestion always copies: a hard link would let an in-place edit of the working file change the
frozen bytes. Checkout may hard-link (read-only consumers) or reflink/copy (the default).

The store heals instead of spreading damage. A snapshot that meets an object it already holds checks
it before reusing it: its size, always (one ``stat``, which the "is it there" test cost anyway), and
its content, by hashing it, for a :class:`ContentSample` of the objects: all of them when the
snapshot has at most :data:`CHECK_ALL_UP_TO` (1,024) files, else a deterministic sample of a share
``max(CHECK_FRACTION, CHECK_ALL_UP_TO / n)`` of them: about 1,024 objects, and 1/32 of them (~3% more
reading) beyond 32,768 files. The sample is drawn anew for each snapshot id, so successive snapshots
sweep different objects; objects the snapshot does not reuse are left alone. An
object found short, long or corrupt is staged again from the snapshot's source bytes, and
:meth:`Staging.publish` replaces it (after hashing it in full, in case another writer healed it
first) and reports it. The replacement is atomic: the staged copy, already complete and read-only,
is renamed over the damaged one, so readers see the old bytes or the good ones, never a mix. A full
check of every object stays ``mlflow-cv data verify ID`` (no source).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, NamedTuple

from mlflow_cv.errors import StoreError

__all__ = ["CHECK_ALL_UP_TO", "CHECK_FRACTION", "ContentSample", "LinkMode", "ObjectStore", "Published", "Staging"]


def _rmtree(path: str | os.PathLike[str], *, ignore_errors: bool) -> None:
    import shutil  # here: reading the store (verify) never removes anything

    shutil.rmtree(path, ignore_errors=ignore_errors)


LinkMode = Literal["copy", "hardlink"]
_FICLONE = 0x40049409  # Linux ioctl: share extents copy-on-write (btrfs, xfs); EOPNOTSUPP elsewhere
_STALE_TMP_S = 3600
CHECK_ALL_UP_TO = 1024  # a snapshot of at most this many files re-hashes every stored object it reuses
CHECK_FRACTION = 1 / 32  # a larger one re-hashes at least this fraction of them (and at least 1,024)


def _sound(path: str, sha256: str, size: int, *, content: bool) -> bool:
    """The object at ``path`` has ``size`` bytes and, when ``content`` is set, still hashes to ``sha256``."""
    try:
        if os.stat(path).st_size != size:
            return False
        if not content:
            return True
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest() == sha256
    except FileNotFoundError:
        return False


@dataclass(frozen=True)
class ContentSample:
    """Which reused objects a snapshot re-hashes: those whose hash, mixed with ``salt``, falls below ``rate``.

    Deterministic (the same snapshot id and file count pick the same objects, in any process) and
    different for each snapshot id, so successive snapshots check different parts of the store.
    """

    salt: int
    rate: float

    @classmethod
    def for_snapshot(cls, snapshot_id: str, n_files: int) -> ContentSample:
        rate = 1.0 if n_files <= CHECK_ALL_UP_TO else max(CHECK_FRACTION, CHECK_ALL_UP_TO / n_files)
        salt = int.from_bytes(hashlib.sha256(snapshot_id.encode("utf-8")).digest()[:8], "big")
        return cls(salt=salt, rate=rate)

    def picks(self, sha256: str) -> bool:
        return self.rate >= 1.0 or (int(sha256[:16], 16) ^ self.salt) < self.rate * 2.0**64


@dataclass(frozen=True)
class ObjectStore:
    """A directory of immutable objects addressed by their SHA-256."""

    root: Path

    def object_path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise StoreError(f"{sha256!r} is not a SHA-256 hex digest")
        return self.root / "objects" / sha256[:2] / sha256[2:]

    def has(self, sha256: str) -> bool:
        return self.object_path(sha256).is_file()

    def is_sound(self, sha256: str, size: int, *, content: bool) -> bool:
        """The object exists with ``size`` bytes and, when ``content`` is set, its bytes hash to ``sha256``."""
        return _sound(str(self.object_path(sha256)), sha256, size, content=content)

    def read_verified(self, sha256: str) -> bytes:
        """The object's bytes, after checking they still hash to ``sha256``."""
        path = self.object_path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StoreError(
                f"object {sha256} is missing from the store {self.root}; re-create the snapshot from "
                "its source or pull it from the remote"
            ) from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StoreError(f"object {sha256} in {self.root} is corrupt: its bytes no longer match its hash")
        return data

    def materialize(self, sha256: str, dest: Path, *, link: LinkMode = "copy") -> None:
        """Write the object's bytes to ``dest`` (which must not exist), verifying them on the way.

        ``copy`` reflinks where the file system can and copies otherwise; ``hardlink`` links the
        read-only object itself (fast, for consumers that only read) after verifying its hash.
        """
        if link == "hardlink":
            self.read_verified(sha256)
            try:
                os.link(self.object_path(sha256), dest)
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                    raise
        data = self.read_verified(sha256)
        with open(self.object_path(sha256), "rb") as src, open(dest, "xb") as out:
            try:
                fcntl.ioctl(out.fileno(), _FICLONE, src.fileno())
            except OSError:
                out.write(data)

    def sweep_tmp(self) -> None:
        """Remove staging folders left by writers that died more than an hour ago."""
        tmp_dir = self.root / "tmp"
        if not tmp_dir.is_dir():
            return
        cutoff = time.time() - _STALE_TMP_S
        for entry in os.scandir(tmp_dir):
            try:
                if entry.stat().st_mtime >= cutoff:
                    continue
                if entry.is_dir():
                    _rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except FileNotFoundError:
                pass

    def staging(self) -> Staging:
        """A private staging folder: objects written there become visible only on ``commit()``."""
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self.sweep_tmp()
        path = tmp_dir / f"stage-{os.getpid()}-{os.urandom(16).hex()}"
        path.mkdir()
        return Staging(store=self, path=path)


class Published(NamedTuple):
    """What :meth:`Staging.publish` did: objects added, and the corrupt ones it replaced (their hashes)."""

    added: int
    healed: tuple[str, ...]


@dataclass(frozen=True)
class Staging:
    """Objects written by a snapshot in progress; ``commit()`` publishes them, ``abort()`` drops them.

    Use as a context manager: leaving it by an exception aborts. Workers in other processes write
    through the static helpers, which only need the folder paths.
    """

    store: ObjectStore
    path: Path

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()

    @staticmethod
    def put(stage: str, objects: str, sha256: str, data: bytes, *, check: bool = False) -> None:
        """Stage ``data`` (whose hash is ``sha256``) unless the store holds it already, intact: of the
        same size and, when ``check`` is set, of the same hash. A damaged stored copy is replaced on publish."""
        final = os.path.join(stage, sha256)
        if _sound(os.path.join(objects, sha256[:2], sha256[2:]), sha256, len(data), content=check):
            return
        if os.path.exists(final):
            return
        tmp = f"{final}.{os.getpid()}.part"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, final)

    @staticmethod
    def stream_into(stage: str, src: BinaryIO) -> str:
        """Copy a large open file into the staging folder while hashing it; return its hash."""
        digest = hashlib.sha256()
        tmp = os.path.join(stage, f"stream-{os.getpid()}-{os.urandom(16).hex()}.part")
        with open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
        sha = digest.hexdigest()
        os.replace(tmp, os.path.join(stage, sha))
        return sha

    @staticmethod
    def drop_if_stored(stage: str, objects: str, sha256: str, size: int, *, check: bool = False) -> None:
        """Forget a streamed object the store holds intact already (the test of :meth:`put`)."""
        if _sound(os.path.join(objects, sha256[:2], sha256[2:]), sha256, size, content=check):
            with contextlib.suppress(FileNotFoundError):  # a worker streaming the same bytes dropped it first
                os.unlink(os.path.join(stage, sha256))

    def publish(self) -> Published:
        """Move every staged object into the store (read-only); replace stored copies found corrupt.

        A staged object whose hash the store holds already was staged because a writer found the
        stored copy damaged (or another writer published it meanwhile): the stored copy is hashed in
        full, kept if intact, and otherwise replaced by an atomic rename of the staged one, which
        needs no write permission on the read-only object, only on its folder.
        """
        added = 0
        healed: list[str] = []
        for entry in os.scandir(self.path):
            if entry.name.endswith(".part"):
                continue
            final = self.store.object_path(entry.name)
            os.chmod(entry.path, 0o444)
            if not final.exists():
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(entry.path, final)
                added += 1
            elif not _sound(str(final), entry.name, entry.stat().st_size, content=True):
                os.replace(entry.path, final)
                healed.append(entry.name)
        _rmtree(self.path, ignore_errors=True)
        return Published(added=added, healed=tuple(sorted(healed)))

    def commit(self) -> int:
        """:meth:`publish`, returning how many objects were new."""
        return self.publish().added

    def abort(self) -> None:
        _rmtree(self.path, ignore_errors=True)
