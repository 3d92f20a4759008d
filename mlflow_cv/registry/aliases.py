"""Alias moves: promote through the gates, roll back to the recorded previous holder, read the history.

The client evaluates every gate it can (it can read the artifacts), states its move in
``cv.move.request`` and moves the alias; a guarded registry re-checks the gates and records the move.
Without a guard, the move is recorded here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mlflow_cv.checks import Check
from mlflow_cv.errors import GateError, RegistryError
from mlflow_cv.registry.client import holder_of, policy, who_am_i
from mlflow_cv.registry.comparison import gate_scores
from mlflow_cv.registry.facts import VersionFacts
from mlflow_cv.registry.gates import evaluate_gates
from mlflow_cv.registry.history import AliasEvent, History, MoveRequest, parse_history, previous_holder
from mlflow_cv.registry.policy import Policy
from mlflow_cv.tags import MOVE_PROMOTE, MOVE_ROLLBACK, TAG_MOVE_REQUEST, TAG_SEMVER
from mlflow_cv.tracking.artifacts import served_weights_problems, verify_artifacts
from mlflow_cv.tracking.refs import call, find_version, versions

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from rich.console import RenderableType

    from mlflow_cv.project import Project

__all__ = ["History", "Promotion", "history", "promote", "rollback"]


@dataclass(frozen=True)
class Promotion:
    name: str
    alias: str
    version: str
    semver: str
    previous: str | None  # semver of the holder before
    gates: tuple[Check, ...]
    moved: bool  # False for --dry-run, or when it already held the alias
    kind: str  # promote | rollback
    dry_run: bool = False

    @property
    def refused(self) -> bool:
        """A gate failed: a dry run would be refused (an unprotected alias moves anyway)."""
        return any(not g.passed for g in self.gates)

    def __rich__(self) -> RenderableType:
        from rich.console import Group

        from mlflow_cv.checks import checks_table
        from mlflow_cv.render import lines

        if self.dry_run:
            verdict = "refused" if self.refused else "allowed"
            outcome = f"dry run: {self.name} v{self.semver} → {self.alias!r} would be {verdict}"
        elif self.moved:
            outcome = (
                f"{self.alias}: {'v' + self.previous if self.previous else 'unset'} → v{self.semver} ({self.kind})"
            )
        else:
            outcome = f"{self.alias} already points to v{self.semver}"
        return Group(checks_table(self.gates), lines(outcome))


def _artifact_problems(client: MlflowClient, version: VersionFacts) -> list[str]:
    """The run's artifacts against their hashes, and the served model's weights against ``cv.weights.sha256``."""
    return verify_artifacts(client, str(version.run_id), version.tags) + served_weights_problems(client, version)


def _holder(client: MlflowClient, name: str, alias: str) -> VersionFacts | None:
    found = holder_of(client, name, alias)
    return None if found is None else VersionFacts.of_model_version(found)


def promote(
    client: MlflowClient,
    name: str,
    semver: str,
    *,
    alias: str,
    project: Project,
    why: str = "",
    dry_run: bool = False,
) -> Promotion:
    """Move ``alias`` to version ``semver`` when every gate passes (only reported for unprotected aliases).

    A protected move compares the candidate and the holder on the same gate data (DESIGN §4a): their
    evaluation records are used, and a version without one is evaluated first (``project`` holds the
    snapshot)."""
    rules = policy(client, name)
    target = VersionFacts.of_model_version(find_version(client, name, semver))
    holder = _holder(client, name, alias)
    artifacts = _artifact_problems(client, target) if "artifacts" in rules.gates else []
    scores = None
    if rules.protects(alias) and "metrics" in rules.gates and (holder is not None or rules.min_metrics):
        scores = gate_scores(client, rules, target, holder, project=project)
    gates = evaluate_gates(target, holder, policy=rules, artifacts=artifacts, scores=scores)
    return _finish(client, name, alias, target, holder, gates, rules, why=why, dry_run=dry_run, kind=MOVE_PROMOTE)


def rollback(client: MlflowClient, name: str, *, alias: str, why: str = "", dry_run: bool = False) -> Promotion:
    """Move ``alias`` back to the holder recorded before the current one (recorded as a rollback)."""
    holder = _holder(client, name, alias)
    if holder is None:
        raise RegistryError(f"{name!r} has no alias {alias!r}: nothing to roll back")
    before = previous_holder(reversed(history(client, name).events), alias, str(holder.version))
    if before is None or before.from_version is None:
        raise RegistryError(f"no previous holder of {alias!r} is recorded before version {holder.version}")
    target = VersionFacts.of_model_version(
        call("the previous holder is gone", client.get_model_version, name, before.from_version)
    )
    rules = policy(client, name)
    artifacts = _artifact_problems(client, target) if "artifacts" in rules.gates else []
    gates = evaluate_gates(target, holder, policy=rules, artifacts=artifacts, rollback=True)
    return _finish(client, name, alias, target, holder, gates, rules, why=why, dry_run=dry_run, kind=MOVE_ROLLBACK)


def _finish(
    client: MlflowClient,
    name: str,
    alias: str,
    target: VersionFacts,
    holder: VersionFacts | None,
    gates: list[Check],
    policy: Policy,
    *,
    why: str,
    dry_run: bool,
    kind: str,
) -> Promotion:
    result = Promotion(
        name=name,
        alias=alias,
        version=str(target.version),
        semver=target.tags.get(TAG_SEMVER, "?"),
        previous=holder.tags.get(TAG_SEMVER) if holder is not None else None,
        gates=tuple(gates),
        moved=False,
        kind=kind,
        dry_run=dry_run,
    )
    failed = [g for g in gates if not g.passed]
    if policy.protects(alias) and failed:
        if dry_run:
            return result
        raise GateError(
            f"{name} v{result.semver} may not become {alias!r}: {len(failed)} gate(s) failed",
            problems=[f"{g.name}: {g.detail}" for g in failed],
        )
    if dry_run or (holder is not None and str(holder.version) == str(target.version)):
        return result
    request = MoveRequest(alias=alias, version=str(target.version), who=who_am_i(), why=why, kind=kind)
    call("cannot state the move", client.set_registered_model_tag, name, TAG_MOVE_REQUEST, request.to_json())
    call(f"the registry refused to move {alias!r}", client.set_registered_model_alias, name, alias, target.version)
    moved_to = call("", client.get_model_version, name, target.version)
    if not any(e.nonce == request.nonce for e in parse_history(dict(moved_to.tags))):  # no guard: record it here
        event = AliasEvent.now(
            who=request.who,
            alias=alias,
            from_version=str(holder.version) if holder is not None else None,
            to_version=request.version,
            from_semver=result.previous,
            to_semver=result.semver,
            why=why,
            kind=kind,
            gates=tuple(g.line() for g in gates),
            nonce=request.nonce,
        )
        call("cannot record the move", client.set_model_version_tag, name, target.version, event.key, event.to_json())
    return replace(result, moved=True)


def history(client: MlflowClient, name: str) -> History:
    """Every recorded event of ``name``, oldest first: policy changes (on the model) and alias moves (on the
    versions they moved to), read page by page."""
    tags = dict(call(f"no registered model {name!r}", client.get_registered_model, name).tags)
    for version in versions(client, name):
        tags.update(version.tags)
    return History(name, tuple(parse_history(tags)))
