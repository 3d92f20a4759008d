"""One check result, and one way to show a list of them: preflight checks, promotion gates and the
checks of a reproduction are all :class:`Check` values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Check", "all_passed", "render_checks"]


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
    """The checks as plain text: the table of :func:`mlflow_cv.render.checks_table`, which results
    that render themselves (gates, reproduction) show directly."""
    from mlflow_cv.render import checks_table, to_text

    return to_text(checks_table(checks, title=title))
