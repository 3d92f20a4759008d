"""The audit history of alias moves, kept as registered-model tags so it lives in the registry itself.

Each move is one tag ``cv.history.<ms>.<nonce>`` holding a JSON :class:`AliasEvent`; keys sort by
time. Who moves an alias first states the move in ``cv.move.request`` (who, why, gate results, whether
it is a rollback); the guard store reads that request when it records the move, and records moves made
without one (the MLflow UI, raw REST) as ``direct``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, overload

from mlflow_cv.canonical import canonical_json
from mlflow_cv.tags import HISTORY_PREFIX, MOVE_PROMOTE, MOVE_ROLLBACK

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = [
    "AliasEvent",
    "History",
    "MoveRequest",
    "new_nonce",
    "parse_history",
    "previous_holder",
]


@dataclass(frozen=True)
class MoveRequest:
    """What a client states before it moves an alias."""

    alias: str
    version: str  # the model version number, as MLflow's API takes it
    who: str
    why: str
    kind: str = MOVE_PROMOTE  # promote | rollback
    gates: tuple[str, ...] = ()
    nonce: str = field(default_factory=lambda: new_nonce())

    def to_json(self) -> str:
        return canonical_json(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> MoveRequest | None:
        """The request, or None when there is none or it is malformed (then the move counts as direct)."""
        try:
            doc = json.loads(text or "")
            return cls(**{**doc, "gates": tuple(str(g) for g in doc.get("gates", ()))})
        except (ValueError, TypeError, AttributeError):
            return None


@dataclass(frozen=True)
class AliasEvent:
    when: str  # ISO 8601, UTC
    who: str
    alias: str
    from_version: str | None  # model version numbers; None: the alias was not set
    to_version: str
    from_semver: str | None
    to_semver: str | None
    why: str
    kind: str  # promote | rollback | direct
    gates: tuple[str, ...]
    nonce: str

    @classmethod
    def now(cls, **fields: object) -> AliasEvent:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        return cls(when=stamp, **fields)  # type: ignore[arg-type]

    @property
    def key(self) -> str:
        ms = int(datetime.fromisoformat(self.when).timestamp() * 1000)
        return f"{HISTORY_PREFIX}{ms:013d}.{self.nonce}"

    def to_json(self) -> str:
        return canonical_json(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> AliasEvent:
        doc = json.loads(text)
        return cls(**{**doc, "gates": tuple(doc.get("gates", ()))})


@dataclass(frozen=True)
class History:
    """Every recorded alias move of registered model ``name``, oldest first; a sequence of events."""

    name: str
    events: tuple[AliasEvent, ...]

    def __iter__(self) -> Iterator[AliasEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    @overload
    def __getitem__(self, index: int) -> AliasEvent: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[AliasEvent, ...]: ...
    def __getitem__(self, index: int | slice) -> AliasEvent | tuple[AliasEvent, ...]:
        return self.events[index]

    def to_list(self) -> list[dict[str, Any]]:
        return [asdict(e) for e in self.events]

    def __rich__(self) -> RenderableType:
        from mlflow_cv.render import add_row, lines, table

        if not self.events:
            return lines(f"no alias of {self.name} has moved yet")
        grid = table("WHEN", "ALIAS", "MOVE", "KIND", "BY", "WHY", "GATES")
        for e in self.events:
            move = f"{f'v{e.from_semver}' if e.from_version else 'unset'} → v{e.to_semver}"
            add_row(grid, e.when, e.alias, move, e.kind, e.who, e.why, "\n".join(e.gates))
        return grid


def parse_history(tags: Mapping[str, str]) -> list[AliasEvent]:
    """Every recorded move, oldest first (unreadable entries are skipped, never guessed at)."""
    events = []
    for key in sorted(k for k in tags if k.startswith(HISTORY_PREFIX)):
        try:
            events.append(AliasEvent.from_json(tags[key]))
        except (ValueError, TypeError, AttributeError):
            continue
    return events


def previous_holder(events: list[AliasEvent], alias: str, current: str) -> AliasEvent | None:
    """The promotion that put ``current`` on ``alias``; its ``from_version`` is where a rollback goes.

    Rollbacks are skipped: after rolling v2 back to v1, a second rollback must not bring v2 back
    (without gates); it goes to what held the alias before v1 was promoted, if anything.
    """
    for event in reversed(events):
        if event.alias == alias and event.to_version == current and event.kind != MOVE_ROLLBACK:
            return event if event.from_version is not None else None
    return None


def new_nonce() -> str:
    return secrets.token_hex(4)
