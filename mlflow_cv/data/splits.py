"""Deterministic, stable train/val/test splits.

``hash`` splits place each item by a keyed hash of ``(seed, item id)``: the same seed always gives the
same split, and adding or removing items never moves the others (a shuffle would). ``from-dirs``
keeps the split a dataset already has on disk (``images/train/…``, ``images/val/…``).

Hash splits keep every class: when a split has no item of a class that has items elsewhere, one item of
that class is moved there from a split that keeps another (the item chosen by a keyed hash too, never
the last item of any class in its split). Only items new in this snapshot move: a child snapshot with
its parent's split spec keeps every parent item where the parent put it (``keep``), so adding items
still never moves the others. A class with too few items to reach every split is reported
(:func:`split_gaps`), never hidden.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from mlflow_cv.errors import DatasetError

__all__ = [
    "DEFAULT_RATIOS",
    "DEFAULT_SEED",
    "SplitSpec",
    "assign_splits",
    "describe_gaps",
    "parse_ratios",
    "split_gaps",
]

DEFAULT_SEED = 42
DEFAULT_RATIOS: tuple[tuple[str, float], ...] = (("train", 0.7), ("val", 0.2), ("test", 0.1))
_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_SCALE = float(2**64)


@dataclass(frozen=True)
class SplitSpec:
    """How items are assigned to splits: ``method`` is ``hash`` (with seed and ratios) or ``from-dirs``."""

    method: str = "hash"
    seed: int | None = DEFAULT_SEED
    ratios: tuple[tuple[str, float], ...] = DEFAULT_RATIOS

    def __post_init__(self) -> None:
        if self.method == "from-dirs":
            if self.seed is not None or self.ratios:
                raise DatasetError("a from-dirs split has no seed or ratios")
            return
        if self.method != "hash":
            raise DatasetError(f"unknown split method {self.method!r}: expected 'hash' or 'from-dirs'")
        if self.seed is None or isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise DatasetError("a hash split needs an integer seed")
        _check_ratios(self.ratios)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.ratios)

    def __str__(self) -> str:
        """``seed 42, train=0.7,val=0.2,test=0.1`` or ``from-dirs``."""
        if self.method == "from-dirs":
            return "from-dirs"
        return f"seed {self.seed}, " + ",".join(f"{n}={r:g}" for n, r in self.ratios)

    def to_dict(self) -> dict[str, object]:
        return {"method": self.method, "seed": self.seed, "ratios": {n: r for n, r in self.ratios}}

    @classmethod
    def from_options(
        cls, text: str | None, *, seed: int | None = None, parent: SplitSpec | None = None
    ) -> SplitSpec | None:
        """The split asked for by ``--split TEXT`` (ratios or ``from-dirs``) and ``--seed``; what is not
        given comes from the parent's split, else the defaults. None when neither is given (a child then
        keeps its parent's split)."""
        if text == "from-dirs":
            if seed is not None:
                raise DatasetError("--seed has no meaning with --split from-dirs")
            return cls(method="from-dirs", seed=None, ratios=())
        if text is None and seed is None:
            return None
        base = parent or cls()
        ratios = parse_ratios(text) if text else (base.ratios or DEFAULT_RATIOS)
        return cls(
            method="hash",
            seed=seed if seed is not None else (DEFAULT_SEED if base.seed is None else base.seed),
            ratios=ratios,
        )

    @classmethod
    def from_dict(cls, doc: Mapping[str, object]) -> SplitSpec:
        ratios = doc.get("ratios") or {}
        if not isinstance(ratios, Mapping):
            raise DatasetError("split ratios must be a mapping of split name to fraction")
        seed = doc.get("seed")
        return cls(
            method=str(doc.get("method")),
            seed=seed if isinstance(seed, int) else None,
            ratios=_ordered({str(k): float(v) for k, v in ratios.items()}),
        )


def parse_ratios(text: str) -> tuple[tuple[str, float], ...]:
    """``"train=0.7,val=0.2,test=0.1"`` → ordered pairs; ratios must be positive and sum to 1."""
    pairs: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        try:
            ratio = float(value)
        except ValueError:
            ratio = float("nan")
        if not sep or ratio != ratio:
            raise DatasetError(f"bad split {part!r}: expected NAME=FRACTION, e.g. train=0.7,val=0.2,test=0.1")
        if name in pairs:
            raise DatasetError(f"split {name!r} is given twice in {text!r}")
        pairs[name] = ratio
    ratios = _ordered(pairs)
    _check_ratios(ratios)
    return ratios


def _ordered(pairs: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    """Canonical order: train, val, test first, then other names alphabetically."""
    rank = {"train": 0, "val": 1, "test": 2}
    return tuple(sorted(pairs.items(), key=lambda kv: (rank.get(kv[0], 3), kv[0])))


def _check_ratios(ratios: tuple[tuple[str, float], ...]) -> None:
    names = [n for n, _ in ratios]
    if "train" not in names:
        raise DatasetError(f"splits {names} have no 'train' split")
    for name, ratio in ratios:
        if not _NAME_RE.fullmatch(name):
            raise DatasetError(f"split name {name!r} must be lower-case letters, digits or '_'")
        if not 0.0 < ratio <= 1.0:
            raise DatasetError(f"split {name!r} has ratio {ratio}: expected a fraction above 0 and at most 1")
    total = sum(r for _, r in ratios)
    if abs(total - 1.0) > 1e-6:
        raise DatasetError(f"split ratios sum to {total:g}, expected 1 (e.g. train=0.7,val=0.2,test=0.1)")


def _unit(key: bytes, text: str) -> float:
    return int.from_bytes(hashlib.sha256(key + text.encode("utf-8")).digest()[:8], "big") / _SCALE


def assign_splits(
    item_ids: Iterable[str],
    spec: SplitSpec,
    *,
    classes: Mapping[str, Collection[int]] | None = None,
    keep: Mapping[str, str] | None = None,
) -> dict[str, list[str]]:
    """Place each item in a split by a keyed hash of ``(seed, item id)``, or where ``keep`` (the parent's
    assignment, same spec) put it; with ``classes`` (item → its class ids) move new items so that every
    split holds every class it can (see the module doc). Lists come back sorted."""
    if spec.method != "hash":
        raise DatasetError("assign_splits only places items for hash splits")
    names = spec.names
    bounds: list[float] = []
    acc = 0.0
    for _, ratio in spec.ratios:
        acc += ratio
        bounds.append(acc)
    bounds[-1] = 1.0 + 1e-9  # rounding must never leave an item without a split
    key = f"{spec.seed}\x00".encode()
    kept = {i: s for i, s in (keep or {}).items() if s in names}
    split_of: dict[str, str] = {}
    for item in item_ids:
        split_of[item] = kept.get(item) or names[next(i for i, b in enumerate(bounds) if _unit(key, item) < b)]
    if classes:
        _keep_every_class(split_of, classes, names, movable=set(split_of) - set(kept), key=key)
    out: dict[str, list[str]] = {name: [] for name in names}
    for item, split in split_of.items():
        out[split].append(item)
    for items in out.values():
        items.sort()
    return out


def _keep_every_class(
    split_of: dict[str, str],
    classes: Mapping[str, Collection[int]],
    names: tuple[str, ...],
    *,
    movable: set[str],
    key: bytes,
) -> None:
    counts: Counter[tuple[str, int]] = Counter((split_of[i], c) for i in split_of for c in set(classes.get(i, ())))
    holders: dict[int, list[str]] = {}
    for item in sorted(split_of):
        for cid in set(classes.get(item, ())):
            holders.setdefault(cid, []).append(item)
    for cid in sorted(holders):
        for split in names:
            if counts[(split, cid)]:
                continue
            fits = [
                i for i in holders[cid] if i in movable and all(counts[(split_of[i], c)] > 1 for c in set(classes[i]))
            ]
            if not fits:
                continue  # too few items of this class: reported by split_gaps
            pick = min(fits, key=lambda i: _unit(key, f"stratify\x00{split}\x00{i}"))
            for c in set(classes[pick]):
                counts[(split_of[pick], c)] -= 1
                counts[(split, c)] += 1
            split_of[pick] = split


def split_gaps(instances: Mapping[str, Mapping[str, int]]) -> dict[str, tuple[str, ...]]:
    """Split → the classes it has no instance of, though another split has (``instances``: split →
    class name → instances): what ``snapshot``, ``show`` and the preflight warn about."""
    present = {c for counts in instances.values() for c, n in counts.items() if n}
    gaps = {split: tuple(sorted(c for c in present if not counts.get(c))) for split, counts in instances.items()}
    return {split: missing for split, missing in gaps.items() if missing}


def describe_gaps(gaps: Mapping[str, tuple[str, ...]]) -> str:
    """``warning: split test has no triangle (too few images of them to reach every split)``; empty if none."""
    if not gaps:
        return ""
    parts = "; ".join(f"{split} has no {', '.join(names)}" for split, names in gaps.items())
    return f"warning: split {parts} (too few images of them to reach every split; add some)"
