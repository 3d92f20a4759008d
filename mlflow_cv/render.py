"""How results show themselves, with rich: one console, one table style, progress on stderr.

Result types implement rich's ``__rich__`` (or a ``render(...)`` taking display options) and build
their tables and text with the helpers here; the CLI only does ``console().print(result)``. Nothing
imports rich at module level, so ``import mlflow_cv`` stays light; every helper imports it on use.

Long library calls (verify, checkout, snapshot, push, pull) report to a :class:`Progress`: they call
``start(total)`` once they know how many items they will process, then ``advance(n)``. The caller
only decides where progress goes: :func:`progress_on_stderr` draws a bar when stderr is a terminal
and the job has at least :data:`MIN_ITEMS` items, and nothing otherwise (logs and pipes stay clean).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
    from rich.table import Table


__all__ = [
    "MIN_ITEMS",
    "Lines",
    "Progress",
    "StderrProgress",
    "add_row",
    "console",
    "lines",
    "progress_on_stderr",
    "show",
    "table",
    "to_text",
]

MIN_ITEMS = 2000
_PIPE_WIDTH = 4096  # not a terminal: lay tables out on whole lines, never wrap


class Progress(Protocol):
    """What a long library call reports to: ``start(total)`` when the work is known, then ``advance(n)``.

    ``start`` may be called again for a next phase; it resets the count."""

    def start(self, total: int) -> None: ...

    def advance(self, n: int) -> None: ...


def console(*, stderr: bool = False) -> Console:
    """A console for stdout (or stderr): plain whole lines in pipes, no markup, emoji or highlighting."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else _PIPE_WIDTH
    return Console(file=stream, width=width, soft_wrap=True, highlight=False, markup=False, emoji=False)


def show(renderable: RenderableType) -> None:
    """Print on stdout: styled for a terminal; for a pipe or file, plain whole lines without trailing spaces
    (plain :class:`Lines` go out as they are, without loading rich at all)."""
    if sys.stdout.isatty():
        console().print(renderable)
        return
    rich = getattr(renderable, "__rich__", None)
    shown = rich() if rich is not None else renderable
    sys.stdout.write((str(shown) if isinstance(shown, Lines) else to_text(shown)) + "\n")


def to_text(renderable: RenderableType) -> str:
    """The renderable as plain text, as a pipe would get it (trailing spaces stripped)."""
    import io

    from rich.console import Console

    buffer = io.StringIO()
    Console(
        file=buffer, width=_PIPE_WIDTH, soft_wrap=True, highlight=False, markup=False, emoji=False, color_system=None
    ).print(renderable)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


class Lines:
    """Plain lines of text as a rich renderable (never read as markup); ``str()`` gives them as they are."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.texts = tuple(texts)

    def __str__(self) -> str:
        return "\n".join(self.texts)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.text import Text

        yield Text(str(self))


def lines(*texts: str | Iterable[str]) -> Lines:
    """Lines of plain text, one per string (iterables of strings are spread)."""
    return Lines(t for part in texts for t in ([part] if isinstance(part, str) else part))


def table(*columns: str, right: Iterable[str] = (), header: bool = True, title: str = "") -> Table:
    """The one table style: no box, a header line unless ``header`` is False, columns in ``right``
    right-aligned (numbers). Cells wrap only in a terminal too narrow for them."""
    from rich.table import Table

    right = set(right)
    out = Table(
        box=None,
        show_header=header,
        header_style="bold",
        pad_edge=False,
        padding=(0, 1, 0, 0),
        title=title or None,
        title_justify="left",
        title_style="",
    )
    for name in columns:
        out.add_column(name, justify="right" if name in right else "left")
    return out


def add_row(grid: Table, *cells: object) -> None:
    """Add cells as plain text (``str(cell)``; None → ``-``), so user text is never read as markup."""
    from rich.text import Text

    grid.add_row(*(c if hasattr(c, "__rich_console__") else Text("-" if c is None else str(c)) for c in cells))


class StderrProgress:
    """A rich progress bar on stderr, drawn only when stderr is a terminal and the job is large."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._bar: Any = None
        self._task: Any = None

    def start(self, total: int) -> None:
        if self._bar is not None:
            self._bar.reset(self._task, total=total)
            return
        if total < MIN_ITEMS or not sys.stderr.isatty():
            return
        from rich.progress import Progress as Bar

        self._bar = Bar(*Bar.get_default_columns(), console=console(stderr=True), transient=True)
        self._bar.start()
        self._task = self._bar.add_task(self.label, total=total)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


@contextmanager
def progress_on_stderr(label: str, *, enabled: bool = True) -> Iterator[StderrProgress | None]:
    """A :class:`Progress` for a library call (None when not ``enabled``); the bar is removed on exit."""
    if not enabled:
        yield None
        return
    bar = StderrProgress(label)
    try:
        yield bar
    finally:
        bar.close()
