"""Registry operations over MLflow: register with an enforced semver, promote through gates, roll back.

Semantic versions stay unique under concurrent registration without a lock: a registrant first creates
its model version (MLflow numbers versions atomically), then waits until every lower-numbered version
has its ``cv.semver`` (or is stale: a crashed registration), and only then derives its own semver from
the highest of those. Versions therefore get semvers in registration order, each above all before it;
a registrant that lost a race is re-numbered against the winner, or refused if its declared version is
no longer above it. A refused registration deletes the version it created.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import socket
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow_cv.errors import BumpError, GateError, RegistryError
from mlflow_cv.registry.guard import facts_of
from mlflow_cv.registry.history import REQUEST_TAG, AliasEvent, MoveRequest, parse_history, previous_holder
from mlflow_cv.registry.policy import (
    TAG_METRICS,
    TAG_POLICY,
    TAG_SEMVER,
    Gate,
    Policy,
    VersionFacts,
    evaluate_gates,
    missing_lineage,
    required_bump,
    same_lineage,
)
from mlflow_cv.semver import Bump, Version, check_bump
from mlflow_cv.tracking.lineage import (
    TAG_ARTIFACTS_SHA256,
    TAG_COMMIT,
    TAG_CONFIG_ID,
    TAG_DIRTY,
    TAG_MANIFEST_SHA256,
    TAG_MODEL_ID,
    TAG_PREFLIGHT,
    TAG_SNAPSHOT,
    TAG_SPLIT_SEED,
    TAG_WEIGHTS_SHA256,
)
from mlflow_cv.tracking.server import using_tracking_uri

__all__ = [
    "Promotion",
    "Registration",
    "find_version",
    "history",
    "policy",
    "promote",
    "register",
    "registry_client",
    "rollback",
    "set_policy",
]

STALE_MS = 120_000  # a version still without cv.semver after this long was left by a crashed registration
WAIT_S = 120.0
POLL_S = 0.2


def registry_client(tracking_uri: str) -> Any:
    """An ``MlflowClient``; with the embedded SQLite store its registry goes through the guard too."""
    from mlflow.tracking import MlflowClient

    registry = f"cv-guard-{tracking_uri}" if tracking_uri.startswith("sqlite:") else tracking_uri
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry)


@dataclass(frozen=True)
class Registration:
    name: str
    version: str  # MLflow's version number
    semver: Version
    bump: Bump  # NONE for a first version
    supersedes: str | None  # semver of the version it supersedes
    reasons: tuple[str, ...]
    notes: str


@dataclass(frozen=True)
class Promotion:
    name: str
    alias: str
    version: str
    semver: str
    previous: str | None  # semver of the holder before
    gates: tuple[Gate, ...]
    moved: bool  # False for --dry-run, or when it already held the alias
    kind: str  # promote | rollback


def _who() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def _call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a registry call; MLflow's errors (the guard's refusals among them) become RegistryError."""
    from mlflow.exceptions import MlflowException

    try:
        return fn(*args, **kwargs)
    except MlflowException as exc:
        raise RegistryError(f"{what}: {exc.message}") from exc


def _versions(client: Any, name: str) -> list[Any]:
    return list(_call(f"cannot list versions of {name!r}", client.search_model_versions, f"name='{name}'"))


def policy(client: Any, name: str) -> Policy:
    """The registered model's policy (its ``cv.policy`` tag, else the defaults)."""
    model = _call(f"no registered model {name!r}", client.get_registered_model, name)
    return Policy.from_json(dict(model.tags).get(TAG_POLICY))


def set_policy(client: Any, name: str, text: str) -> Policy:
    """Validate ``text`` (JSON) and store it as the model's policy."""
    chosen = Policy.from_json(text)
    _call(f"no registered model {name!r}", client.get_registered_model, name)
    _call("cannot store the policy", client.set_registered_model_tag, name, TAG_POLICY, chosen.to_json())
    return chosen


def register(client: Any, run_id: str, *, name: str, bump: str = "auto", version: str | None = None) -> Registration:
    """Register the run's model under ``name`` with the semver its lineage requires (DESIGN §4)."""
    from mlflow.exceptions import MlflowException

    run = _call(f"unknown run {run_id!r}", client.get_run, run_id)
    tags = dict(run.data.tags)
    missing = missing_lineage(tags)
    if missing:
        raise RegistryError(
            f"run {run_id} lacks lineage tags, so it cannot be registered; train it with train.py", problems=missing
        )
    declared = Version.parse(version) if version else None
    kind = None if bump == "auto" else Bump.parse(bump)
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise RegistryError(f"cannot create registered model {name!r}: {exc.message}") from exc
    rules = policy(client, name)
    metrics = rules.gate_metrics(run.data.metrics)
    lineage = {k: v for k, v in tags.items() if k.startswith("cv.")}
    model_id = tags.get(TAG_MODEL_ID)  # the servable model train.py logs; else the raw weights
    with using_tracking_uri(client.tracking_uri):  # MLflow's SQL registry resolves models:/ through it
        created = _call(
            f"cannot create a version of {name!r}",
            client.create_model_version,
            name,
            source=f"models:/{model_id}" if model_id else f"{run.info.artifact_uri}/weights",
            run_id=run_id,
            model_id=model_id,
            tags={**lineage, TAG_METRICS: json.dumps(metrics, sort_keys=True)},
            description="being registered by mlflow-cv",
            await_creation_for=0,  # SQL-backed registries create versions READY
        )
    new = VersionFacts(tags=lineage, metrics=metrics, label=f"run {run_id[:8]}")
    try:
        prior = _settled_before(client, name, int(created.version))
        semver, chosen, reasons, old = _decide(prior, new, declared=declared, kind=kind, policy=rules)
        _call(f"cannot set {TAG_SEMVER}", client.set_model_version_tag, name, created.version, TAG_SEMVER, str(semver))
    except BaseException:
        with contextlib.suppress(MlflowException):
            client.delete_model_version(name, created.version)
        raise
    notes = release_notes(name, semver, chosen, reasons, old, run_id=run_id, tags=tags, metrics=metrics)
    _call("cannot write the release notes", client.update_model_version, name, created.version, description=notes)
    return Registration(
        name=name,
        version=str(created.version),
        semver=semver,
        bump=chosen,
        supersedes=str(old.semver) if old is not None else None,
        reasons=tuple(reasons),
        notes=notes,
    )


def _settled_before(client: Any, name: str, number: int) -> list[Any]:
    """Lower-numbered versions once each has its semver (stale ones, from crashed registrations, ignored)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        lower = [v for v in _versions(client, name) if int(v.version) < number]
        now_ms = time.time() * 1000
        pending = [v for v in lower if TAG_SEMVER not in v.tags and now_ms - v.creation_timestamp < STALE_MS]
        if not pending:
            return [v for v in lower if TAG_SEMVER in v.tags]
        if time.monotonic() > deadline:
            raise RegistryError(
                f"versions {', '.join(v.version for v in pending)} of {name!r} are still being registered; "
                "retry later, or delete them if their registration crashed"
            )
        time.sleep(POLL_S)


def _decide(
    prior: Sequence[Any], new: VersionFacts, *, declared: Version | None, kind: Bump | None, policy: Policy
) -> tuple[Version, Bump, list[str], VersionFacts | None]:
    if not prior:
        first = declared or Version(1, 0, 0)
        return first, Bump.NONE, ["first version of this model"], None
    for version in prior:
        same = facts_of(version)
        if same_lineage(same, new):
            raise BumpError(f"{new.label} is already registered as {same.label}: same data, config, code and weights")
    top = max(prior, key=lambda v: Version.parse(v.tags[TAG_SEMVER]))
    old = facts_of(top)
    assert old.semver is not None
    required, reasons = required_bump(old, new, policy=policy)
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


def release_notes(
    name: str,
    semver: Version,
    bump: Bump,
    reasons: Sequence[str],
    old: VersionFacts | None,
    *,
    run_id: str,
    tags: dict[str, str],
    metrics: dict[str, float],
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
        "",
        "### Metrics",
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
    if tags.get(TAG_PREFLIGHT) != "passed":
        caveats.append(f"preflight {tags.get(TAG_PREFLIGHT)}: this version can never be promoted to a protected alias")
    if tags.get(TAG_DIRTY) == "true":
        caveats.append("trained from a working tree with uncommitted changes")
    lines += ["", "### Caveats", "", *([f"- {c}" for c in caveats] or ["none"])]
    return "\n".join(lines) + "\n"


def find_version(client: Any, name: str, semver: str) -> Any:
    """The model version of ``name`` whose ``cv.semver`` is ``semver`` (``v1.2.0`` or ``1.2.0``)."""
    wanted = str(Version.parse(semver))
    versions = _versions(client, name)
    for v in versions:
        if v.tags.get(TAG_SEMVER) == wanted:
            return v
    known = sorted((v.tags[TAG_SEMVER] for v in versions if TAG_SEMVER in v.tags), key=Version.parse)
    raise RegistryError(f"{name!r} has no version {semver} (known: {', '.join(known) or 'none'})")


def _holder(client: Any, name: str, alias: str) -> Any | None:
    model = _call(f"no registered model {name!r}", client.get_registered_model, name)
    number = (model.aliases or {}).get(alias)
    return None if number is None else client.get_model_version(name, number)


def _artifact_problems(client: Any, version: Any) -> list[str]:
    """The run's artifacts against their hashes, and the served model's weights against ``cv.weights.sha256``."""
    return verify_artifacts(client, version.run_id, dict(version.tags)) + _served_weights_problems(client, version)


def _served_weights_problems(client: Any, version: Any) -> list[str]:
    """What ``models:/NAME@ALIAS`` would serve must be the weights the run recorded."""
    import mlflow

    if not str(version.source).startswith("models:/"):
        return []
    with tempfile.TemporaryDirectory() as tmp, using_tracking_uri(client.tracking_uri):
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=version.source, dst_path=tmp))
        except Exception as exc:  # any artifact-store failure means the served weights cannot be vouched for
            return [f"cannot download the served model {version.source}: {exc}"]
        weights = local / "weights" / "best.pt"
        if not weights.is_file():
            return [f"the served model {version.source} has no weights/best.pt"]
        if hashlib.sha256(weights.read_bytes()).hexdigest() != version.tags.get(TAG_WEIGHTS_SHA256):
            return [f"the served model's weights ({version.source}) are not the run's {TAG_WEIGHTS_SHA256}"]
    return []


def verify_artifacts(client: Any, run_id: str, tags: dict[str, str]) -> list[str]:
    """Every mismatch between the run's artifacts and the hashes it recorded (empty: all verify)."""
    from mlflow_cv.tracking.run_log import ARTIFACT_INDEX

    with tempfile.TemporaryDirectory() as tmp:
        try:
            root = Path(client.download_artifacts(run_id, "", tmp))
        except Exception as exc:  # any artifact-store failure means the hashes cannot be vouched for
            return [f"cannot download the artifacts: {exc}"]
        index_path = root / ARTIFACT_INDEX
        if not index_path.is_file():
            return [f"{ARTIFACT_INDEX} is missing"]
        text = index_path.read_bytes()
        problems = []
        if hashlib.sha256(text).hexdigest() != tags.get(TAG_ARTIFACTS_SHA256):
            problems.append(f"{ARTIFACT_INDEX} does not match {TAG_ARTIFACTS_SHA256}")
        index = json.loads(text)
        if index.get("weights/best.pt") != tags.get(TAG_WEIGHTS_SHA256):
            problems.append(f"weights/best.pt in the index does not match {TAG_WEIGHTS_SHA256}")
        for rel, expected in sorted(index.items()):
            path = root / rel
            if not path.is_file():
                problems.append(f"{rel}: missing")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != expected:
                problems.append(f"{rel}: content changed since the run logged it")
        return problems


def promote(client: Any, name: str, semver: str, *, alias: str, why: str = "", dry_run: bool = False) -> Promotion:
    """Move ``alias`` to version ``semver`` when every gate passes (only reported for unprotected aliases)."""
    rules = policy(client, name)
    target = find_version(client, name, semver)
    holder = _holder(client, name, alias)
    artifacts = _artifact_problems(client, target) if "artifacts" in rules.gates else []
    gates = evaluate_gates(facts_of(target), facts_of(holder) if holder else None, policy=rules, artifacts=artifacts)
    return _finish(client, name, alias, target, holder, gates, rules, why=why, dry_run=dry_run, kind="promote")


def rollback(client: Any, name: str, *, alias: str, why: str = "", dry_run: bool = False) -> Promotion:
    """Move ``alias`` back to the holder recorded before the current one (recorded as a rollback)."""
    holder = _holder(client, name, alias)
    if holder is None:
        raise RegistryError(f"{name!r} has no alias {alias!r}: nothing to roll back")
    events = parse_history(dict(_call("", client.get_registered_model, name).tags))
    before = previous_holder(events, alias, str(holder.version))
    if before is None or before.from_version is None:
        raise RegistryError(f"no previous holder of {alias!r} is recorded before version {holder.version}")
    target = _call("the previous holder is gone", client.get_model_version, name, before.from_version)
    rules = policy(client, name)
    artifacts = _artifact_problems(client, target) if "artifacts" in rules.gates else []
    gates = evaluate_gates(facts_of(target), facts_of(holder), policy=rules, artifacts=artifacts, rollback=True)
    return _finish(client, name, alias, target, holder, gates, rules, why=why, dry_run=dry_run, kind="rollback")


def _finish(
    client: Any, name: str, alias: str, target: Any, holder: Any | None, gates: list[Gate], policy: Policy, *,
    why: str, dry_run: bool, kind: str,
) -> Promotion:  # fmt: skip
    result = Promotion(
        name=name,
        alias=alias,
        version=str(target.version),
        semver=target.tags.get(TAG_SEMVER, "?"),
        previous=holder.tags.get(TAG_SEMVER) if holder is not None else None,
        gates=tuple(gates),
        moved=False,
        kind=kind,
    )
    failed = [g for g in gates if not g.passed]
    if alias in policy.protected and failed:
        if dry_run:
            return result
        raise GateError(
            f"{name} v{result.semver} may not become {alias!r}: {len(failed)} gate(s) failed",
            problems=[f"{g.name}: {g.detail}" for g in failed],
        )
    if dry_run or (holder is not None and str(holder.version) == str(target.version)):
        return result
    request = MoveRequest(alias=alias, version=str(target.version), who=_who(), why=why, kind=kind,
                          gates=tuple(g.line() for g in gates))  # fmt: skip
    _call("cannot state the move", client.set_registered_model_tag, name, REQUEST_TAG, request.to_json())
    _call(f"the registry refused to move {alias!r}", client.set_registered_model_alias, name, alias, target.version)
    tags = dict(client.get_registered_model(name).tags)
    if not any(e.nonce == request.nonce for e in parse_history(tags)):  # no guard on this registry: record it here
        event = AliasEvent.now(
            who=request.who, alias=alias, from_version=str(holder.version) if holder is not None else None,
            to_version=request.version, from_semver=result.previous, to_semver=result.semver, why=why, kind=kind,
            gates=request.gates, nonce=request.nonce,
        )  # fmt: skip
        _call("cannot record the move", client.set_registered_model_tag, name, event.key, event.to_json())
    return Promotion(**{**result.__dict__, "moved": True})


def history(client: Any, name: str) -> list[AliasEvent]:
    """Every recorded alias move of ``name``, oldest first."""
    return parse_history(dict(_call(f"no registered model {name!r}", client.get_registered_model, name).tags))
