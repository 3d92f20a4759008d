"""The audit history of a registered model, kept in the registry itself: alias moves and policy changes.

Each event is one tag ``cv.history.<ms>.<nonce>`` holding JSON; keys sort by time. An alias move
(:class:`AliasEvent`) is tagged on the version the alias moved *to*, so a move costs the same however
long the history is (a registered model's tags are loaded with it; a version's only with that version).
A policy change (:class:`PolicyEvent`) is tagged on the registered model. The full history is the union,
read page by page (:func:`mlflow_cv.registry.aliases.history`).

Who moves an alias first states the move in ``cv.move.request`` (why, whether it is a rollback), and who
changes a policy states it in ``cv.policy.request`` (why, whether it may loosen the rules); the guard
store consumes the request when it records the event. ``who`` is what the server knows (the user MLflow's
auth app authenticated, else ``unauthenticated (claims …)``); ``why`` is the mover's own words.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self, overload

from mlflow_cv.canonical import canonical_json
from mlflow_cv.tags import HISTORY_PREFIX, MOVE_POLICY, MOVE_PROMOTE, MOVE_ROLLBACK

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = [
    "AliasEvent",
    "Event",
    "History",
    "MoveRequest",
    "PolicyEvent",
    "PolicyRequest",
    "new_nonce",
    "parse_event",
    "parse_events",
    "parse_history",
    "previous_holder",
]


class _Statement:
    """A client's statement before a change (a tag the guard consumes): canonical JSON, read leniently."""

    def to_json(self) -> str:
        return canonical_json(asdict(self))  # type: ignore[call-overload]

    @classmethod
    def from_json(cls, text: str | None) -> Self | None:
        """The statement, or None when there is none or it is malformed (then the change states nothing).
        Unknown fields are ignored (older clients sent their own gate results)."""
        try:
            doc = json.loads(text or "")
            known = {f.name: doc[f.name] for f in fields(cls) if f.name in doc}  # type: ignore[arg-type]
            stated = cls(**known)
        except (ValueError, TypeError, AttributeError):
            return None
        kinds = {"str": str, "bool": bool}
        ok = all(isinstance(getattr(stated, f.name), kinds[str(f.type)]) for f in fields(stated))  # type: ignore[arg-type]
        return stated if ok else None


@dataclass(frozen=True)
class MoveRequest(_Statement):
    """What a client states before it moves an alias (its gate results are not part of it: the history
    holds the server's). Malformed or missing: the move is recorded as direct."""

    alias: str
    version: str  # the model version number, as MLflow's API takes it
    who: str
    why: str
    kind: str = MOVE_PROMOTE  # promote | rollback
    nonce: str = field(default_factory=lambda: new_nonce())


@dataclass(frozen=True)
class PolicyRequest(_Statement):
    """What a client states before it changes a policy: the policy it sets (canonical JSON), why, and
    whether it means to loosen the rules (``mlflow-cv model policy --allow-loosen``)."""

    policy: str
    who: str
    why: str
    allow_loosen: bool = False
    nonce: str = field(default_factory=lambda: new_nonce())


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _key(when: str, nonce: str) -> str:
    ms = int(datetime.fromisoformat(when).timestamp() * 1000)
    return f"{HISTORY_PREFIX}{ms:013d}.{nonce}"


class _Stamped:
    """An event of the history: stamped when it is made, stored under ``cv.history.<ms>.<nonce>``."""

    when: str
    nonce: str

    @classmethod
    def now(cls, **fields: object) -> Self:
        return cls(when=_stamp(), **fields)  # type: ignore[call-arg]  # the dataclass subclasses take them

    @property
    def key(self) -> str:
        return _key(self.when, self.nonce)

    def to_json(self) -> str:
        return canonical_json(asdict(self))  # type: ignore[call-overload]


@dataclass(frozen=True)
class AliasEvent(_Stamped):
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


@dataclass(frozen=True)
class PolicyEvent(_Stamped):
    """A change of the registered model's policy: the policy before and after (canonical JSON)."""

    when: str
    who: str
    old: str
    new: str
    loosened: tuple[str, ...]  # how the new policy is looser (empty: as strict or stricter)
    why: str
    nonce: str
    kind: str = MOVE_POLICY


Event = AliasEvent | PolicyEvent


def parse_event(text: str) -> Event:
    """One stored event (raises ValueError, TypeError or KeyError when it is not one)."""
    doc = json.loads(text)
    if doc.get("kind") == MOVE_POLICY:
        return PolicyEvent(**{**doc, "loosened": tuple(doc.get("loosened", ()))})
    return AliasEvent(**{**doc, "gates": tuple(doc.get("gates", ()))})


@dataclass(frozen=True)
class History:
    """Every recorded event of registered model ``name`` (alias moves and policy changes), oldest first."""

    name: str
    events: tuple[Event, ...]

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Event, ...]: ...
    def __getitem__(self, index: int | slice) -> Event | tuple[Event, ...]:
        return self.events[index]

    @property
    def moves(self) -> list[AliasEvent]:
        return [e for e in self.events if isinstance(e, AliasEvent)]

    def to_list(self) -> list[dict[str, Any]]:
        return [asdict(e) for e in self.events]

    def __rich__(self) -> RenderableType:
        from mlflow_cv.render import add_row, lines, table

        if not self.events:
            return lines(f"no alias or policy of {self.name} has changed yet")
        grid = table("WHEN", "ALIAS", "MOVE", "KIND", "BY (SERVER)", "WHY (THEIR WORDS)", "GATES (SERVER)")
        for e in self.events:
            if isinstance(e, PolicyEvent):
                change = "looser: " + "; ".join(e.loosened) if e.loosened else "as strict or stricter"
                add_row(grid, e.when, "-", change, e.kind, e.who, e.why, "")
                continue
            move = f"{f'v{e.from_semver}' if e.from_version else 'unset'} → v{e.to_semver}"
            add_row(grid, e.when, e.alias, move, e.kind, e.who, e.why, "\n".join(e.gates))
        return grid


def parse_events(texts: Iterable[str]) -> Iterator[Event]:
    """The events stored as ``texts``, in their order (unreadable entries are skipped, never guessed at)."""
    for text in texts:
        try:
            yield parse_event(text)
        except (ValueError, TypeError, KeyError, AttributeError):
            continue


def parse_history(tags: Mapping[str, str]) -> list[Event]:
    """Every event among ``tags`` (those of a model, or of its versions together), oldest first."""
    return list(parse_events(tags[k] for k in sorted(k for k in tags if k.startswith(HISTORY_PREFIX))))


def previous_holder(events: Iterable[Event], alias: str, current: str) -> AliasEvent | None:
    """The promotion that put ``current`` on ``alias``; its ``from_version`` is where a rollback goes.

    ``events`` come newest first. Rollbacks are skipped: after rolling v2 back to v1, a second rollback
    must not bring v2 back (without gates); it goes to what held the alias before v1 was promoted, if anything.
    """
    for event in events:  # newest first
        if (
            isinstance(event, AliasEvent)
            and event.alias == alias
            and event.to_version == current
            and event.kind != MOVE_ROLLBACK
        ):
            return event if event.from_version is not None else None
    return None


def new_nonce() -> str:
    return secrets.token_hex(4)
