"""A progress bar on stderr for long jobs in a terminal, and nothing otherwise (logs stay clean)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

__all__ = ["progress_bar"]

MIN_ITEMS = 2000


@contextmanager
def progress_bar(label: str, total: int) -> Iterator[Callable[[int], None] | None]:
    """Yield an ``update(n)`` callback, or None when the job is small or stderr is not a terminal."""
    if total < MIN_ITEMS or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update
