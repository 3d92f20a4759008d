"""The registry's rules as pure functions over what they know of versions (DESIGN §4); no MLflow calls here.

The same functions decide on the client (``mlflow-cv model register|promote|rollback``) and inside the
server-side guard store, so the MLflow UI and raw REST calls meet the same rules. They read versions as
:class:`~mlflow_cv.registry.facts.VersionFacts` and the model's rules as its
:class:`~mlflow_cv.registry.policy.Policy`:

- the bump a new version needs over the one it supersedes (:func:`required_bump`; a PATCH must not
  shift accuracy: :func:`patch_shifts`), and when two versions are the same model (:func:`same_lineage`);
- the gates of an alias move (:func:`evaluate_gates`), the metrics gate on both versions' evaluations on
  the same gate data (:class:`GateData`, :class:`GateScores`, :func:`metrics_gate`), and the one
  tolerance rule (:func:`beyond_tolerance`) behind them and behind a reproduction's verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlflow_cv.checks import Check
from mlflow_cv.errors import BumpError
from mlflow_cv.registry.facts import VersionFacts
from mlflow_cv.registry.policy import Policy
from mlflow_cv.semver import Bump, Version, parse_snapshot_id
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
    TAG_PREFLIGHT,
    TAG_SEMVER,
    TAG_SNAPSHOT,
    TAG_TASK,
    TAG_WEIGHTS_DIGEST,
)

__all__ = [
    "STALE_MS",
    "GateData",
    "GateScores",
    "beyond_tolerance",
    "default_split",
    "evaluate_gates",
    "metric_regressions",
    "metric_shifts",
    "metrics_gate",
    "missing_lineage",
    "newer_training_snapshot",
    "patch_shifts",
    "required_bump",
    "same_lineage",
]

STALE_MS = 120_000  # a version still without cv.semver after this long was left by a crashed registration


def missing_lineage(tags: Mapping[str, str]) -> list[str]:
    """The lineage tags (DESIGN §3) that ``tags`` lack or leave empty."""
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
