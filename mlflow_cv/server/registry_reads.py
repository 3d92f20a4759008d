"""What the registry guard reads: narrow reads of a model and its versions, never the whole history.

MLflow's own ``get_registered_model`` also loads the latest versions with every tag of theirs, history
and all; the guard's rules need less, so a move costs the same however long the history is. Versions
come back as the rules' view (:class:`~mlflow_cv.registry.facts.VersionFacts`, without their history
tags), models as :class:`ModelView`; the history is read newest first, only as far as a question needs.
:class:`RegistryReads` is the base of :class:`~mlflow_cv.server.registry_store.GuardedRegistryStore`.
"""

from __future__ import annotations

import heapq
import os
from dataclasses import dataclass
from typing import Any

from mlflow.store.model_registry.dbmodels.models import (
    SqlModelVersionTag,
    SqlRegisteredModelAlias,
    SqlRegisteredModelTag,
)
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore
from sqlalchemy import and_, or_

from mlflow_cv.registry.facts import VersionFacts
from mlflow_cv.registry.history import AliasEvent, PolicyEvent, parse_events, previous_holder
from mlflow_cv.registry.policy import Policy
from mlflow_cv.tags import HISTORY_PREFIX, TAG_POLICY

__all__ = ["ModelView", "RegistryReads", "is_history"]


def is_history(key: str | None) -> bool:
    """Whether ``key`` is a history tag (``cv.history.…``), which only the guard writes."""
    return bool(key) and str(key).startswith(HISTORY_PREFIX)


# History keys as a range of the tag tables' primary keys, (workspace, key, …), so the database skips them
# (or reads only them) through its index: "cv.history." ≤ key < "cv.history/" ("/" follows ".").
_HISTORY_END = HISTORY_PREFIX[:-1] + chr(ord(HISTORY_PREFIX[-1]) + 1)


def _in_history(key: Any) -> Any:
    return and_(key >= HISTORY_PREFIX, key < _HISTORY_END)


def _outside_history(key: Any) -> Any:
    return or_(key < HISTORY_PREFIX, key >= _HISTORY_END)


@dataclass(frozen=True)
class ModelView:
    """A registered model as the rules see it: its tags (without the history) and aliases."""

    tags: dict[str, str]
    aliases: dict[str, str]  # alias → version number


class RegistryReads(SqlAlchemyStore):
    """MLflow's SQLAlchemy registry store with the narrow reads the guard's rules need (see the module doc)."""

    tracking_uri: str | None = None  # where runs are read from outside a server (in-process use)

    def _tracking_store(self) -> Any:
        """The server's tracking store (or the client's, in-process)."""
        from mlflow.server import BACKEND_STORE_URI_ENV_VAR  # type: ignore[attr-defined]

        if os.environ.get(BACKEND_STORE_URI_ENV_VAR):
            from mlflow_cv._mlflow import server_tracking_store

            return server_tracking_store()
        from mlflow_cv._mlflow import tracking_store

        return tracking_store(self.tracking_uri)

    def _policy(self, name: str) -> Policy:
        return Policy.from_json(self._model(name).tags.get(TAG_POLICY))

    def _model(self, name: str) -> ModelView:
        with self.ManagedSessionMaker() as session:
            self._get_registered_model(session, name)  # raises RESOURCE_DOES_NOT_EXIST
            tags = (
                self._get_query(session, SqlRegisteredModelTag)
                .filter(SqlRegisteredModelTag.name == name)
                .filter(_outside_history(SqlRegisteredModelTag.key))
            )
            aliases = self._get_query(session, SqlRegisteredModelAlias).filter(SqlRegisteredModelAlias.name == name)
            return ModelView({t.key: t.value for t in tags}, {a.alias: str(a.version) for a in aliases})

    def _version(self, name: str, version: str | int) -> VersionFacts:
        """The version as the rules see it, read from its row and its tags outside the history."""
        with self.ManagedSessionMaker() as session:
            row = self._get_sql_model_version(session, name, version)  # raises RESOURCE_DOES_NOT_EXIST
            tags = (
                self._get_query(session, SqlModelVersionTag)
                .filter(SqlModelVersionTag.name == name, SqlModelVersionTag.version == row.version)
                .filter(_outside_history(SqlModelVersionTag.key))
            )
            return VersionFacts.registered(
                name=name,
                version=row.version,
                run_id=row.run_id,
                source=str(row.source),
                tags={t.key: t.value for t in tags},
            )

    def _previous_holder(self, name: str, alias: str, current: str) -> AliasEvent | None:
        """The promotion that put ``current`` on ``alias`` (:func:`previous_holder`), reading the history
        newest first, only as far as needed: the moves on the versions (and any recorded on the model
        itself, as releases before the versions' history did)."""
        with self.ManagedSessionMaker() as session:
            streams = [
                self._get_query(session, table)
                .filter(table.name == name, _in_history(table.key))
                .order_by(table.key.desc())
                .yield_per(50)
                for table in (SqlModelVersionTag, SqlRegisteredModelTag)
            ]
            rows = heapq.merge(*streams, key=lambda row: row.key, reverse=True)
            return previous_holder(parse_events(row.value for row in rows), alias, current)

    def _in_the_record(self, name: str, policy: Policy, version: str | None = None) -> bool:
        """Whether the history holds evidence about ``name`` (or its ``version``): a move of a protected
        alias, or a policy change. Moves of other aliases are recorded too, but pin nothing."""
        with self.ManagedSessionMaker() as session:
            tables = (SqlModelVersionTag,) if version is not None else (SqlModelVersionTag, SqlRegisteredModelTag)
            for table in tables:
                query = self._get_query(session, table).filter(table.name == name, _in_history(table.key))
                if version is not None:
                    query = query.filter(SqlModelVersionTag.version == int(version))
                for event in parse_events(row.value for row in query.yield_per(200)):
                    if isinstance(event, PolicyEvent) or policy.protects(event.alias):
                        return True
        return False
