"""The server-side guard: MLflow's SQLAlchemy registry store with DESIGN §4's rules applied to writes.

Registered as a ``mlflow.model_registry_store`` plugin for the URI schemes ``cv-guard-sqlite`` and
``cv-guard-postgresql``; run the server with::

    mlflow server --backend-store-uri cv-guard-sqlite:///mlflow.db --registry-store-uri cv-guard-sqlite:///mlflow.db

so that the MLflow UI, a plain ``MlflowClient`` and raw REST calls meet the same rules as
``mlflow-cv model …``:

- every ``cv.*`` tag of a version, given at creation or set later, is checked against the evidence it
  claims (:mod:`mlflow_cv.server.evidence`: the run's lineage tags and metrics), and is write-once;
- ``cv.semver`` is never given at creation (so ``copy_model_version`` cannot carry one over), and is set
  in registration order: a semantic version, unique in the model, above every earlier (lower-numbered)
  version's and below every later one's, and only once every earlier version has one (or was abandoned);
- a model with protected aliases, or whose history records a protected move or a policy change, cannot
  be renamed or deleted, nor a version that holds or held a protected alias; the deprecated stage API
  is refused for models mlflow-cv manages; an alias spelled like a protected one (``Production``) is
  refused;
- ``cv.policy`` must parse and keep ``production`` protected and the lineage and preflight gates on;
  a change that loosens it needs ``mlflow-cv model policy --allow-loosen`` (``cv.policy.request``), and
  every change is an event of the history;
- a protected alias (policy: ``production``, ``staging``) moves only when the gates pass, the artifacts
  re-hashed by this server (:mod:`mlflow_cv.server.artifacts`) unless the policy leaves them to
  the client, the metrics compared on both versions' evaluation records on the same gate data
  (:mod:`mlflow_cv.registry.gate_data`); a rollback passes when it goes to the holder recorded before
  the current one; protected aliases cannot be deleted;
- with MLflow's auth app, moving a protected alias or changing a policy needs MANAGE on the model
  (:mod:`mlflow_cv.server.identity`), and ``who`` in the history is the authenticated user;
- every alias move and policy change is recorded in the history (:mod:`mlflow_cv.registry.history`),
  which only this store writes, with only the gates it evaluated.

Every check-then-write runs under a lock held in the database (:mod:`mlflow_cv.server.dblock`), so any
number of server workers and processes on one database is safe.

A refusal is an ``MlflowException`` with ``INVALID_PARAMETER_VALUE`` (HTTP 400; 403 for a missing
permission) whose message starts ``mlflow-cv guard:``.
"""

from __future__ import annotations

import time
from typing import Any

from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag
from mlflow.entities.model_registry.model_version_stages import STAGE_DELETED_INTERNAL
from mlflow.store.model_registry.dbmodels.models import SqlModelVersion, SqlModelVersionTag

from mlflow_cv.errors import MlflowCvError, SemverError
from mlflow_cv.registry.facts import VersionFacts
from mlflow_cv.registry.gate_data import gate_data, recorded_scores
from mlflow_cv.registry.gates import STALE_MS, GateScores, evaluate_gates
from mlflow_cv.registry.history import AliasEvent, Event, MoveRequest, PolicyEvent, PolicyRequest, new_nonce
from mlflow_cv.registry.policy import Policy
from mlflow_cv.semver import Version
from mlflow_cv.server.artifacts import Unreadable, artifact_problems
from mlflow_cv.server.dblock import serialized
from mlflow_cv.server.evidence import Evidence, problem_with
from mlflow_cv.server.identity import require_manage, who
from mlflow_cv.server.refusal import refuse
from mlflow_cv.server.registry_reads import RegistryReads, is_history
from mlflow_cv.tags import (
    GUARD_SCHEME,
    MOVE_DIRECT,
    MOVE_ROLLBACK,
    TAG_MOVE_REQUEST,
    TAG_POLICY,
    TAG_POLICY_REQUEST,
    TAG_SEMVER,
    ours,
)

__all__ = ["GuardedRegistryStore", "build_store"]


def build_store(store_uri: str, tracking_uri: str | None = None) -> GuardedRegistryStore:
    """The ``mlflow.model_registry_store`` entry point: ``cv-guard-sqlite:///x.db`` → guarded ``sqlite:///x.db``."""
    if not store_uri.startswith(GUARD_SCHEME):
        raise refuse(f"{store_uri!r}: expected a {GUARD_SCHEME}<sqlalchemy URI>")
    store = GuardedRegistryStore(store_uri.removeprefix(GUARD_SCHEME))
    store.tracking_uri = tracking_uri
    return store


class GuardedRegistryStore(RegistryReads):
    """SqlAlchemyStore whose writes follow mlflow-cv's registry rules (see the module doc); what it reads,
    and how, is :class:`~mlflow_cv.server.registry_reads.RegistryReads`."""

    # --- model versions and their tags -----------------------------------------------------------

    def create_model_version(
        self, name: str, source: str, run_id: str | None = None, tags: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        """``cv.*`` tags given at creation are checked like any other write of them; ``cv.semver`` is never
        given at creation (nor carried over by ``copy_model_version``): it is set afterwards, in order."""
        claimed = {t.key: t.value for t in tags or () if ours(t.key)}
        if not claimed:
            return super().create_model_version(name, source, run_id, tags, *args, **kwargs)
        with serialized(self, f"model:{name}", f"run:{run_id}"):
            if TAG_SEMVER in claimed:
                raise refuse(
                    f"{TAG_SEMVER} is set after a version is created, in registration order; "
                    "register with `mlflow-cv model register` (a copied version gets its own)"
                )
            evidence = Evidence(run_id, self._tracking_store().get_run, self._policy(name))
            for key, value in claimed.items():
                self._check_claim(evidence, key, value)
            return super().create_model_version(name, source, run_id, tags, *args, **kwargs)

    @staticmethod
    def _check_claim(evidence: Evidence, key: str, value: str) -> None:
        if is_history(key):
            raise refuse("the alias history is written by the registry only")
        if problem := problem_with(evidence, key, value):
            raise refuse(problem)

    def set_model_version_tag(self, name: str, version: str, tag: Any) -> None:
        """A ``cv.*`` version tag is written once, and checked when it is: ``cv.semver`` against the other
        versions, every other one against its evidence."""
        if not ours(tag.key):
            super().set_model_version_tag(name, version, tag)
            return
        with serialized(self, f"model:{name}"):
            target = self._version(name, version)
            if is_history(tag.key):
                raise refuse("the alias history is written by the registry only")
            if tag.key in target.tags:
                if target.tags[tag.key] == tag.value:
                    return
                raise refuse(f"{tag.key} of {name} version {version} is set once and never changed")
            if tag.key == TAG_SEMVER:
                self._check_semver(name, int(version), tag.value)
            else:
                self._check_claim(
                    Evidence(target.run_id, self._tracking_store().get_run, self._policy(name)), tag.key, tag.value
                )
            super().set_model_version_tag(name, version, tag)

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        if ours(key):
            raise refuse(f"{key} of {name} version {version} cannot be deleted")
        super().delete_model_version_tag(name, version, key)

    def _check_semver(self, name: str, number: int, value: str) -> None:
        """``value`` for version ``number``: unique, and in registration order both ways."""
        try:
            wanted = Version.parse(value)
        except SemverError as exc:
            raise refuse(f"{TAG_SEMVER}={value!r}: {exc}") from None
        with self.ManagedSessionMaker() as session:
            semvers = {
                int(r.version): r.value
                for r in self._get_query(session, SqlModelVersionTag).filter(
                    SqlModelVersionTag.name == name, SqlModelVersionTag.key == TAG_SEMVER
                )
            }
            stale_before = int(time.time() * 1000) - STALE_MS
            live = {
                int(v.version): v.creation_time or 0
                for v in self._get_query(session, SqlModelVersion).filter(
                    SqlModelVersion.name == name, SqlModelVersion.current_stage != STAGE_DELETED_INTERNAL
                )
            }
        pending = sorted(n for n, created in live.items() if n < number and n not in semvers and created > stale_before)
        if pending:
            raise refuse(
                f"version {pending[0]} of {name} is still being registered; {TAG_SEMVER} is given in "
                f"registration order, so version {number} gets one after it (retry shortly)"
            )
        others = {n: text for n, text in semvers.items() if n != number and n in live}
        for other, text in sorted(others.items()):
            if text == value:
                raise refuse(f"{name} already has {TAG_SEMVER}={value} (version {other})")
            earlier = other < number
            if (Version.parse(text) > wanted) if earlier else (Version.parse(text) < wanted):
                raise refuse(
                    f"{TAG_SEMVER}={value} is {'lower' if earlier else 'higher'} than {text} of "
                    f"{'earlier' if earlier else 'later'} version {other}; semantic versions rise with registration "
                    "order"
                )

    def delete_model_version(self, name: str, version: str) -> None:
        with serialized(self, f"model:{name}"):
            held = self._protected_aliases_of(name, version)
            if held:
                raise refuse(f"version {version} holds {', '.join(held)}; move the alias first")
            if self._in_the_record(name, self._policy(name), version):
                raise refuse(f"version {version} of {name} held a protected alias; it stays as evidence")
            super().delete_model_version(name, version)

    def _protected_aliases_of(self, name: str, version: str) -> list[str]:
        model = self._model(name)
        policy = Policy.from_json(model.tags.get(TAG_POLICY))
        return sorted(a for a, v in model.aliases.items() if v == str(version) and policy.protects(a))

    # --- registered models: names, stages, policy ---------------------------------------------------

    def delete_registered_model(self, name: str) -> None:
        with serialized(self, f"model:{name}"):
            self._check_keeps_its_name(name, "deleted")
            super().delete_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> Any:
        with serialized(self, f"model:{name}", f"model:{new_name}"):
            self._check_keeps_its_name(name, "renamed")
            return super().rename_registered_model(name, new_name)

    def _check_keeps_its_name(self, name: str, what: str) -> None:
        """A model with protected aliases or evidence in its history keeps its name: re-creating the old
        name would start a fresh, ungated ``@production`` with no history."""
        model = self._model(name)
        policy = Policy.from_json(model.tags.get(TAG_POLICY))
        held = sorted(a for a in model.aliases if policy.protects(a))
        if held or self._in_the_record(name, policy):
            reason = f"protected aliases ({', '.join(held)})" if held else "a history of protected moves or policies"
            raise refuse(f"{name} has {reason}; it cannot be {what}: it and its history stay")

    def transition_model_version_stage(self, name: str, version: str, stage: Any, *args: Any, **kwargs: Any) -> Any:
        if any(ours(k) for k in self._model(name).tags) or any(ours(k) for k in self._version(name, version).tags):
            raise refuse(
                f"{name} is managed by mlflow-cv, which moves aliases, not stages (deprecated in MLflow): "
                "use `mlflow-cv model promote NAME X.Y.Z --to ALIAS`"
            )
        return super().transition_model_version_stage(name, version, stage, *args, **kwargs)

    def create_registered_model(self, name: str, tags: Any = None, *args: Any, **kwargs: Any) -> Any:
        """A policy given at creation may be stricter than the defaults, never looser (a looser one is set
        afterwards, with ``--allow-loosen``); it is the history's first event."""
        given = {t.key: t.value for t in tags or () if ours(t.key)}
        if any(is_history(k) for k in given):
            raise refuse("the history is written by the registry only")
        if TAG_POLICY not in given:
            return super().create_registered_model(name, tags, *args, **kwargs)
        new = self._parsed_policy(given[TAG_POLICY])
        if loosened := Policy().loosened_by(new):
            raise refuse(
                f"a new model's policy may not be looser than the defaults ({'; '.join(loosened)}); create {name} "
                f"first, then `mlflow-cv model policy {name} --set … --allow-loosen`"
            )
        with serialized(self, f"model:{name}"):
            created = super().create_registered_model(name, tags, *args, **kwargs)
            self._record(
                name,
                PolicyEvent.now(
                    who=who(None), old=Policy().to_json(), new=new.to_json(), loosened=(), why="", nonce=new_nonce()
                ),
            )
            return created

    @staticmethod
    def _parsed_policy(text: str | None) -> Policy:
        try:
            return Policy.from_json(text)
        except MlflowCvError as exc:
            raise refuse(str(exc)) from None

    def set_registered_model_tag(self, name: str, tag: Any) -> None:
        if is_history(tag.key):
            raise refuse("the history is written by the registry only")
        if tag.key == TAG_POLICY:
            self._change_policy(name, self._parsed_policy(tag.value))
        else:
            super().set_registered_model_tag(name, tag)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        if is_history(key):
            raise refuse("the history cannot be deleted")
        if key == TAG_POLICY:
            self._change_policy(name, None)
        else:
            super().delete_registered_model_tag(name, key)

    def _change_policy(self, name: str, new: Policy | None) -> None:
        """Store ``new`` (None: back to the defaults) as ``name``'s policy, when the change may be made."""
        with serialized(self, f"model:{name}"):
            tags = self._model(name).tags
            old, chosen = self._parsed_policy(tags.get(TAG_POLICY)), new or Policy()
            if chosen == old and (new is not None) == (TAG_POLICY in tags):
                return
            require_manage(name, "change the policy of")
            request = PolicyRequest.from_json(tags.get(TAG_POLICY_REQUEST))
            if request is not None and request.policy != chosen.to_json():
                request = None  # stated for another policy
            loosened = old.loosened_by(chosen)
            if loosened and not (request and request.allow_loosen):
                raise refuse(
                    f"the new policy of {name} loosens the rules ({'; '.join(loosened)}); if that is meant, "
                    f"state it: `mlflow-cv model policy {name} --set '…' --allow-loosen --why '…'`"
                )
            if new is None:
                super().delete_registered_model_tag(name, TAG_POLICY)
            else:
                super().set_registered_model_tag(name, RegisteredModelTag(TAG_POLICY, chosen.to_json()))
            self._record(
                name,
                PolicyEvent.now(
                    who=who(request.who if request else None),
                    old=old.to_json(),
                    new=chosen.to_json(),
                    loosened=tuple(loosened),
                    why=request.why if request else "",
                    nonce=request.nonce if request else new_nonce(),
                ),
            )
            if request is not None:  # used once
                super().delete_registered_model_tag(name, TAG_POLICY_REQUEST)

    def _record(self, name: str, event: Event, version: str | None = None) -> None:
        """Append ``event`` to the history: a move on the version it moved to, a policy change on the model."""
        if version is None:
            super().set_registered_model_tag(name, RegisteredModelTag(event.key, event.to_json()))
        else:
            super().set_model_version_tag(name, version, ModelVersionTag(event.key, event.to_json()))

    # --- aliases ---------------------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        with serialized(self, f"model:{name}"):
            model = self._model(name)
            tags = model.tags
            policy = Policy.from_json(tags.get(TAG_POLICY))
            lookalike = [p for p in policy.protected if p.casefold() == alias.casefold() and p != alias]
            if lookalike:
                raise refuse(
                    f"alias {alias!r} is the protected {lookalike[0]!r} spelled otherwise; use {lookalike[0]!r}"
                )
            protected = policy.protects(alias)
            if protected:
                require_manage(name, f"move {alias!r} of")
            holder_number = model.aliases.get(alias)
            candidate = self._version(name, version)
            holder = self._version(name, holder_number) if holder_number is not None else None
            request = MoveRequest.from_json(tags.get(TAG_MOVE_REQUEST))
            if request is not None and (request.alias, request.version) != (alias, str(version)):
                request = None  # stated for another move
            rollback = False
            if request is not None and request.kind == MOVE_ROLLBACK and holder is not None:
                before = self._previous_holder(name, alias, str(holder.version))
                rollback = before is not None and before.from_version == str(version)
                if not rollback:
                    raise refuse(f"version {version} is not the holder of {alias!r} before version {holder.version}")
            gates = evaluate_gates(
                candidate,
                holder,
                policy=policy,
                artifacts=self._artifacts_verdict(candidate, policy) if protected else "not checked: not protected",
                rollback=rollback,
                scores=self._gate_scores(policy, candidate, holder) if protected and not rollback else None,
            )
            failed = [g for g in gates if not g.passed]
            if protected and failed:
                raise refuse(
                    f"{name} version {version} may not become {alias!r}: "
                    + "; ".join(f"{g.name}: {g.detail}" for g in failed)
                )
            super().set_registered_model_alias(name, alias, version)
            event = AliasEvent.now(
                who=who(request.who if request else None),
                alias=alias,
                from_version=holder.version if holder is not None else None,
                to_version=candidate.version,
                from_semver=holder.tags.get(TAG_SEMVER) if holder is not None else None,
                to_semver=candidate.tags.get(TAG_SEMVER),
                why=request.why if request else "",
                kind=(MOVE_ROLLBACK if rollback else request.kind) if request else MOVE_DIRECT,
                gates=tuple(g.line() for g in gates),  # what this server evaluated, never the client's lines
                nonce=request.nonce if request else new_nonce(),
            )
            self._record(name, event, candidate.version)
            if request is not None:  # used once
                super().delete_registered_model_tag(name, TAG_MOVE_REQUEST)

    def _gate_scores(self, policy: Policy, candidate: VersionFacts, holder: VersionFacts | None) -> GateScores | None:
        """Both versions' evaluations on the gate data, from their evaluation records and runs."""
        if "metrics" not in policy.gates or (holder is None and not policy.min_metrics):
            return None
        runs = self._tracking_store().get_run
        data = gate_data(policy, candidate, holder, runs=runs)
        return recorded_scores(data, candidate, holder, runs=runs, slices=policy.slices)

    def _artifacts_verdict(self, candidate: VersionFacts, policy: Policy) -> list[str] | str:
        """The artifacts gate as this server sees it: the mismatches it found re-hashing them, or, where it
        cannot read them, a failure (policy ``artifacts: server``) or a note that the client checks them."""
        if "artifacts" not in policy.gates:
            return "not a gate of this policy"
        try:
            return artifact_problems(self._tracking_store(), candidate, dict(candidate.tags))
        except Unreadable as exc:
            if policy.artifacts == "client":
                return f"checked by the client (policy: artifacts client); the server cannot: {exc}"
            return [
                f"the server cannot re-hash them: {exc}; serve artifacts through this server "
                "(--artifacts-destination), or set the policy's artifacts to client"
            ]

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        if self._policy(name).protects(alias):
            raise refuse(f"{alias!r} is protected; move it with `mlflow-cv model promote` or `rollback`")
        super().delete_registered_model_alias(name, alias)
