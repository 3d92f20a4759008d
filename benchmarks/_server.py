"""Starting a local server for a benchmark: a free port, and a process that is ready before timing starts."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(cmd: list[str], ready: str, env: dict[str, str], timeout: float = 120) -> Iterator[None]:
    """Run ``cmd`` until the block ends; enter only once ``ready`` (a URL) answers, else fail."""
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(ready, timeout=1)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{' '.join(cmd[:3])} did not start (no answer at {ready})") from None
                time.sleep(0.5)
        yield
    finally:
        server.terminate()
        server.wait()
