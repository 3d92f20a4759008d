"""The local content-addressed object store: every frozen file's bytes, kept by SHA-256.

Layout: ``<root>/objects/ab/cdef…`` (read-only files named by their hash) and ``<root>/tmp/`` for
writes in flight. An object becomes visible only by an atomic rename of a complete temp file, so a
crash or kill leaves at most an orphan in ``tmp/`` (swept by the next writer), never a partial object.
Objects are not fsynced one by one (that would cost more than the hashing); readers verify hashes,
so an object damaged by a power loss is detected, named and can be re-added from the source.

Ingestion always copies: a hard link would let an in-place edit of the working file change the
frozen bytes. Checkout may hard-link (read-only consumers) or reflink/copy (the default).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from mlflow_cv.errors import StoreError

__all__ = ["LinkMode", "ObjectStore", "Staging"]


def _rmtree(path: str | os.PathLike[str], *, ignore_errors: bool) -> None:
    import shutil  # here: reading the store (verify) never removes anything

    shutil.rmtree(path, ignore_errors=ignore_errors)


LinkMode = Literal["copy", "hardlink"]
_FICLONE = 0x40049409  # Linux ioctl: share extents copy-on-write (btrfs, xfs); EOPNOTSUPP elsewhere
_STALE_TMP_S = 3600


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
    def put(stage: str, objects: str, sha256: str, data: bytes) -> None:
        final = os.path.join(stage, sha256)
        if os.path.exists(os.path.join(objects, sha256[:2], sha256[2:])) or os.path.exists(final):
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

    def commit(self) -> int:
        """Move every staged object into the store (read-only); return how many were new."""
        added = 0
        for entry in os.scandir(self.path):
            if entry.name.endswith(".part"):
                continue
            final = self.store.object_path(entry.name)
            os.chmod(entry.path, 0o444)
            if not final.exists():
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(entry.path, final)
                added += 1
        _rmtree(self.path, ignore_errors=True)
        return added

    def abort(self) -> None:
        _rmtree(self.path, ignore_errors=True)
