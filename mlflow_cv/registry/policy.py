"""A registered model's policy (tag ``cv.policy``): the document that tunes the registry's rules (DESIGN §4).

:class:`Policy` parses and checks the JSON (a policy may tune the rules, never switch off DESIGN §4),
says how another policy would loosen it (:meth:`Policy.loosened_by`, which a change must state) and which
metrics its gates compare. The rules themselves are :mod:`mlflow_cv.registry.gates`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_cv.canonical import canonical_json
from mlflow_cv.errors import ConfigError
from mlflow_cv.tags import EVAL_SPLITS, TAG_POLICY, eval_metric, sliced_metric, val_metric

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["ARTIFACT_CHECKERS", "GATES", "Policy"]

GATES = ("lineage", "preflight", "artifacts", "metrics", "semver")
# Who re-hashes a candidate's artifacts for the artifacts gate of a protected move: the server (the
# guard reads them itself, and refuses the move where it cannot), or only the client (a weaker promise).
ARTIFACT_CHECKERS = ("server", "client")


@dataclass(frozen=True)
class Policy:
    """Per registered model (tag ``cv.policy``, JSON); every field has a sane default."""

    tolerance: float = 0.01  # absolute: a metric may drop this much against the holder
    protected: tuple[str, ...] = ("production", "staging")  # aliases that only move through the gates
    gates: tuple[str, ...] = GATES  # the gates that apply
    metrics: tuple[str, ...] = tuple(map(val_metric, ("mAP50-95", "mAP50", "mask_mAP50-95", "accuracy_top1")))
    per_class: tuple[str, ...] = tuple(map(val_metric, ("AP50-95/", "mask_AP50-95/", "accuracy/")))  # name prefixes
    artifacts: str = "server"  # one of ARTIFACT_CHECKERS
    # What protected moves compare on (DESIGN §4a): {"snapshot": "DS-x.y.z" | "latest", "split": "val" |
    # "test" | "all"}; unset, the newer of the two versions' training snapshots, its test split if it has one.
    gate_data: Mapping[str, str] = field(default_factory=dict)
    slices: tuple[str, ...] = ()  # attributes whose every slice is gated, with slice_tolerance
    slice_tolerance: float = 0.05
    min_metrics: Mapping[str, float] = field(default_factory=dict)  # floors on the gate data, e.g. eval/mAP50

    @classmethod
    def from_json(cls, text: str | None) -> Policy:
        """Parse and check a policy. ``production`` is always protected and the ``lineage`` and
        ``preflight`` gates always apply: a policy may tune the rules, not switch off DESIGN §4."""
        if not text:
            return cls()
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict):
                raise ValueError("expected a JSON object")
            unknown = set(doc) - set(cls.__dataclass_fields__)
            if unknown:
                raise ValueError(f"unknown fields {sorted(unknown)}")
            fields: dict[str, Any] = {}
            for key, value in doc.items():
                if key in ("tolerance", "slice_tolerance"):
                    if not _number(value) or value < 0:
                        raise ValueError(f"{key} must be a number ≥ 0")
                    fields[key] = float(value)
                elif key == "gate_data":
                    if not isinstance(value, dict) or set(value) - {"snapshot", "split"}:
                        splits = "|".join(EVAL_SPLITS)
                        raise ValueError(f'gate_data is {{"snapshot": "DS-x.y.z" or "latest", "split": "{splits}"}}')
                    if value.get("split", "val") not in EVAL_SPLITS or not isinstance(value.get("snapshot", ""), str):
                        raise ValueError(f"gate_data: split is one of {', '.join(EVAL_SPLITS)}, snapshot a text")
                    if value.get("snapshot") and "split" not in value:
                        raise ValueError("gate_data: a snapshot named needs its split too")
                    fields[key] = {k: str(v) for k, v in sorted(value.items())}
                elif key == "min_metrics":
                    if not isinstance(value, dict) or not all(_number(v) for v in value.values()):
                        raise ValueError('min_metrics maps metric names to floors, e.g. {"eval/mAP50": 0.3}')
                    fields[key] = {str(k): float(v) for k, v in sorted(value.items())}
                elif key == "artifacts":
                    if value not in ARTIFACT_CHECKERS:
                        raise ValueError(f"artifacts must be one of {', '.join(ARTIFACT_CHECKERS)}")
                    fields[key] = value
                elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"{key} must be a list of strings")
                else:
                    fields[key] = tuple(value)
            policy = cls(**fields)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"the {TAG_POLICY} tag is not a valid policy: {exc}; fields: {list(asdict(cls()))}"
            ) from exc
        bad = set(policy.gates) - set(GATES)
        if bad:
            raise ConfigError(f"{TAG_POLICY}: unknown gates {sorted(bad)}; known: {', '.join(GATES)}")
        if "production" not in policy.protected or not {"lineage", "preflight"} <= set(policy.gates):
            raise ConfigError(f"{TAG_POLICY}: 'production' stays protected and the lineage and preflight gates stay on")
        return policy

    def to_json(self) -> str:
        return canonical_json(asdict(self))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __rich__(self) -> RenderableType:
        """Pretty JSON: what ``--set`` takes back."""
        from mlflow_cv.render import lines

        return lines(json.dumps(self.to_dict(), indent=2))

    def loosened_by(self, new: Policy) -> list[str]:
        """How ``new`` is looser than this policy (empty: it is as strict or stricter): a higher
        tolerance, a gate, protected alias or gated metric fewer, or artifacts checked by the client only."""
        found = []
        if new.tolerance > self.tolerance:
            found.append(f"tolerance {self.tolerance} → {new.tolerance}")
        aliases = ({a.casefold() for a in self.protected}, {a.casefold() for a in new.protected})  # any case
        for what, old, now in (
            ("gates", set(self.gates), set(new.gates)),
            ("protected aliases", *aliases),
            ("gated metrics", set(self.metrics), set(new.metrics)),
            ("per-class metric prefixes", set(self.per_class), set(new.per_class)),
        ):
            if dropped := sorted(old - now):
                found.append(f"{what} dropped: {', '.join(dropped)}")
        if self.artifacts == "server" and new.artifacts != "server":
            found.append(f"artifacts checked by the {new.artifacts} only (was: the {self.artifacts})")
        if new.slice_tolerance > self.slice_tolerance:
            found.append(f"slice_tolerance {self.slice_tolerance} → {new.slice_tolerance}")
        if dropped := sorted(set(self.slices) - set(new.slices)):
            found.append(f"gated slices dropped: {', '.join(dropped)}")
        if lower := sorted(k for k, v in self.min_metrics.items() if new.min_metrics.get(k, float("-inf")) < v):
            found.append(f"floors lowered or dropped: {', '.join(lower)}")
        if dict(new.gate_data) != dict(self.gate_data):
            found.append(f"gate data changed: {dict(self.gate_data) or 'default'} → {dict(new.gate_data) or 'default'}")
        return found

    def protects(self, alias: str) -> bool:
        """Whether ``alias`` moves only through the gates (names match case-insensitively: ``Production``
        is ``production``)."""
        return alias.casefold() in {p.casefold() for p in self.protected}

    def eval_gate_metrics(self, metrics: Mapping[str, float]) -> tuple[dict[str, float], dict[str, float]]:
        """Of an evaluation's metrics (``eval/…``), those the metrics gate compares: the headline ones and
        those per class (with ``tolerance``), and those of every gated slice (with ``slice_tolerance``)."""
        names = {eval_metric(m) for m in self.metrics}
        prefixes = tuple(eval_metric(p) for p in self.per_class)
        plain = {k: float(v) for k, v in sorted(metrics.items()) if k in names or k.startswith(prefixes)}
        sliced = {}
        for key, value in sorted(metrics.items()):
            piece, inner = sliced_metric(key)
            attr = piece.partition(":")[0] if piece else None
            if attr in self.slices and (inner in names or inner.startswith(prefixes)):
                sliced[key] = float(value)
        return plain, sliced

    def gate_metrics(self, metrics: Mapping[str, float]) -> dict[str, float]:
        """The metrics the gates and the PATCH rule compare: the headline ones and those per class."""
        return {k: float(v) for k, v in sorted(metrics.items()) if k in self.metrics or k.startswith(self.per_class)}


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))
