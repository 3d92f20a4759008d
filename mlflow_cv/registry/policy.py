"""The registry's rules as pure functions over tags and metrics (DESIGN §4); no MLflow calls here.

The same functions decide on the client (``mlflow-cv model register|promote|rollback``) and inside
the server-side guard store, so the MLflow UI and raw REST calls meet the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_cv.canonical import canonical_json
from mlflow_cv.checks import Check
from mlflow_cv.errors import BumpError, ConfigError
from mlflow_cv.semver import Bump, Version
from mlflow_cv.tags import (
    MOVE_ROLLBACK,
    PREFLIGHT_PASSED,
    REQUIRED_TAGS,
    TAG_ARCH_SHA256,
    TAG_COMMIT,
    TAG_CONFIG_ID,
    TAG_CONFIG_SHA256,
    TAG_HPARAMS_SHA256,
    TAG_LABELMAP_SHA256,
    TAG_MANIFEST_SHA256,
    TAG_METRICS,
    TAG_POLICY,
    TAG_PREFLIGHT,
    TAG_SEMVER,
    TAG_SNAPSHOT,
    TAG_TASK,
    TAG_WEIGHTS_DIGEST,
)

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = [
    "ARTIFACT_CHECKERS",
    "GATES",
    "GATE_SPLITS",
    "STALE_MS",
    "GateData",
    "GateScores",
    "Policy",
    "VersionFacts",
    "beyond_tolerance",
    "default_split",
    "evaluate_gates",
    "facts_of",
    "metric_regressions",
    "metric_shifts",
    "metrics_gate",
    "missing_lineage",
    "newer_training_snapshot",
    "patch_shifts",
    "required_bump",
    "same_lineage",
]

GATES = ("lineage", "preflight", "artifacts", "metrics", "semver")
# Who re-hashes a candidate's artifacts for the artifacts gate of a protected move: the server (the
# guard reads them itself, and refuses the move where it cannot), or only the client (a weaker promise).
ARTIFACT_CHECKERS = ("server", "client")
GATE_SPLITS = ("val", "test", "all")
STALE_MS = 120_000  # a version still without cv.semver after this long was left by a crashed registration


@dataclass(frozen=True)
class Policy:
    """Per registered model (tag ``cv.policy``, JSON); every field has a sane default."""

    tolerance: float = 0.01  # absolute: a metric may drop this much against the holder
    protected: tuple[str, ...] = ("production", "staging")  # aliases that only move through the gates
    gates: tuple[str, ...] = GATES  # the gates that apply
    metrics: tuple[str, ...] = ("val/mAP50-95", "val/mAP50", "val/mask_mAP50-95", "val/accuracy_top1")
    per_class: tuple[str, ...] = ("val/AP50-95/", "val/mask_AP50-95/", "val/accuracy/")  # metric-name prefixes
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
                        raise ValueError('gate_data is {"snapshot": "DS-x.y.z" or "latest", "split": "val|test|all"}')
                    if value.get("split", "val") not in GATE_SPLITS or not isinstance(value.get("snapshot", ""), str):
                        raise ValueError(f"gate_data: split is one of {', '.join(GATE_SPLITS)}, snapshot a text")
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
        names = {"eval/" + m.removeprefix("val/") for m in self.metrics}
        prefixes = tuple("eval/" + p.removeprefix("val/") for p in self.per_class)
        plain = {k: float(v) for k, v in sorted(metrics.items()) if k in names or k.startswith(prefixes)}
        sliced = {}
        for key, value in sorted(metrics.items()):
            attr, _, rest = key.removeprefix("eval/slice/").partition(":")
            inner = "eval/" + rest.partition("/")[2]
            if key.startswith("eval/slice/") and attr in self.slices and (inner in names or inner.startswith(prefixes)):
                sliced[key] = float(value)
        return plain, sliced

    def gate_metrics(self, metrics: Mapping[str, float]) -> dict[str, float]:
        """The metrics the gates and the PATCH rule compare: the headline ones and those per class."""
        return {k: float(v) for k, v in sorted(metrics.items()) if k in self.metrics or k.startswith(self.per_class)}


@dataclass(frozen=True)
class VersionFacts:
    """What the rules know of a version (or a run about to become one): tags and gate metrics."""

    tags: Mapping[str, str]
    metrics: Mapping[str, float] = field(default_factory=dict)
    label: str = ""  # how messages name it, e.g. "v1.4.2" or "run 3f2a…"

    @property
    def semver(self) -> Version | None:
        text = self.tags.get(TAG_SEMVER)
        return Version.parse(text) if text else None


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def facts_of(version: Any, label: str | None = None) -> VersionFacts:
    """The rules' view of a model version entity: its tags and its gate metrics."""
    tags = dict(version.tags)
    try:
        metrics = {k: float(v) for k, v in json.loads(tags.get(TAG_METRICS) or "{}").items()}
    except (ValueError, TypeError, AttributeError):
        metrics = {}
    return VersionFacts(tags=tags, metrics=metrics, label=label or f"v{tags.get(TAG_SEMVER, '?')} (#{version.version})")


def missing_lineage(tags: Mapping[str, str]) -> list[str]:
    return [t for t in REQUIRED_TAGS if not tags.get(t)]


def metric_regressions(old: Mapping[str, float], new: Mapping[str, float], tolerance: float) -> list[str]:
    """Each metric of ``old`` that ``new`` lacks or has lower by more than ``tolerance``, worst first."""
    return [text for _, text in sorted(_drops(old, new, tolerance), key=lambda d: -d[0])]


def _drops(old: Mapping[str, float], new: Mapping[str, float], tolerance: float) -> list[tuple[float, str]]:
    drops = []
    for key, before in old.items():
        after = new.get(key)
        if after is None:
            drops.append((float("inf"), f"{key}: missing (was {before:.4f})"))
        elif beyond_tolerance(before, after, tolerance):
            drops.append((before - after, f"{key}: {after:.4f} < {before:.4f} - {tolerance}"))
    return drops


@dataclass(frozen=True)
class GateData:
    """What two versions are compared on: one snapshot's manifest and one split (DESIGN §4a)."""

    snapshot: str
    manifest_sha256: str
    split: str

    def __str__(self) -> str:
        return f"{self.snapshot}/{self.split} (manifest {self.manifest_sha256[:12]})"


@dataclass(frozen=True)
class GateScores:
    """The two versions' evaluations on the same gate data (``eval/…`` metrics); ``holder`` None when
    there is no holder, or it was not evaluated there."""

    data: GateData
    candidate: Mapping[str, float]
    holder: Mapping[str, float] | None
    evaluations: tuple[str, str] = ("", "")  # the evaluation runs (candidate, holder), where known


def newer_training_snapshot(candidate: VersionFacts, holder: VersionFacts | None) -> tuple[str, str]:
    """The default gate snapshot: the newer of the two versions' training snapshots, (id, manifest hash)."""
    from mlflow_cv.semver import parse_snapshot_id

    picks = [(f.tags.get(TAG_SNAPSHOT) or "", f.tags.get(TAG_MANIFEST_SHA256) or "") for f in (candidate, holder) if f]

    def order(pick: tuple[str, str]) -> Any:
        try:
            return parse_snapshot_id(pick[0])
        except ValueError:
            return Version(0, 0, 0)

    return max(picks, key=order)


def default_split(splits: set[str]) -> str:
    """The default gate split: ``test`` when the snapshot has one, else ``val``."""
    return "test" if "test" in splits else "val"


def metrics_gate(
    candidate: VersionFacts,
    holder: VersionFacts | None,
    *,
    policy: Policy,
    scores: GateScores | None,
    rollback: bool = False,
) -> Check:
    """Overall, per class and per gated slice, on the same gate data, worst first; and the floors."""
    if rollback:
        return Check("metrics", True, MOVE_ROLLBACK)
    if holder is None and not policy.min_metrics:
        return Check("metrics", True, "no current holder")
    if scores is None:
        missing = "no evaluations of both versions on the same gate data"
        return Check("metrics", False, f"{missing}: promote with mlflow-cv (it evaluates them), or mlflow-cv evaluate")
    problems: list[tuple[float, str]] = []
    for name, floor in sorted(policy.min_metrics.items()):
        value = scores.candidate.get(name)
        if value is None:
            problems.append((float("inf"), f"{name}: missing on {scores.data} (floor {floor})"))
        elif value < floor:
            problems.append((floor - value, f"{name}: {value:.4f} < floor {floor}"))
    if holder is not None:
        if scores.holder is None:
            problems.append((float("inf"), f"{holder.label} has no evaluation on {scores.data}"))
        else:
            (new, new_sliced), (old, old_sliced) = (
                policy.eval_gate_metrics(m) for m in (scores.candidate, scores.holder)
            )
            problems += _drops(old, new, policy.tolerance) + _drops(old_sliced, new_sliced, policy.slice_tolerance)
    if problems:
        return Check(
            "metrics", False, f"on {scores.data}: " + "; ".join(t for _, t in sorted(problems, key=lambda p: -p[0]))
        )
    against = f"none below {holder.label} - {policy.tolerance}" if holder is not None else "no current holder"
    floors = f", above the floors ({', '.join(policy.min_metrics)})" if policy.min_metrics else ""
    sliced = f", slices of {', '.join(policy.slices)} within {policy.slice_tolerance}" if policy.slices else ""
    return Check("metrics", True, f"on {scores.data}: {against}{sliced}{floors}")


_IDENTITY = (
    TAG_ARCH_SHA256,
    TAG_LABELMAP_SHA256,
    TAG_TASK,
    TAG_MANIFEST_SHA256,
    TAG_CONFIG_SHA256,
    TAG_COMMIT,
    TAG_WEIGHTS_DIGEST,
)


def same_lineage(a: VersionFacts, b: VersionFacts) -> bool:
    """Same architecture, class map, task, data, config, code and weights: the same model."""
    return all(a.tags.get(t) == b.tags.get(t) for t in _IDENTITY)


def required_bump(
    old: VersionFacts, new: VersionFacts, *, policy: Policy, scores: Callable[[], GateScores | None] | None = None
) -> tuple[Bump, list[str]]:
    """The bump ``new`` needs over ``old`` (DESIGN §4) and why; ``Bump.NONE`` when nothing changed.

    A code-only change must keep every gate metric within the tolerance of ``old``; otherwise it is
    refused (:class:`BumpError`): a PATCH promises no accuracy shift. ``scores`` (asked only for a PATCH)
    gives both models' evaluations on the gate data, compared as the metrics gate compares them, per
    gated slice too; None (or no callable): their own validation metrics, on the one manifest they share.
    """
    a, b = old.tags, new.tags
    reasons: list[str] = []
    for tag, what in ((TAG_ARCH_SHA256, "architecture"), (TAG_LABELMAP_SHA256, "class map"), (TAG_TASK, "task")):
        if a.get(tag) != b.get(tag):
            reasons.append(f"MAJOR: {what} changed ({_short(a.get(tag))} → {_short(b.get(tag))})")
    if reasons:
        return Bump.MAJOR, reasons
    if a.get(TAG_MANIFEST_SHA256) != b.get(TAG_MANIFEST_SHA256):
        reasons.append(f"MINOR: dataset changed ({a.get(TAG_SNAPSHOT)} → {b.get(TAG_SNAPSHOT)})")
    # the config id covers the data too; the hyperparameter hash (when both runs have it) does not
    config_tag = TAG_HPARAMS_SHA256 if a.get(TAG_HPARAMS_SHA256) and b.get(TAG_HPARAMS_SHA256) else TAG_CONFIG_SHA256
    if a.get(config_tag) != b.get(config_tag):
        reasons.append(f"MINOR: training config changed ({a.get(TAG_CONFIG_ID)} → {b.get(TAG_CONFIG_ID)})")
    if reasons:
        return Bump.MINOR, reasons
    if not same_lineage(old, new):
        shifted, where = patch_shifts(old, new, policy=policy, scores=scores() if scores else None)
        if shifted:
            raise BumpError(
                f"only code changed against {old.label} ({_short(a.get(TAG_COMMIT))} → {_short(b.get(TAG_COMMIT))}), "
                f"so this is a PATCH, but metrics moved beyond tolerance {where}: a PATCH must not shift accuracy",
                problems=shifted,
            )
        if a.get(TAG_COMMIT) == b.get(TAG_COMMIT):
            why = "PATCH: same code, data and config, other weights (a non-deterministic training)"
        else:
            why = f"PATCH: only code changed ({_short(a.get(TAG_COMMIT))} → {_short(b.get(TAG_COMMIT))})"
        return Bump.PATCH, [f"{why}; metrics within ±{policy.tolerance} {where}"]
    return Bump.NONE, [f"same architecture, class map, data, config, code and weights as {old.label}"]


def patch_shifts(
    old: VersionFacts, new: VersionFacts, *, policy: Policy, scores: GateScores | None
) -> tuple[list[str], str]:
    """What moved beyond the tolerance (either way) from ``old`` to ``new``, and on which data: their
    evaluations on the gate data when ``scores`` holds both (gated slices with ``slice_tolerance``), else
    their own validation metrics."""
    if scores is None or scores.holder is None:
        return metric_shifts(old.metrics, new.metrics, policy.tolerance), "on their own validation split"
    (now, now_sliced), (was, was_sliced) = (policy.eval_gate_metrics(m) for m in (scores.candidate, scores.holder))
    shifted = metric_shifts(was, now, policy.tolerance) + metric_shifts(was_sliced, now_sliced, policy.slice_tolerance)
    return shifted, f"on {scores.data}"


def beyond_tolerance(before: float, after: float, tolerance: float, *, both_ways: bool = False) -> bool:
    """The one tolerance rule: ``after`` dropped below ``before`` by more than ``tolerance`` (absolute), or
    with ``both_ways`` moved either way by more than it (a PATCH, a reproduction)."""
    return (abs(after - before) if both_ways else before - after) > tolerance


def metric_shifts(old: Mapping[str, float], new: Mapping[str, float], tolerance: float) -> list[str]:
    """Each metric that one side lacks or that moved either way beyond ``tolerance``."""
    keys = sorted(old.keys() | new.keys())
    return [
        f"{k} {old.get(k, float('nan')):.4f} → {new.get(k, float('nan')):.4f}"
        for k in keys
        if k not in old or k not in new or beyond_tolerance(old[k], new[k], tolerance, both_ways=True)
    ]


def _short(value: str | None) -> str:
    return "-" if value is None else value[:12]


def evaluate_gates(
    candidate: VersionFacts,
    holder: VersionFacts | None,
    *,
    policy: Policy,
    artifacts: Sequence[str] | str,
    rollback: bool = False,
    scores: GateScores | None = None,
) -> list[Check]:
    """Every gate of ``policy`` for moving an alias from ``holder`` to ``candidate``.

    ``artifacts`` lists the artifact hash mismatches the caller found (empty: all verify), or is a text
    saying why they were not checked here (e.g. the policy leaves them to the client): that gate then
    says so and passes. ``scores`` are both versions' evaluations on the same gate data: the metrics gate
    compares only those (:func:`metrics_gate`). A rollback (to the alias's recorded previous holder) skips
    the metric and semver comparisons: going back is its point.
    """
    gates = []
    on = set(policy.gates)
    if "lineage" in on:
        missing = missing_lineage(candidate.tags)
        gates.append(Check("lineage", not missing, f"missing {', '.join(missing)}" if missing else "complete"))
    if "preflight" in on:
        verdict = candidate.tags.get(TAG_PREFLIGHT, "missing")
        gates.append(Check("preflight", verdict == PREFLIGHT_PASSED, verdict))
    if "artifacts" in on:
        if isinstance(artifacts, str):
            gates.append(Check("artifacts", True, artifacts))
        else:
            gates.append(Check("artifacts", not artifacts, "; ".join(artifacts) or "every hash verifies"))
    if "metrics" in on:
        gates.append(metrics_gate(candidate, holder, policy=policy, scores=scores, rollback=rollback))
    if "semver" in on:
        mine, theirs = candidate.semver, holder.semver if holder else None
        if mine is None:
            gates.append(Check("semver", False, f"{candidate.label} has no {TAG_SEMVER}"))
        elif theirs is None or rollback:
            gates.append(Check("semver", True, f"{mine}" + (" (rollback)" if rollback else "")))
        else:
            gates.append(Check("semver", mine > theirs, f"{mine} {'>' if mine > theirs else '<='} {theirs} (holder)"))
    return gates
