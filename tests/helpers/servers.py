"""Servers in a subprocess (``mlflow server``, ``mlflow models serve``) for as long as a block runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
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


@contextmanager
def guarded_mlflow_server(
    db: str, root: Path, *, workers: int = 1, args: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> Iterator[Server]:
    """``mlflow server`` on 127.0.0.1 over ``db`` through both mlflow-cv guards, serving artifacts from
    ``root/artifacts`` (its log in ``root/server.log``)."""
    port = free_port()
    cmd = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"cv-guard-{db}",
        "--registry-store-uri",
        f"cv-guard-{db}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--workers",
        str(workers),
        *args,
    ]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    with running(
        cmd, env={**clean, **(env or {})}, log=root / "server.log", ready=f"http://127.0.0.1:{port}/health"
    ) as url:
        yield Server(url, root)
