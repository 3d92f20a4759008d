"""The server-side guard: MLflow's SQLAlchemy registry store with DESIGN §4's rules applied to writes.

Registered as a ``mlflow.model_registry_store`` plugin for the URI schemes ``cv-guard-sqlite`` and
``cv-guard-postgresql``; run the server with::

    mlflow server --backend-store-uri cv-guard-sqlite:///mlflow.db --registry-store-uri cv-guard-sqlite:///mlflow.db

so that the MLflow UI, a plain ``MlflowClient`` and raw REST calls meet the same rules as
``mlflow-cv model …``:

- every ``cv.*`` tag of a version, given at creation or set later, must be that of its run (lineage)
  or its run's metrics (``cv.metrics``): the gates read them, so they are facts, not claims;
- ``cv.*`` tags of a model version are write-once and cannot be deleted; ``cv.semver`` is never given
  at creation (so ``copy_model_version`` cannot carry one over), and must be a semantic version,
  unique in the model, above every earlier (lower-numbered) version's and below every later one's;
- a model with protected aliases or a history cannot be renamed or deleted; the deprecated stage API
  is refused for models mlflow-cv manages; an alias spelled like a protected one (``Production``) is
  refused;
- a version holding a protected alias, and a model with protected aliases, cannot be deleted;
- ``cv.policy`` must parse, keep ``production`` protected and the lineage and preflight gates on;
- a protected alias (policy: ``production``, ``staging``) moves only when the gates pass (artifact
  hashes are checked by the client, which can read them); a rollback passes when it goes to the
  holder recorded before the current one; protected aliases cannot be deleted;
- every alias move is recorded in the history (``cv.history.*`` tags, which nobody else can write),
  with only the gates this server evaluated; ``who`` is the user MLflow's auth app authenticated, else
  ``unauthenticated (claims …)`` with the mover's own words from ``cv.move.request`` (consumed by the
  move), whose ``why`` is kept as the mover's.

Checks and writes are serialized per process, and across processes for SQLite (a file lock beside the
database); with PostgreSQL and several server workers, run ``--workers 1`` if raw clients race.

A refusal is an ``MlflowException`` with ``INVALID_PARAMETER_VALUE`` (HTTP 400) saying what failed.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlflow.entities.model_registry import RegisteredModelTag
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

from mlflow_cv.errors import MlflowCvError, SemverError
from mlflow_cv.registry.history import AliasEvent, MoveRequest, new_nonce, parse_history, previous_holder
from mlflow_cv.registry.policy import Policy, evaluate_gates, facts_of
from mlflow_cv.semver import Version
from mlflow_cv.tags import (
    CV_PREFIX,
    HISTORY_PREFIX,
    MOVE_DIRECT,
    MOVE_ROLLBACK,
    TAG_METRICS,
    TAG_MOVE_REQUEST,
    TAG_POLICY,
    TAG_SEMVER,
)

__all__ = ["SCHEME_PREFIX", "GuardedRegistryStore", "build_store", "refuse"]

SCHEME_PREFIX = "cv-guard-"
_lock = threading.Lock()  # serializes the checks and writes of one server process


def build_store(store_uri: str, tracking_uri: str | None = None) -> GuardedRegistryStore:
    """The ``mlflow.model_registry_store`` entry point: ``cv-guard-sqlite:///x.db`` → guarded ``sqlite:///x.db``."""
    if not store_uri.startswith(SCHEME_PREFIX):
        raise MlflowException(f"{store_uri!r}: expected a {SCHEME_PREFIX}<sqlalchemy URI>", INVALID_PARAMETER_VALUE)
    store = GuardedRegistryStore(store_uri[len(SCHEME_PREFIX) :])
    store.tracking_uri = tracking_uri
    return store


@contextmanager
def _serialized(db_uri: str) -> Iterator[None]:
    """One check-then-write at a time: across threads, and across server workers for SQLite (a file lock
    beside the database). For PostgreSQL across several workers, run the server with ``--workers 1``."""
    with _lock:
        if not db_uri.startswith("sqlite:///"):
            yield
            return
        with open(f"{db_uri[len('sqlite:///') :]}.cv-guard.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def refuse(message: str) -> MlflowException:
    """A refusal of the guard: HTTP 400, the message starting ``mlflow-cv guard:``."""
    return MlflowException(f"mlflow-cv guard: {message}", error_code=INVALID_PARAMETER_VALUE)


def _identity(claim: str | None) -> str:
    """Who moved an alias, as the server knows it: the user MLflow's auth app authenticated, else
    ``unauthenticated`` with the client's own claim (a claim, so labelled as one)."""
    try:
        from flask import has_request_context, request

        user = request.authorization.username if has_request_context() and request.authorization else None
    except ImportError:  # pragma: no cover - flask ships with mlflow's server
        user = None
    if user:
        return str(user)
    return "unauthenticated" + (f" (claims {claim})" if claim else "")


def _ours(key: str | None) -> bool:
    """A ``cv.*`` key (MLflow's own store validates keys after us: a None key must not crash here)."""
    return bool(key) and str(key).startswith(CV_PREFIX)


class GuardedRegistryStore(SqlAlchemyStore):
    """SqlAlchemyStore whose writes follow mlflow-cv's registry rules (see the module doc)."""

    tracking_uri: str | None = None  # where runs are read from outside a server (in-process use)

    def _run(self, run_id: str) -> Any:
        """The run behind a version, from the server's tracking store (or the client's, in-process)."""
        from mlflow.server import BACKEND_STORE_URI_ENV_VAR  # type: ignore[attr-defined]

        if os.environ.get(BACKEND_STORE_URI_ENV_VAR):
            from mlflow.server.handlers import _get_tracking_store

            return _get_tracking_store().get_run(run_id)
        from mlflow.tracking._tracking_service.utils import _get_store

        return _get_store(self.tracking_uri).get_run(run_id)

    # --- model versions and their tags -----------------------------------------------------------

    def create_model_version(self, name: str, source: str, run_id: str | None = None, tags: Any = None,
                             *args: Any, **kwargs: Any) -> Any:  # fmt: skip
        """``cv.*`` tags given at creation must be the run's own: lineage and gate metrics are not claims.
        ``cv.semver`` is never given at creation (nor carried over by ``copy_model_version``): it is set
        afterwards, in registration order."""
        lineage = {t.key: t.value for t in tags or () if _ours(t.key)}
        with _serialized(self.db_uri):
            if TAG_SEMVER in lineage:
                raise refuse(f"{TAG_SEMVER} is set after a version is created, in registration order; "
                             "register with `mlflow-cv model register` (a copied version gets its own)")  # fmt: skip
            self._check_against_run(name, run_id, lineage)
            return super().create_model_version(name, source, run_id, tags, *args, **kwargs)

    def _check_against_run(self, name: str, run_id: str | None, claimed: dict[str, str]) -> None:
        """Every claimed ``cv.*`` fact of a version is its run's: lineage tags, and the gate metrics."""
        if not claimed:
            return
        if not run_id:
            raise refuse(f"{CV_PREFIX}* tags need the run they come from (run_id)")
        run = self._run(run_id)
        policy = Policy.from_json(dict(self.get_registered_model(name).tags).get(TAG_POLICY))
        for key, value in claimed.items():
            if key == TAG_METRICS:
                try:
                    same = json.loads(value) == policy.gate_metrics(run.data.metrics)
                except ValueError:
                    same = False
                if not same:
                    raise refuse(f"{TAG_METRICS} does not match the metrics of run {run_id}")
            elif run.data.tags.get(key) != value:
                raise refuse(f"{key}={value!r} is not the tag of run {run_id}")

    def delete_model_version(self, name: str, version: str) -> None:
        held = self._protected_aliases_of(name, version)
        if held:
            raise refuse(f"version {version} holds {', '.join(held)}; move the alias first")
        super().delete_model_version(name, version)

    def delete_registered_model(self, name: str) -> None:
        self._check_keeps_its_name(name, "deleted")
        super().delete_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> Any:
        self._check_keeps_its_name(name, "renamed")
        return super().rename_registered_model(name, new_name)

    def _check_keeps_its_name(self, name: str, what: str) -> None:
        """A model with protected aliases or a history keeps its name: re-creating the old name would
        start a fresh, ungated ``@production`` with no history."""
        model = self.get_registered_model(name)
        tags = dict(model.tags)
        policy = Policy.from_json(tags.get(TAG_POLICY))
        held = sorted(a for a in model.aliases or {} if policy.protects(a))
        if held or any(k.startswith(HISTORY_PREFIX) for k in tags):
            reason = f"protected aliases ({', '.join(held)})" if held else "an alias history"
            raise refuse(f"{name} has {reason}; it cannot be {what}: it and its history stay")

    def transition_model_version_stage(self, name: str, version: str, stage: Any, *args: Any, **kwargs: Any) -> Any:
        model = self.get_registered_model(name)
        if any(_ours(k) for k in dict(model.tags)) or any(
            _ours(k) for k in dict(self.get_model_version(name, version).tags)
        ):
            raise refuse(
                f"{name} is managed by mlflow-cv, which moves aliases, not stages (deprecated in MLflow): "
                "use `mlflow-cv model promote NAME X.Y.Z --to ALIAS`"
            )
        return super().transition_model_version_stage(name, version, stage, *args, **kwargs)

    def _protected_aliases_of(self, name: str, version: str) -> list[str]:
        model = self.get_registered_model(name)
        policy = Policy.from_json(dict(model.tags).get(TAG_POLICY))
        return sorted(a for a, v in (model.aliases or {}).items() if str(v) == str(version) and policy.protects(a))

    def set_model_version_tag(self, name: str, version: str, tag: Any) -> None:
        """A ``cv.*`` version tag is written once, and checked when it is: ``cv.semver`` against the other
        versions, every other one against the version's run."""
        with _serialized(self.db_uri):
            if _ours(tag.key):
                target = self.get_model_version(name, version)
                current = dict(target.tags)
                if tag.key in current:
                    if current[tag.key] == tag.value:
                        return
                    raise refuse(f"{tag.key} of {name} version {version} is set once and never changed")
                if tag.key == TAG_SEMVER:
                    self._check_semver(name, int(version), tag.value)
                else:
                    self._check_against_run(name, target.run_id, {tag.key: tag.value})
            super().set_model_version_tag(name, version, tag)

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        if _ours(key):
            raise refuse(f"{key} of {name} version {version} cannot be deleted")
        super().delete_model_version_tag(name, version, key)

    def _check_semver(self, name: str, number: int | None, value: str) -> None:
        try:
            wanted = Version.parse(value)
        except SemverError as exc:
            raise refuse(f"{TAG_SEMVER}={value!r}: {exc}") from None
        others = [
            (int(v.version), dict(v.tags)[TAG_SEMVER])
            for v in self.search_model_versions(f"name='{name}'", max_results=10_000)
            if TAG_SEMVER in dict(v.tags) and int(v.version) != number
        ]
        for other, text in others:
            if text == value:
                raise refuse(f"{name} already has {TAG_SEMVER}={value} (version {other})")
        for other, text in others:
            earlier = number is None or other < number
            if (Version.parse(text) > wanted) if earlier else (Version.parse(text) < wanted):
                raise refuse(
                    f"{TAG_SEMVER}={value} is {'lower' if earlier else 'higher'} than {text} of "
                    f"{'earlier' if earlier else 'later'} version {other}; semantic versions rise with registration "
                    "order"
                )

    # --- registered model tags -------------------------------------------------------------------

    def create_registered_model(self, name: str, tags: Any = None, *args: Any, **kwargs: Any) -> Any:
        for tag in tags or ():
            self._check_model_tag(tag)
        return super().create_registered_model(name, tags, *args, **kwargs)

    def set_registered_model_tag(self, name: str, tag: Any) -> None:
        self._check_model_tag(tag)
        super().set_registered_model_tag(name, tag)

    @staticmethod
    def _check_model_tag(tag: Any) -> None:
        if (tag.key or "").startswith(HISTORY_PREFIX):
            raise refuse("the alias history is written by the registry only")
        if tag.key == TAG_POLICY:
            try:
                Policy.from_json(tag.value)
            except MlflowCvError as exc:
                raise refuse(str(exc)) from None

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        if (key or "").startswith(HISTORY_PREFIX):
            raise refuse("the alias history cannot be deleted")
        super().delete_registered_model_tag(name, key)

    # --- aliases ---------------------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        with _serialized(self.db_uri):
            model = self.get_registered_model(name)
            tags = dict(model.tags)
            policy = Policy.from_json(tags.get(TAG_POLICY))
            lookalike = [p for p in policy.protected if p.casefold() == alias.casefold() and p != alias]
            if lookalike:
                raise refuse(
                    f"alias {alias!r} is the protected {lookalike[0]!r} spelled otherwise; use {lookalike[0]!r}"
                )
            holder_number = (model.aliases or {}).get(alias)
            candidate = self.get_model_version(name, version)
            holder = self.get_model_version(name, holder_number) if holder_number is not None else None
            request = MoveRequest.from_json(tags.get(TAG_MOVE_REQUEST))
            if request is not None and (request.alias, request.version) != (alias, str(version)):
                request = None
            events = parse_history(tags)
            rollback = False
            if request is not None and request.kind == MOVE_ROLLBACK and holder is not None:
                before = previous_holder(events, alias, str(holder.version))
                rollback = before is not None and before.from_version == str(version)
                if not rollback:
                    raise refuse(f"version {version} is not the holder of {alias!r} before version {holder.version}")
            gates = evaluate_gates(
                facts_of(candidate),
                facts_of(holder) if holder is not None else None,
                policy=policy,
                artifacts=None,
                rollback=rollback,
            )
            if policy.protects(alias):
                failed = [g for g in gates if not g.passed]
                if failed:
                    raise refuse(
                        f"{name} version {version} may not become {alias!r}: "
                        + "; ".join(f"{g.name}: {g.detail}" for g in failed)
                    )
            super().set_registered_model_alias(name, alias, version)
            event = AliasEvent.now(
                who=_identity(request.who if request else None),
                alias=alias,
                from_version=str(holder.version) if holder is not None else None,
                to_version=str(version),
                from_semver=dict(holder.tags).get(TAG_SEMVER) if holder is not None else None,
                to_semver=dict(candidate.tags).get(TAG_SEMVER),
                why=request.why if request else "",
                kind=(MOVE_ROLLBACK if rollback else request.kind) if request else MOVE_DIRECT,
                gates=tuple(g.line() for g in gates),  # what this server evaluated, never the client's lines
                nonce=request.nonce if request else new_nonce(),
            )
            super().set_registered_model_tag(name, RegisteredModelTag(event.key, event.to_json()))
            if request is not None:  # used once
                super().delete_registered_model_tag(name, TAG_MOVE_REQUEST)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        policy = Policy.from_json(dict(self.get_registered_model(name).tags).get(TAG_POLICY))
        if policy.protects(alias):
            raise refuse(f"{alias!r} is protected; move it with `mlflow-cv model promote` or `rollback`")
        super().delete_registered_model_alias(name, alias)
