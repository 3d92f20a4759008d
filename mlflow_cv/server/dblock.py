"""Check-then-write, one at a time, serialized in the database itself (DESIGN §4b).

The guard stores read, decide and then write through MLflow's own store methods, each in its own
transaction; :func:`serialized` makes that sequence atomic for one key (a registered model, a run)
across threads, server workers and server processes on the same database:

- PostgreSQL: a session-level advisory lock (``pg_advisory_lock``) on a connection of the store's engine,
  held for the sequence; it is released when the sequence ends, or when the process dies with it;
- SQLite: an exclusive ``flock`` on a file beside the database (SQLite is one file on one machine).

Within one process one sequence runs at a time (a re-entrant lock), so a process holds at most one
advisory connection; a sequence takes all its keys at once, in sorted order, so two never wait on each
other, and a nested guarded call inside a sequence runs under the locks it already holds.
"""

from __future__ import annotations

import fcntl
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["serialized"]

_NAMESPACE = 0x6376  # "cv": the advisory-lock class of mlflow-cv's guards
_process = threading.RLock()
_held = threading.local()


@contextmanager
def serialized(store: Any, *keys: str) -> Iterator[None]:
    """Hold the locks of ``keys`` (e.g. ``model:NAME``, ``run:ID``) in ``store``'s database (an MLflow
    SqlAlchemyStore) while the block runs."""
    with _process:
        if getattr(_held, "depth", 0):  # inside a sequence of this thread, which holds its locks
            _held.depth += 1
            try:
                yield
            finally:
                _held.depth -= 1
            return
        _held.depth = 1
        try:
            with _database_lock(store, sorted(set(keys))):
                yield
        finally:
            _held.depth = 0


@contextmanager
def _database_lock(store: Any, keys: list[str]) -> Iterator[None]:
    uri = str(store.db_uri)
    if uri.startswith("sqlite:///"):
        with open(f"{uri[len('sqlite:///') :]}.cv-guard.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if store.engine.dialect.name != "postgresql":
        from mlflow_cv.server.refusal import refuse

        raise refuse(f"the guard serializes its checks in SQLite or PostgreSQL only, not {store.engine.dialect.name}")
    from sqlalchemy import text

    objids = sorted({zlib.crc32(key.encode()) - 2**31 for key in keys})  # signed int4s
    with store.engine.connect() as conn:
        for objid in objids:
            conn.execute(text("SELECT pg_advisory_lock(:c, :o)"), {"c": _NAMESPACE, "o": objid})
        conn.commit()
        try:
            yield
        finally:
            try:
                for objid in reversed(objids):
                    conn.execute(text("SELECT pg_advisory_unlock(:c, :o)"), {"c": _NAMESPACE, "o": objid})
                conn.commit()
            except Exception:  # a connection that may still hold a lock never goes back to the pool
                conn.invalidate()
                raise
