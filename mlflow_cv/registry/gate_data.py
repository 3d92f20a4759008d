"""Which data two versions are compared on, and their evaluations there (DESIGN §4a): one home for the
client (``mlflow-cv model promote``) and the server-side guard, so both reach the same verdict.

- Default gate data: the newer of the two versions' training snapshots, its ``test`` split when that
  snapshot has one (its training run logged a ``<snapshot>/test`` dataset input), else ``val``.
- ``gate_data: {"snapshot": "DS-x.y.z", "split": …}`` in the policy names them; ``"latest"`` is the newest
  snapshot the candidate was evaluated on that is not older than either training snapshot.
- The scores are the versions' evaluation records (``cv.eval.<manifest[:12]>.<split>``) read back from
  their evaluation runs: ended, of the version's own weights, on that manifest and split, with every
  gated slice scored. Anything else is no evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlflow_cv.registry.facts import VersionFacts
from mlflow_cv.registry.gates import GateData, GateScores, default_split, newer_training_snapshot
from mlflow_cv.registry.policy import Policy
from mlflow_cv.semver import parse_snapshot_id
from mlflow_cv.tags import (
    EVAL_RECORD_PREFIX,
    TAG_EVAL_MANIFEST,
    TAG_EVAL_SNAPSHOT,
    TAG_EVAL_SPLIT,
    TAG_EVAL_WEIGHTS,
    TAG_SNAPSHOT,
    TAG_WEIGHTS_SHA256,
    eval_record_key,
)

__all__ = ["gate_data", "recorded_metrics", "recorded_scores"]

Runs = Callable[[str], Any]  # run id → MLflow Run


def gate_data(
    policy: Policy,
    candidate: VersionFacts,
    holder: VersionFacts | None,
    *,
    runs: Runs,
    manifest_of: Callable[[str], str] | None = None,
    latest: str | None = None,
) -> GateData | None:
    """The gate data of moving an alias from ``holder`` to ``candidate``, or None when it
    cannot be known (then there is no evaluation on it). ``manifest_of`` (the client's project) maps an
    explicit snapshot id to its manifest hash; without it the candidate's evaluation records tell."""
    chosen = dict(policy.gate_data)
    snapshot = chosen.get("snapshot")
    if not snapshot:
        snap, sha = newer_training_snapshot(candidate, holder)
        owner = next(v for v in (candidate, holder) if v is not None and v.tags.get(TAG_SNAPSHOT) == snap)
        splits = {
            str(i.dataset.name).partition("/")[2]
            for i in runs(str(owner.run_id)).inputs.dataset_inputs
            if str(i.dataset.name).startswith(f"{snap}/")
        }
        return GateData(snap, sha, chosen.get("split") or default_split(splits))
    split = chosen.get("split", "val")
    if snapshot == "latest":
        floor = newer_training_snapshot(candidate, holder)[0]
        snapshot = latest or _newest_evaluated(candidate, split, runs, not_before=floor) or ""
    if not snapshot:
        return None
    sha = manifest_of(snapshot) if manifest_of else _evaluated_manifest(candidate, snapshot, split, runs)
    return GateData(snapshot, sha, split) if sha else None


def _evaluations(version: VersionFacts, split: str, runs: Runs) -> list[Any]:
    tags = version.tags
    keys = [k for k in tags if k.startswith(EVAL_RECORD_PREFIX) and k.endswith(f".{split}") and k.count(".") == 3]
    out = []
    for key in keys:
        try:
            out.append(runs(tags[key]))
        except Exception:  # a record naming no run is no evaluation
            continue
    return out


def _evaluated_manifest(version: VersionFacts, snapshot: str, split: str, runs: Runs) -> str:
    for run in _evaluations(version, split, runs):
        if run.data.tags.get(TAG_EVAL_SNAPSHOT) == snapshot:
            return str(run.data.tags.get(TAG_EVAL_MANIFEST, ""))
    return ""


def _newest_evaluated(version: VersionFacts, split: str, runs: Runs, *, not_before: str) -> str | None:
    """The newest snapshot of ``not_before``'s lineage, not older than it, that ``version`` was evaluated on."""
    try:
        floor = parse_snapshot_id(not_before)
    except ValueError:
        return None
    lineage = not_before.split("-")[0]
    fitting = {}
    for run in _evaluations(version, split, runs):
        snapshot = str(run.data.tags.get(TAG_EVAL_SNAPSHOT, ""))
        try:
            if snapshot.split("-")[0] == lineage and parse_snapshot_id(snapshot) >= floor:
                fitting[snapshot] = parse_snapshot_id(snapshot)
        except ValueError:
            continue
    return max(fitting, key=fitting.__getitem__) if fitting else None


def recorded_scores(
    data: GateData | None,
    candidate: VersionFacts,
    holder: VersionFacts | None,
    *,
    runs: Runs,
    slices: tuple[str, ...],
) -> GateScores | None:
    """Both versions' evaluations on ``data`` from their records; None when the candidate has none."""
    if data is None:
        return None
    mine = recorded_metrics(candidate, data, runs, slices)
    if mine is None:
        return None
    return GateScores(data, mine, recorded_metrics(holder, data, runs, slices) if holder is not None else None)


def recorded_metrics(
    version: VersionFacts, data: GateData, runs: Runs, slices: tuple[str, ...]
) -> dict[str, float] | None:
    """The version's evaluation on ``data`` from its record, if it is one (see the module doc)."""
    tags = version.tags
    run_id = tags.get(eval_record_key(data.manifest_sha256, data.split))
    if not run_id:
        return None
    try:
        run = runs(run_id)
    except Exception:  # a record naming no run is no evaluation
        return None
    found = run.data.tags
    scored = set(run.data.params.get("slices_of", "").split(",")) - {""}
    if (
        run.info.status != "FINISHED"
        or found.get(TAG_EVAL_WEIGHTS) != tags.get(TAG_WEIGHTS_SHA256)
        or found.get(TAG_EVAL_MANIFEST) != data.manifest_sha256
        or found.get(TAG_EVAL_SPLIT) != data.split
        or not set(slices) <= scored
    ):
        return None
    return {k: float(v) for k, v in run.data.metrics.items()}
