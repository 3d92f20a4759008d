"""Deterministic, stable train/val/test splits.

``hash`` splits place each item by a keyed hash of ``(seed, item id)``: the same seed always gives the
same split, and adding or removing items never moves the others (a shuffle would). ``from-dirs``
keeps the split a dataset already has on disk (``images/train/…``, ``images/val/…``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mlflow_cv.errors import DatasetError

__all__ = ["DEFAULT_RATIOS", "DEFAULT_SEED", "SplitSpec", "assign_splits", "parse_ratios"]

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


def assign_splits(item_ids: Iterable[str], spec: SplitSpec) -> dict[str, list[str]]:
    """Place each item in a split by a keyed hash of ``(seed, item id)``; lists come back sorted."""
    if spec.method != "hash":
        raise DatasetError("assign_splits only places items for hash splits")
    names = spec.names
    bounds: list[float] = []
    acc = 0.0
    for _, ratio in spec.ratios:
        acc += ratio
        bounds.append(acc)
    bounds[-1] = 1.0 + 1e-9  # rounding must never leave an item without a split
    out: dict[str, list[str]] = {name: [] for name in names}
    key = f"{spec.seed}\x00".encode()
    for item in item_ids:
        digest = hashlib.sha256(key + item.encode("utf-8")).digest()
        u = int.from_bytes(digest[:8], "big") / _SCALE
        index = next(i for i, b in enumerate(bounds) if u < b)
        out[names[index]].append(item)
    for items in out.values():
        items.sort()
    return out
