"""One check result, and its table: one way to show a list of them: preflight checks, promotion gates and the
checks of a reproduction are all :class:`Check` values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlflow_cv.render import add_row, table, to_text

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["Check", "all_passed", "checks_table", "render_checks"]


@dataclass(frozen=True)
class Check:
    """One verdict: ``name`` passed or not, with what was found and, for a failure, how to fix it.

    ``overridden`` marks a failure the user explicitly allowed (a preflight override): it does not
    count as failed, but stays visible.
    """

    name: str
    passed: bool
    detail: str
    fix: str = ""
    overridden: bool = False

    @property
    def failed(self) -> bool:
        return not self.passed and not self.overridden

    @property
    def mark(self) -> str:
        return "override" if self.overridden else "pass" if self.passed else "FAIL"

    def line(self) -> str:
        """``pass     lineage            complete``: one line, as tables and the history show it."""
        return f"{self.mark:<8} {self.name:<18} {self.detail}"


def all_passed(checks: Sequence[Check]) -> bool:
    return not any(c.failed for c in checks)


def render_checks(checks: Sequence[Check], *, title: str = "") -> str:
    """The checks as plain text: the table of :func:`checks_table`, which results that render
    themselves (gates, reproduction) show directly."""
    return to_text(checks_table(checks, title=title))


def checks_table(checks: Iterable[Check], *, title: str = "") -> Table:
    """Checks (preflight, gates, reproduction) one per row; a failure's fix on the row below it."""
    grid = table("mark", "check", "detail", header=False, title=title)
    grid.columns[0].min_width, grid.columns[1].min_width = 8, 18
    for check in checks:
        add_row(grid, check.mark, check.name, check.detail)
        if check.fix and check.failed:
            add_row(grid, "", "", f"fix: {check.fix}")
    return grid
