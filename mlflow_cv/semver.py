"""Semantic versions shared by dataset snapshots (``DS-1.1.1``) and registered models (``1.5.0``).

A :class:`Bump` is the size of a change: ``NONE < PATCH < MINOR < MAJOR``. The rule tables that decide
which bump a change *requires* live with the things they version (``data.semantics`` for snapshots);
this module only parses, orders and checks versions.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from mlflow_cv.errors import BumpError, SemverError

__all__ = [
    "DEFAULT_LINEAGE",
    "SNAPSHOT_PREFIX",
    "Bump",
    "Version",
    "check_bump",
    "parse_snapshot_id",
    "snapshot_id",
    "snapshot_lineage",
]

DEFAULT_LINEAGE = "DS"  # a snapshot id is NAME-MAJOR.MINOR.PATCH; DS names the default lineage
SNAPSHOT_PREFIX = f"{DEFAULT_LINEAGE}-"
_SNAPSHOT_ID = re.compile(r"([A-Za-z][A-Za-z0-9_]*)-(.+)")
_VERSION_RE = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")


class Bump(enum.IntEnum):
    """How much a version changes; ordered so that ``max()`` gives the required bump of many reasons."""

    NONE = 0
    PATCH = 1
    MINOR = 2
    MAJOR = 3

    @classmethod
    def parse(cls, text: str) -> Bump:
        """``"minor"`` → ``Bump.MINOR``; refuses ``none`` and anything else."""
        try:
            bump = cls[text.strip().upper()]
        except KeyError:
            raise SemverError(f"unknown bump {text!r}: expected major, minor or patch") from None
        if bump is cls.NONE:
            raise SemverError("bump 'none' is not a change: expected major, minor or patch")
        return bump

    @classmethod
    def choice(cls, text: str) -> Bump | None:
        """A ``--bump`` (or ``registry.bump``) choice: ``"auto"`` → None (the bump the lineage requires),
        anything else as :meth:`parse`."""
        return None if text.strip().lower() == "auto" else cls.parse(text)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, order=True)
class Version:
    """A ``MAJOR.MINOR.PATCH`` version; compares numerically (``1.10.0 > 1.9.0``)."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse ``"1.2.3"`` (a leading ``v`` is accepted); raise :class:`SemverError` otherwise."""
        raw = text.strip()
        raw = raw[1:] if raw[:1] in ("v", "V") else raw
        match = _VERSION_RE.fullmatch(raw)
        if match is None:
            raise SemverError(
                f"{text!r} is not a semantic version: expected MAJOR.MINOR.PATCH such as 1.4.2 "
                "(numbers without leading zeros)"
            )
        return cls(*(int(g) for g in match.groups()))

    def bump(self, kind: Bump) -> Version:
        """The next version of the given kind: ``1.4.2`` → MINOR → ``1.5.0``."""
        if kind is Bump.MAJOR:
            return Version(self.major + 1, 0, 0)
        if kind is Bump.MINOR:
            return Version(self.major, self.minor + 1, 0)
        if kind is Bump.PATCH:
            return Version(self.major, self.minor, self.patch + 1)
        raise SemverError("cannot bump by NONE")

    def bump_from(self, older: Version) -> Bump:
        """The kind of bump that leads from ``older`` to this version (``NONE`` if not higher).

        A well-formed bump resets the lower parts: ``1.4.2 → 2.0.0`` is MAJOR, ``1.4.2 → 2.1.0`` is
        refused because it is not the start of a major line.
        """
        if self <= older:
            return Bump.NONE
        rest: tuple[int, ...]
        if self.major != older.major:
            kind, rest = Bump.MAJOR, (self.minor, self.patch)
        elif self.minor != older.minor:
            kind, rest = Bump.MINOR, (self.patch,)
        else:
            return Bump.PATCH
        if any(rest):
            raise SemverError(
                f"{self} is not a well-formed {kind.name} bump of {older}: a {kind.name} bump resets "
                f"the lower numbers, e.g. {older.bump(kind)}"
            )
        return kind

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def _split_snapshot_id(text: str) -> tuple[str, Version]:
    match = _SNAPSHOT_ID.fullmatch(text)
    try:
        if match is None:
            raise SemverError(text)
        return match.group(1), Version.parse(match.group(2))
    except SemverError:
        raise SemverError(
            f"{text!r} is not a snapshot id: expected NAME-MAJOR.MINOR.PATCH such as DS-1.1.1 or ROADS-1.0.0 "
            "(NAME: a letter, then letters, digits or _; it names the dataset's lineage, DS by default)"
        ) from None


def parse_snapshot_id(text: str) -> Version:
    """``"DS-1.1.1"`` (or ``"ROADS-1.0.0"``) → ``Version(1, 1, 1)``; raise :class:`SemverError` with the
    expected form."""
    return _split_snapshot_id(text)[1]


def snapshot_lineage(text: str) -> str:
    """The lineage a snapshot id names: ``"ROADS-1.0.0"`` → ``"ROADS"`` (checked as :func:`parse_snapshot_id`)."""
    return _split_snapshot_id(text)[0]


def snapshot_id(lineage: str, version: Version) -> str:
    return f"{lineage}-{version}"


def check_bump(*, old: Version, new: Version, required: Bump, reasons: list[str], label: str = "") -> Bump:
    """Refuse ``new`` unless it is higher than ``old`` by at least ``required``; return the declared bump.

    ``reasons`` explain ``required`` and are listed in the error. ``label`` prefixes versions in
    messages (``"DS-"`` for snapshots).
    """
    if required is Bump.NONE:
        raise BumpError(
            f"nothing changed against {label}{old}: no new version is needed",
            problems=["files, class map, task, label format and split are identical"],
        )
    if new <= old:
        raise SemverError(f"{label}{new} must be higher than {label}{old}")
    declared = new.bump_from(old)
    if declared < required:
        raise BumpError(
            f"{label}{new} is a {declared.name} bump of {label}{old}, but the change requires "
            f"{required.name}: use {label}{old.bump(required)} (or --bump {required.name.lower()})",
            problems=reasons,
        )
    return declared
