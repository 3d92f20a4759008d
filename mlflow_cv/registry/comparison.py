"""Two models compared on the same gate data (DESIGN §4a): the one comparison behind ``promote``,
``diff``, ``triage`` and the PATCH rule, so they cannot disagree.

:func:`gate_scores` finds the gate data (:mod:`~mlflow_cv.registry.gate_data`) and both evaluations on
it: a version's evaluation record, else an evaluation made now (cached runs are reused); a plain run
has no record and is evaluated (again: reused when cached). :func:`compare` turns the scores into every
delta, overall, per class, per slice and per slice and class, worst first, and the metrics gate's
verdict (:func:`~mlflow_cv.registry.gates.metrics_gate`) on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlflow_cv.checks import Check
from mlflow_cv.data.manifest import load_manifest
from mlflow_cv.errors import RegistryError
from mlflow_cv.registry.facts import VersionFacts
from mlflow_cv.registry.gate_data import gate_data, recorded_metrics
from mlflow_cv.registry.gates import GateData, GateScores, beyond_tolerance, metrics_gate
from mlflow_cv.registry.policy import Policy
from mlflow_cv.tags import TAG_SNAPSHOT, eval_record_key, sliced_metric

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from rich.console import RenderableType

    from mlflow_cv.project import Project
    from mlflow_cv.tracking.refs import RunRef

__all__ = ["Comparison", "Delta", "compare", "entity_of", "gate_scores"]


@dataclass(frozen=True)
class Delta:
    """One metric of both models on the gate data; ``gated``: of a kind the metrics gate compares."""

    key: str
    old: float | None
    new: float | None
    tolerance: float
    gated: bool

    @property
    def delta(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old

    @property
    def slice(self) -> str | None:
        """``time_of_day:night`` for ``eval/slice/time_of_day:night/…``; None for overall metrics."""
        return sliced_metric(self.key)[0]

    @property
    def regressed(self) -> bool:
        """A gated kind of metric that the new model lacks, or has lower beyond the tolerance."""
        if not self.gated or self.old is None:
            return False
        return self.new is None or beyond_tolerance(self.old, self.new, self.tolerance)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "old": self.old,
            "new": self.new,
            "delta": self.delta,
            "slice": self.slice,
            "tolerance": self.tolerance,
            "regressed": self.regressed,
        }


@dataclass(frozen=True)
class Comparison:
    """``new`` against ``old`` on ``data``: deltas (regressions first, then the other metrics of a gated
    kind, then the rest such as precision and recall; worst first in each) and the gate's verdict."""

    data: GateData
    old: str  # labels
    new: str
    evaluations: tuple[str, str]  # evaluation run ids (old, new)
    deltas: tuple[Delta, ...]
    verdict: Check

    @property
    def regressions(self) -> tuple[Delta, ...]:
        return tuple(d for d in self.deltas if d.regressed)

    @property
    def regressed_slices(self) -> tuple[str, ...]:
        """Slices with a regressed metric, the worst first."""
        return tuple(dict.fromkeys(d.slice for d in self.regressions if d.slice))

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": {
                "snapshot": self.data.snapshot,
                "split": self.data.split,
                "manifest_sha256": self.data.manifest_sha256,
            },
            "old": self.old,
            "new": self.new,
            "evaluations": list(self.evaluations),
            "verdict": {"passed": self.verdict.passed, "detail": self.verdict.detail},
            "regressed_slices": list(self.regressed_slices),
            "deltas": [d.to_dict() for d in self.deltas],
        }

    def render(self, *, limit: int = 12) -> RenderableType:
        """The deltas table (regressions first), then the gate's verdict."""
        from rich.console import Group

        from mlflow_cv.render import add_row, lines, table

        grid = table("metric", self.old, self.new, "delta", "", right=(self.old, self.new, "delta"))
        for d in self.deltas[:limit]:
            add_row(
                grid,
                d.key,
                _f(d.old),
                _f(d.new),
                "-" if d.delta is None else f"{d.delta:+.4f}",
                "REGRESSED" if d.regressed else "",
            )
        more = len(self.deltas) - limit
        tail = [f"… {more} more (--json shows all)"] if more > 0 else []
        worst = self.regressed_slices
        named = [f"regressed slice(s), worst first: {', '.join(worst)}"] if worst else []
        return Group(grid, lines(*tail, *named, self.verdict.line()))

    def __rich__(self) -> RenderableType:
        return self.render()


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def entity_of(client: MlflowClient, ref: RunRef) -> VersionFacts:
    """What the gate data reads of a ref: its model version, or a plain run with its tags, named as the
    ref names it (``version`` None: it has no evaluation record)."""
    if ref.model and ref.version:
        return VersionFacts.of_model_version(client.get_model_version(ref.model, ref.version))
    return VersionFacts.of_run(ref.run_id, tags=client.get_run(ref.run_id).data.tags, label=ref.label)


def gate_scores(
    client: MlflowClient,
    rules: Policy,
    candidate: VersionFacts,
    holder: VersionFacts | None,
    *,
    project: Project,
    evaluate_missing: bool = True,
) -> GateScores | None:
    """Both models' evaluations on the gate data (registered versions, or runs): recorded ones, else
    evaluated now (``evaluate_missing``) on ``project``'s snapshot; None when the candidate has none and
    none is made."""
    from mlflow_cv.evaluation.evaluate import evaluate
    from mlflow_cv.tracking.refs import call

    chosen = dict(rules.gate_data).get("snapshot")
    latest = _latest(project, candidate) if chosen == "latest" else None
    explicit = bool(chosen) and chosen != "latest"
    data = gate_data(
        rules,
        candidate,
        holder,
        runs=client.get_run,
        latest=latest,
        manifest_of=(lambda snap: load_manifest(project, snap).sha256) if explicit or latest else None,
    )
    if data is None:
        raise RegistryError(f"cannot tell the gate data (policy gate_data {dict(rules.gate_data)})")
    scored: list[dict[str, float] | None] = []
    runs: list[str] = []
    for entity in (candidate, holder):
        if entity is None:
            scored.append(None)
            runs.append("")
            continue
        metrics = recorded_metrics(entity, data, client.get_run, rules.slices) if entity.version else None
        run_id = entity.tags.get(eval_record_key(data.manifest_sha256, data.split), "")
        if metrics is None and evaluate_missing:
            manifest = load_manifest(project, data.snapshot)
            if manifest.sha256 != data.manifest_sha256:
                raise RegistryError(
                    f"the gate data is {data}, but this project's {data.snapshot} is manifest "
                    f"{manifest.sha256[:12]}: pull the snapshot the models were trained on"
                )
            ref = f"models:/{entity.name}/{entity.version}" if entity.version else str(entity.run_id)
            done = evaluate(
                client, ref, project=project, data=data.snapshot, split=data.split, slices=rules.slices or None
            )
            run_id = done.run_id
            if entity.version:  # read back from its record, as the guard will
                entity = VersionFacts.of_model_version(call("", client.get_model_version, entity.name, entity.version))
                metrics = recorded_metrics(entity, data, client.get_run, rules.slices)
            else:
                metrics = done.metrics
        scored.append(metrics)
        runs.append(run_id if metrics is not None else "")
    if scored[0] is None:
        return None
    return GateScores(data, scored[0], scored[1], evaluations=(runs[0], runs[1]))


def _latest(project: Project, version: VersionFacts) -> str | None:
    """The project's newest snapshot in the lineage of the one ``version`` was trained on."""
    lineage = str(version.tags.get(TAG_SNAPSHOT, "")).split("-")[0]
    ids = [i for i in project.snapshot_ids() if i.split("-")[0] == lineage]
    return ids[-1] if ids else None


def compare(scores: GateScores, candidate: VersionFacts, holder: VersionFacts, *, policy: Policy) -> Comparison:
    """Every delta of ``candidate`` against ``holder`` on their gate data, and the metrics gate's verdict."""
    if scores.holder is None:
        raise RegistryError(f"{holder.label} has no evaluation on {scores.data}: evaluate it there first")
    old, new = scores.holder, scores.candidate
    gated_names = set(policy.eval_gate_metrics({k: 0.0 for k in old.keys() | new.keys()})[0])
    deltas = []
    for key in sorted(old.keys() | new.keys()):
        if "latency" in key:
            continue
        piece, inner = sliced_metric(key)
        tolerance = policy.tolerance if piece is None else policy.slice_tolerance
        deltas.append(Delta(key, old.get(key), new.get(key), tolerance, gated=inner in gated_names))
    deltas.sort(key=lambda d: (not d.regressed, not d.gated, d.delta if d.delta is not None else float("-inf"), d.key))
    verdict = metrics_gate(candidate, holder, policy=policy, scores=scores)
    return Comparison(
        data=scores.data,
        old=holder.label,
        new=candidate.label,
        evaluations=(scores.evaluations[1], scores.evaluations[0]),
        deltas=tuple(deltas),
        verdict=verdict,
    )
