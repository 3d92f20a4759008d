"""What the guard accepts as a ``cv.*`` fact of a model version: each kind of evidence is one rule.

A version's ``cv.*`` tags are what the gates read, so each is checked against something the guard can
read for itself whenever it is written (at creation, or later): the lineage tags against the run's own
(write-once) tags, ``cv.metrics`` against the run's (frozen) metrics, an evaluation record against the
evaluation run it names (ended, of this version's weights, on that manifest and split). ``cv.semver``
(an order rule) and the history (written by the guard alone) are the guard's own business, not
evidence. A new kind of evidence is one more :class:`Rule` in :data:`RULES`, tried in order.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlflow_cv.registry.policy import Policy
from mlflow_cv.tags import (
    CV_PREFIX,
    EVAL_RECORD_PREFIX,
    EVAL_SPLITS,
    TAG_EVAL_MANIFEST,
    TAG_EVAL_OF,
    TAG_EVAL_SPLIT,
    TAG_EVAL_WEIGHTS,
    TAG_METRICS,
    TAG_WEIGHTS_SHA256,
)

__all__ = ["RULES", "Evidence", "Rule", "problem_with"]


@dataclass(frozen=True)
class Evidence:
    """What the rules may read: the version's run, any run by id (the server's tracking store), the policy."""

    run_id: str | None
    runs: Callable[[str], Any]  # run id → MLflow Run
    policy: Policy

    @functools.cached_property
    def _run(self) -> Any:
        return self.runs(self.run_id) if self.run_id else None

    def run(self) -> Any:
        """The version's run (read once)."""
        if self._run is None:
            raise LookupError(f"{CV_PREFIX}* tags need the run they come from (run_id)")
        return self._run


@dataclass(frozen=True)
class Rule:
    """One kind of evidence: the tags it covers, and the problem with a claimed value (None: it holds)."""

    name: str
    covers: Callable[[str], bool]
    problem: Callable[[Evidence, str, str], str | None]


def _gate_metrics(evidence: Evidence, key: str, value: str) -> str | None:
    try:
        same = json.loads(value) == evidence.policy.gate_metrics(evidence.run().data.metrics)
    except ValueError:
        same = False
    return None if same else f"{key} does not match the metrics of run {evidence.run_id}"


def _run_tag(evidence: Evidence, key: str, value: str) -> str | None:
    if evidence.run().data.tags.get(key) == value:
        return None
    return f"{key}={value!r} is not the tag of run {evidence.run_id}"


_RECORD = re.compile(
    re.escape(EVAL_RECORD_PREFIX) + r"(?P<manifest>[0-9a-f]{12})\.(?P<split>" + "|".join(EVAL_SPLITS) + ")"
)


def _evaluation_record(evidence: Evidence, key: str, value: str) -> str | None:
    """``cv.eval.<manifest[:12]>.<split>`` = an ended evaluation run of this version's weights on that
    manifest and split (DESIGN §4a)."""
    want = _RECORD.fullmatch(key)
    assert want is not None
    try:
        record = evidence.runs(value)
    except Exception:  # no such run: a claim, not evidence
        return f"{key}={value!r}: no evaluation run {value!r}"
    tags = record.data.tags
    weights = evidence.run().data.tags.get(TAG_WEIGHTS_SHA256)
    problems = [
        what
        for what, ok in (
            ("it has not ended", record.info.status == "FINISHED"),
            (f"it evaluated no run of this version ({TAG_EVAL_OF})", bool(tags.get(TAG_EVAL_OF))),
            ("it evaluated other weights", bool(weights) and tags.get(TAG_EVAL_WEIGHTS) == weights),
            ("it evaluated another manifest", tags.get(TAG_EVAL_MANIFEST, "").startswith(want["manifest"])),
            ("it evaluated another split", tags.get(TAG_EVAL_SPLIT) == want["split"]),
        )
        if not ok
    ]
    return f"{key}={value!r} is not an evaluation record of this version: {'; '.join(problems)}" if problems else None


RULES: tuple[Rule, ...] = (
    Rule("gate metrics", lambda key: key == TAG_METRICS, _gate_metrics),
    Rule("evaluation record", lambda key: _RECORD.fullmatch(key) is not None, _evaluation_record),
    Rule("lineage", lambda key: True, _run_tag),  # every other cv.* tag: the run's own
)


def problem_with(evidence: Evidence, key: str, value: str) -> str | None:
    """The problem with claiming ``key=value`` for the version, by the first rule that covers ``key``."""
    rule = next(r for r in RULES if r.covers(key))
    try:
        return rule.problem(evidence, key, value)
    except LookupError as exc:
        return str(exc.args[0]) if exc.args else str(exc)
