"""Servers in a subprocess (``mlflow server``, ``mlflow models serve``) for as long as a block runs."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple


class Server(NamedTuple):
    url: str
    root: Path  # holds mlflow.db, artifacts/ and server.log


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(cmd: list[str], *, env: dict[str, str], log: Path, ready: str, timeout: float = 180) -> Iterator[str]:
    """Run a server until the block ends; yields its base URL once ``ready`` answers."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(ready, timeout=2):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{cmd[:3]} did not start:\n{log.read_text()[-3000:]}") from None
                    time.sleep(0.5)
            yield ready.rsplit("/", 1)[0]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
