"""A side process that writes a training's MLflow run, so that logging adds almost nothing to training.

Importing MLflow, opening its store and logging the model cost seconds of Python. Run inside the
training process they hold the GIL that Ultralytics' own loop needs, and that time adds to the
training's (a thread does not help). Ultralytics on a CPU keeps about one core busy, so a second
process does this work on the core that is idle anyway.

:class:`RunWriter` starts ``python -m mlflow_cv.tracking.writer`` and hands it calls of module-level
functions (pickled by reference, so the writer imports the same code), which it executes one at a
time, in order. :meth:`RunWriter.send` queues a call and returns at once; :meth:`RunWriter.call` waits
for its result. A call that fails in the writer is raised in the training process at its next
``send`` or ``call`` (errors other than mlflow-cv's own as a :class:`~mlflow_cv.errors.TrackingError`).

The writer ignores Ctrl-C: the training process decides how the run ends and says so. When the
training process dies without saying so, the writer ends the run it holds as ``KILLED``; when it is
closed with a run still open, ``FAILED``. When the writer dies, the training stops at its next call
and ends the run itself (:attr:`RunWriter.exit_status` tells it so); when both die, the run's owner
record lets a later process end it (:mod:`mlflow_cv.tracking.doctor`). No run is left ``RUNNING`` or
marked ``FINISHED`` by MLflow's own exit hook.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

from mlflow_cv.errors import MlflowCvError, TrackingError

__all__ = ["RunWriter"]

_EXIT_TIMEOUT_S = 60.0
_NICENESS = 10


class RunWriter:
    """The training side of the writer process; use it as a context manager."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        package_root = str(Path(__file__).resolve().parents[2])  # the writer imports this very code
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", __name__, str(theirs.fileno())], pass_fds=[theirs.fileno()], env=env
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        self._ids = itertools.count()
        # A thread reads what the writer says: answers go to the inbox (each with its call's id) and
        # failures of sent calls to a list. Ctrl-C, which may land anywhere in the main thread, then
        # cannot leave half a message read, nor pair a call with another call's answer.
        self._inbox: queue.SimpleQueue[tuple[str, int, Any]] = queue.SimpleQueue()
        self._failures: list[MlflowCvError] = []
        threading.Thread(target=self._read, name="mlflow-cv-writer-reader", daemon=True).start()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def exit_status(self) -> str | None:
        """How the writer process ended (``status 3``, ``killed by SIGKILL``), or None while it runs."""
        code = self._proc.poll()
        return None if code is None else _describe(code)

    def send(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Queue ``fn(*args, **kwargs)`` in the writer; raises an earlier call's failure, if any."""
        self._raise_failure()
        self._post(("send", -1, fn, args, kwargs))

    def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` in the writer after everything queued before it; its result."""
        call_id = next(self._ids)
        self._post(("call", call_id, fn, args, kwargs))
        while True:
            kind, answered, value = self._inbox.get()
            if kind == "gone":
                self._inbox.put((kind, answered, value))  # for every later call too
                raise TrackingError(
                    f"the MLflow writer process exited ({self._exit_status()}) before it answered; "
                    "its error, if it had time for one, is printed above"
                )
            if answered == call_id:  # else the answer to a call that Ctrl-C left unanswered
                break
        self._raise_failure()
        if kind == "error":
            raise value
        return value

    def close(self) -> None:
        """Let the writer finish what is queued and exit. Its own shutdown (MLflow's telemetry flush,
        freeing torch) takes a second or two that the training does not wait for: a thread reaps it,
        killing it if it has not exited within a minute."""
        with contextlib.suppress(OSError):  # it has exited already
            self._conn.send(("exit", -1, None, (), {}))
        threading.Thread(target=_reap, args=(self._proc,), name="mlflow-cv-writer-reaper", daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                kind, call_id, value = self._conn.recv()
                if kind == "failed":
                    self._failures.append(value)
                else:
                    self._inbox.put((kind, call_id, value))
        except (EOFError, OSError):  # the writer has exited
            self._inbox.put(("gone", -1, None))
        finally:
            self._conn.close()

    def _post(self, message: tuple[str, int, Any, tuple[Any, ...], dict[str, Any]]) -> None:
        try:
            self._conn.send(message)
        except OSError as exc:
            raise TrackingError(f"the MLflow writer process has exited ({self._exit_status()}): {exc}") from exc

    def _exit_status(self) -> str:
        try:
            return _describe(self._proc.wait(timeout=_EXIT_TIMEOUT_S))
        except subprocess.TimeoutExpired:
            return "still running"

    def _raise_failure(self) -> None:
        """Raise the first failure of a sent call (once; later ones are consequences of it, mostly)."""
        if self._failures:
            failure = self._failures[0]
            self._failures.clear()
            raise failure


def _describe(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"status {returncode}"


def _reap(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=_EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _as_error(exc: Exception) -> MlflowCvError:
    """What the training process raises: our own errors as they are, anything else (printed here in
    full) as a TrackingError."""
    if isinstance(exc, MlflowCvError):
        return exc
    traceback.print_exception(exc, file=sys.stderr)
    return TrackingError(f"MLflow logging failed: {type(exc).__name__}: {exc}")


def _serve(conn: Connection) -> None:
    """The writer's loop: run each call in order, answer ``call``s, report failed ``send``s at once."""
    while True:
        try:
            kind, call_id, fn, args, kwargs = conn.recv()
        except EOFError:  # the training process is gone without ending the run
            _end_open_run("KILLED")
            return
        if kind == "exit":
            _end_open_run("FAILED")  # closed without ending its run: never let MLflow's atexit FINISH it
            return
        try:
            result = fn(*args, **kwargs)
            answer = ("result", call_id, result) if kind == "call" else None
        except Exception as exc:
            answer = ("error" if kind == "call" else "failed", call_id, _as_error(exc))
        if answer is not None:
            try:
                conn.send(answer)
            except OSError:  # the training process is gone
                _end_open_run("KILLED")
                return


def _end_open_run(status: str) -> None:
    if "mlflow" in sys.modules:  # else no run was opened
        from mlflow_cv.tracking import run_log

        run_log.end_run(status)  # its owner record goes with it


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the training's to handle
    os.nice(_NICENESS)  # take the CPU the training leaves idle, not the training's own
    _serve(Connection(int(sys.argv[1])))
