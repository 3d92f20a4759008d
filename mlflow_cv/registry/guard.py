"""The server-side guard: MLflow's SQLAlchemy registry store with DESIGN §4's rules applied to writes.

Registered as a ``mlflow.model_registry_store`` plugin for the URI schemes ``cv-guard-sqlite`` and
``cv-guard-postgresql``; run the server with::

    mlflow server --backend-store-uri sqlite:///mlflow.db --registry-store-uri cv-guard-sqlite:///mlflow.db

so that the MLflow UI, a plain ``MlflowClient`` and raw REST calls meet the same rules as
``mlflow-cv model …``:

- ``cv.*`` tags of a model version are write-once and cannot be deleted; ``cv.semver`` must be a
  semantic version, unique in the model and higher than that of every earlier (lower-numbered) version;
- a protected alias (policy: ``production``, ``staging``) moves only when the gates pass (artifact
  hashes are checked by the client, which can read them); a rollback passes when it goes to the
  holder recorded before the current one; protected aliases cannot be deleted;
- every alias move is recorded in the history (``cv.history.*`` tags, which nobody else can write).

A refusal is an ``MlflowException`` with ``INVALID_PARAMETER_VALUE`` (HTTP 400) saying what failed.
"""

from __future__ import annotations

import threading
from typing import Any

from mlflow.entities.model_registry import RegisteredModelTag
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

from mlflow_cv.errors import MlflowCvError, SemverError
from mlflow_cv.registry.history import (
    HISTORY_PREFIX,
    REQUEST_TAG,
    AliasEvent,
    MoveRequest,
    new_nonce,
    parse_history,
    previous_holder,
)
from mlflow_cv.registry.policy import TAG_METRICS, TAG_POLICY, TAG_SEMVER, Policy, VersionFacts, evaluate_gates
from mlflow_cv.semver import Version

__all__ = ["GuardedRegistryStore", "build_store"]

SCHEME_PREFIX = "cv-guard-"
_lock = threading.Lock()  # serializes the checks and writes of one server process


def build_store(store_uri: str, tracking_uri: str | None = None) -> GuardedRegistryStore:
    """The ``mlflow.model_registry_store`` entry point: ``cv-guard-sqlite:///x.db`` → guarded ``sqlite:///x.db``."""
    if not store_uri.startswith(SCHEME_PREFIX):
        raise MlflowException(f"{store_uri!r}: expected a {SCHEME_PREFIX}<sqlalchemy URI>", INVALID_PARAMETER_VALUE)
    return GuardedRegistryStore(store_uri[len(SCHEME_PREFIX) :])


def _refuse(message: str) -> MlflowException:
    return MlflowException(f"mlflow-cv guard: {message}", error_code=INVALID_PARAMETER_VALUE)


def facts_of(version: Any, label: str | None = None) -> VersionFacts:
    """The rules' view of a model version entity: its tags and its gate metrics."""
    import json

    tags = dict(version.tags)
    try:
        metrics = {k: float(v) for k, v in json.loads(tags.get(TAG_METRICS) or "{}").items()}
    except (ValueError, TypeError, AttributeError):
        metrics = {}
    return VersionFacts(tags=tags, metrics=metrics, label=label or f"v{tags.get(TAG_SEMVER, '?')} (#{version.version})")


class GuardedRegistryStore(SqlAlchemyStore):
    """SqlAlchemyStore whose writes follow mlflow-cv's registry rules (see the module doc)."""

    # --- model version tags ----------------------------------------------------------------------

    def create_model_version(self, name: str, source: str, run_id: str | None = None, tags: Any = None,
                             *args: Any, **kwargs: Any) -> Any:  # fmt: skip
        with _lock:
            for tag in tags or ():
                if tag.key == TAG_SEMVER:
                    self._check_semver(name, None, tag.value)
            return super().create_model_version(name, source, run_id, tags, *args, **kwargs)

    def set_model_version_tag(self, name: str, version: str, tag: Any) -> None:
        with _lock:
            if tag.key.startswith("cv."):
                current = dict(self.get_model_version(name, version).tags)
                if tag.key in current:
                    if current[tag.key] == tag.value:
                        return
                    raise _refuse(f"{tag.key} of {name} version {version} is set once and never changed")
                if tag.key == TAG_SEMVER:
                    self._check_semver(name, int(version), tag.value)
            super().set_model_version_tag(name, version, tag)

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        if key.startswith("cv."):
            raise _refuse(f"{key} of {name} version {version} cannot be deleted")
        super().delete_model_version_tag(name, version, key)

    def _check_semver(self, name: str, number: int | None, value: str) -> None:
        try:
            wanted = Version.parse(value)
        except SemverError as exc:
            raise _refuse(f"{TAG_SEMVER}={value!r}: {exc}") from None
        others = [
            (int(v.version), dict(v.tags)[TAG_SEMVER])
            for v in self.search_model_versions(f"name='{name}'", max_results=10_000)
            if TAG_SEMVER in dict(v.tags) and int(v.version) != number
        ]
        for other, text in others:
            if text == value:
                raise _refuse(f"{name} already has {TAG_SEMVER}={value} (version {other})")
        for other, text in others:
            if (number is None or other < number) and Version.parse(text) > wanted:
                raise _refuse(
                    f"{TAG_SEMVER}={value} is lower than {text} of earlier version {other}; "
                    "semantic versions rise with registration order"
                )

    # --- registered model tags -------------------------------------------------------------------

    def set_registered_model_tag(self, name: str, tag: Any) -> None:
        if tag.key.startswith(HISTORY_PREFIX):
            raise _refuse("the alias history is written by the registry only")
        if tag.key == TAG_POLICY:
            try:
                Policy.from_json(tag.value)
            except MlflowCvError as exc:
                raise _refuse(str(exc)) from None
        super().set_registered_model_tag(name, tag)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        if key.startswith(HISTORY_PREFIX):
            raise _refuse("the alias history cannot be deleted")
        super().delete_registered_model_tag(name, key)

    # --- aliases ---------------------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        with _lock:
            model = self.get_registered_model(name)
            tags = dict(model.tags)
            policy = Policy.from_json(tags.get(TAG_POLICY))
            holder_number = (model.aliases or {}).get(alias)
            candidate = self.get_model_version(name, version)
            holder = self.get_model_version(name, holder_number) if holder_number is not None else None
            request = MoveRequest.from_json(tags.get(REQUEST_TAG))
            if request is not None and (request.alias, request.version) != (alias, str(version)):
                request = None
            events = parse_history(tags)
            rollback = False
            if request is not None and request.kind == "rollback" and holder is not None:
                before = previous_holder(events, alias, str(holder.version))
                rollback = before is not None and before.from_version == str(version)
                if not rollback:
                    raise _refuse(f"version {version} is not the holder of {alias!r} before version {holder.version}")
            gates = evaluate_gates(
                facts_of(candidate),
                facts_of(holder) if holder is not None else None,
                policy=policy,
                artifacts=None,
                rollback=rollback,
            )
            if alias in policy.protected:
                failed = [g for g in gates if not g.passed]
                if failed:
                    raise _refuse(
                        f"{name} version {version} may not become {alias!r}: "
                        + "; ".join(f"{g.name}: {g.detail}" for g in failed)
                    )
            super().set_registered_model_alias(name, alias, version)
            event = AliasEvent.now(
                who=request.who if request else "unknown (direct registry call)",
                alias=alias,
                from_version=str(holder.version) if holder is not None else None,
                to_version=str(version),
                from_semver=dict(holder.tags).get(TAG_SEMVER) if holder is not None else None,
                to_semver=dict(candidate.tags).get(TAG_SEMVER),
                why=request.why if request else "",
                kind=("rollback" if rollback else request.kind) if request else "direct",
                gates=request.gates if request and request.gates else tuple(g.line() for g in gates),
                nonce=request.nonce if request else new_nonce(),
            )
            super().set_registered_model_tag(name, RegisteredModelTag(event.key, event.to_json()))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        policy = Policy.from_json(dict(self.get_registered_model(name).tags).get(TAG_POLICY))
        if alias in policy.protected:
            raise _refuse(f"{alias!r} is protected; move it with `mlflow-cv model promote` or `rollback`")
        super().delete_registered_model_alias(name, alias)
