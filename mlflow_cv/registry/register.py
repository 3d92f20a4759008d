"""Registration with an enforced semantic version (DESIGN §4), and the release notes it writes.

Semantic versions stay unique under concurrent registration without a lock: a registrant first creates
its model version (MLflow numbers versions atomically), then waits until every lower-numbered version
has its ``cv.semver`` (or is stale: a crashed registration), and only then derives its own semver from
the highest of those. Versions therefore get semvers in registration order, each above all before it;
a registrant that lost a race is re-numbered against the winner, or refused if its declared version is
no longer above it. A refused registration deletes the version it created.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlflow_cv.canonical import canonical_json
from mlflow_cv.errors import BumpError, RegistryError
from mlflow_cv.registry.client import policy
from mlflow_cv.registry.comparison import gate_scores
from mlflow_cv.registry.facts import VersionFacts
from mlflow_cv.registry.gate_data import gate_data
from mlflow_cv.registry.gates import STALE_MS, GateScores, missing_lineage, required_bump, same_lineage
from mlflow_cv.registry.policy import Policy
from mlflow_cv.semver import Bump, Version, check_bump
from mlflow_cv.tags import (
    CV_PREFIX,
    DIRTY_TRUE,
    PREFLIGHT_PASSED,
    TAG_COMMIT,
    TAG_CONFIG_ID,
    TAG_DIRTY,
    TAG_MANIFEST_SHA256,
    TAG_METRICS,
    TAG_MODEL_ID,
    TAG_PREFLIGHT,
    TAG_SEMVER,
    TAG_SNAPSHOT,
    TAG_SPLIT_SEED,
    TAG_WEIGHTS_SHA256,
)
from mlflow_cv.tracking.refs import call, versions
from mlflow_cv.tracking.store import using_tracking_uri

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from rich.console import RenderableType

    from mlflow_cv.project import Project

__all__ = ["Registration", "register", "release_notes"]

WAIT_S = 120.0
POLL_S = 0.2


@dataclass(frozen=True)
class Registration:
    name: str
    version: str  # MLflow's version number
    semver: Version
    bump: Bump  # NONE for a first version
    supersedes: str | None  # semver of the version it supersedes
    reasons: tuple[str, ...]
    notes: str

    def __rich__(self) -> RenderableType:
        from mlflow_cv.render import lines

        how = f"{self.bump.name} bump from v{self.supersedes}" if self.supersedes else "first version"
        head = f"registered {self.name} v{self.semver} (version {self.version}): {how}"
        return lines(head, (f"  - {r}" for r in self.reasons))


def register(
    client: MlflowClient,
    run_id: str,
    *,
    name: str,
    project: Project,
    bump: Bump | None = None,
    version: str | None = None,
) -> Registration:
    """Register the run's model under ``name`` with the semver its lineage requires (DESIGN §4).

    ``bump`` None takes the bump the lineage requires; a declared one may be larger, never smaller; a
    declared ``version`` is checked the same way. A code-only change (a PATCH) is checked on the gate
    data: the run and the version it supersedes are evaluated there (``project`` holds the snapshot), as
    the metrics gate compares them. A run without a servable model is compared on its own validation
    metrics (the same manifest: a PATCH changes no data), and the reason says so."""
    from mlflow.exceptions import MlflowException

    run = call(f"unknown run {run_id!r}", client.get_run, run_id)
    tags = dict(run.data.tags)
    missing = missing_lineage(tags)
    if missing:
        raise RegistryError(
            f"run {run_id} lacks lineage tags, so it cannot be registered; train it with train.py", problems=missing
        )
    declared = Version.parse(version) if version else None
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise RegistryError(f"cannot create registered model {name!r}: {exc.message}") from exc
    rules = policy(client, name)
    metrics = rules.gate_metrics(run.data.metrics)
    lineage = {k: v for k, v in tags.items() if k.startswith(CV_PREFIX)}
    model_id = tags.get(TAG_MODEL_ID)  # the servable model train.py logs; else the raw weights
    with using_tracking_uri(client.tracking_uri):  # MLflow's SQL registry resolves models:/ through it
        created = call(
            f"cannot create a version of {name!r}",
            client.create_model_version,
            name,
            source=f"models:/{model_id}" if model_id else f"{run.info.artifact_uri}/weights",
            run_id=run_id,
            model_id=model_id,
            tags={**lineage, TAG_METRICS: canonical_json(metrics)},
            description="being registered by mlflow-cv",
            await_creation_for=0,  # SQL-backed registries create versions READY
        )
    new = VersionFacts.of_run(run_id, tags=lineage, metrics=metrics)
    try:
        prior = _settled_before(client, name, int(created.version))

        def patch_scores(top: VersionFacts) -> GateScores | None:
            if not (model_id and top.tags.get(TAG_MODEL_ID)):
                return None
            return gate_scores(client, rules, new, top, project=project)

        semver, chosen, reasons, old = _decide(
            prior, new, declared=declared, kind=bump, policy=rules, patch_scores=patch_scores
        )
        call(f"cannot set {TAG_SEMVER}", client.set_model_version_tag, name, created.version, TAG_SEMVER, str(semver))
    except BaseException:
        with contextlib.suppress(MlflowException):
            client.delete_model_version(name, created.version)
        raise
    gate = _gate_text(client, rules, new, old)
    notes = release_notes(name, semver, chosen, reasons, old, run_id=run_id, tags=tags, metrics=metrics, gate=gate)
    call("cannot write the release notes", client.update_model_version, name, created.version, description=notes)
    return Registration(
        name=name,
        version=str(created.version),
        semver=semver,
        bump=chosen,
        supersedes=str(old.semver) if old is not None else None,
        reasons=tuple(reasons),
        notes=notes,
    )


def _settled_before(client: MlflowClient, name: str, number: int) -> list[VersionFacts]:
    """Lower-numbered versions once each has its semver (stale ones, from crashed registrations, ignored)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        lower = [v for v in versions(client, name) if int(v.version) < number]
        now_ms = time.time() * 1000
        pending = [v for v in lower if TAG_SEMVER not in v.tags and now_ms - v.creation_timestamp < STALE_MS]
        if not pending:
            return [VersionFacts.of_model_version(v) for v in lower if TAG_SEMVER in v.tags]
        if time.monotonic() > deadline:
            raise RegistryError(
                f"versions {', '.join(v.version for v in pending)} of {name!r} are still being registered; "
                "retry later, or delete them if their registration crashed"
            )
        time.sleep(POLL_S)


def _decide(
    prior: Sequence[VersionFacts],
    new: VersionFacts,
    *,
    declared: Version | None,
    kind: Bump | None,
    policy: Policy,
    patch_scores: Callable[[VersionFacts], GateScores | None] | None = None,
) -> tuple[Version, Bump, list[str], VersionFacts | None]:
    if not prior:
        first = declared or Version(1, 0, 0)
        return first, Bump.NONE, ["first version of this model"], None
    for same in prior:
        if same_lineage(same, new):
            raise BumpError(f"{new.label} is already registered as {same.label}: same data, config, code and weights")
    old = max(prior, key=lambda v: Version.parse(v.tags[TAG_SEMVER]))
    assert old.semver is not None
    scores = (lambda: patch_scores(old)) if patch_scores else None
    required, reasons = required_bump(old, new, policy=policy, scores=scores)
    if required is Bump.NONE:
        raise BumpError(f"nothing changed against {old.label}: no new version is needed", problems=reasons)
    if declared is not None:
        chosen = check_bump(old=old.semver, new=declared, required=required, reasons=reasons, label="v")
        return declared, chosen, reasons, old
    if kind is not None and kind < required:
        raise BumpError(
            f"a {kind.name} bump of {old.label} is refused: the change requires {required.name} "
            f"(use --bump {required.name.lower()} or auto)",
            problems=reasons,
        )
    chosen = kind or required
    return old.semver.bump(chosen), chosen, reasons, old


def _gate_text(client: MlflowClient, rules: Policy, me: VersionFacts, old: VersionFacts | None) -> str:
    """Which data protected moves compare this version on (DESIGN §4a), for the release notes."""
    chosen = dict(rules.gate_data)
    if chosen.get("snapshot"):
        return f"{chosen['snapshot']}/{chosen['split']} (the policy's gate_data)"
    data = gate_data(rules, me, old, runs=client.get_run)
    against = f" against {old.label}" if old is not None else ""
    return f"{data}{against}: the newer training snapshot, its test split if it has one (policy gate_data unset)"


def release_notes(
    name: str,
    semver: Version,
    bump: Bump,
    reasons: Sequence[str],
    old: VersionFacts | None,
    *,
    run_id: str,
    tags: Mapping[str, str],
    metrics: Mapping[str, float],
    gate: str = "",
) -> str:
    """Markdown for the version's description: why this bump, dataset, code, config, metrics, caveats."""
    head = f"{bump.name} bump from {old.label}" if old is not None else "first version"
    lines = [f"## {name} v{semver}", "", f"{head}:", *[f"- {r}" for r in reasons], ""]
    lines += [
        "| | |",
        "|---|---|",
        f"| dataset | {tags.get(TAG_SNAPSHOT)} (manifest `{tags.get(TAG_MANIFEST_SHA256, '')[:16]}…`, "
        f"split seed {tags.get(TAG_SPLIT_SEED)}) |",
        f"| code | commit `{tags.get(TAG_COMMIT)}`{' (dirty)' if tags.get(TAG_DIRTY) == 'true' else ''} |",
        f"| config | `{tags.get(TAG_CONFIG_ID)}` |",
        f"| run | `{run_id}` |",
        f"| weights | sha256 `{tags.get(TAG_WEIGHTS_SHA256)}` |",
        f"| gate data | {gate or '-'} |",
        "",
        "### Metrics (its own validation split; gates compare on the gate data)",
        "",
        "| metric | value |" + (f" vs {old.label} |" if old is not None else ""),
        "|---|---|" + ("---|" if old is not None else ""),
    ]
    for key, value in metrics.items():
        delta = ""
        if old is not None:
            before = old.metrics.get(key)
            delta = f" {value - before:+.4f} |" if before is not None else " new |"
        lines.append(f"| {key} | {value:.4f} |{delta}")
    caveats = []
    if tags.get(TAG_PREFLIGHT) != PREFLIGHT_PASSED:
        caveats.append(f"preflight {tags.get(TAG_PREFLIGHT)}: this version can never be promoted to a protected alias")
    if tags.get(TAG_DIRTY) == DIRTY_TRUE:
        caveats.append("trained from a working tree with uncommitted changes")
    lines += ["", "### Caveats", "", *([f"- {c}" for c in caveats] or ["none"])]
    return "\n".join(lines) + "\n"
