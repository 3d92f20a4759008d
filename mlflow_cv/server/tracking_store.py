"""The server-side guard of the tracking store: a run's record cannot be rewritten after the fact.

Registered as a ``mlflow.tracking_store`` plugin for the same ``cv-guard-sqlite`` and
``cv-guard-postgresql`` schemes as the registry guard, so one URI guards both::

    mlflow server --backend-store-uri cv-guard-sqlite:///mlflow.db --registry-store-uri cv-guard-sqlite:///mlflow.db

Rules (DESIGN §4b), each refusal an ``INVALID_PARAMETER_VALUE`` (HTTP 400) starting ``mlflow-cv guard:``:

- ``cv.*`` run tags are written only while the run is running, once, and never deleted (the two tags
  ``mlflow-cv reproduce`` sets on its own, ended, run excepted: they are written once too);
- an ended run's metrics and params are frozen, and an ended run cannot be set running again;
- a run that backs a registered model version cannot be deleted.

While a run is running, everything else behaves exactly as MLflow's own store (training logs through it).
The write-once check of a ``cv.*`` tag and the check that a run backs no version run under a lock held in
the database (:mod:`mlflow_cv.server.dblock`), as the registry guard's do.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from mlflow.entities import RunStatus
from mlflow.entities.model_registry.model_version_stages import STAGE_DELETED_INTERNAL
from mlflow.store.model_registry.dbmodels.models import SqlModelVersion
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from mlflow_cv.server.dblock import serialized
from mlflow_cv.server.refusal import refuse
from mlflow_cv.tags import GUARD_SCHEME, TAG_REPRODUCE_VERDICT, TAG_REPRODUCES, ours

__all__ = ["GuardedTrackingStore", "build_tracking_store"]

_AFTER_THE_END = frozenset({TAG_REPRODUCES, TAG_REPRODUCE_VERDICT})  # set on a reproduction's own ended run
_LIVE = frozenset({"RUNNING", "SCHEDULED"})


def build_tracking_store(store_uri: str, artifact_uri: str | None = None) -> GuardedTrackingStore:
    """``cv-guard-sqlite:///x.db`` → the guarded tracking store on ``sqlite:///x.db``."""
    from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH

    from mlflow_cv._mlflow import SERVER_ARTIFACT_ROOT_ENV_VAR

    if not store_uri.startswith(GUARD_SCHEME):
        raise refuse(f"{store_uri!r}: expected {GUARD_SCHEME}<sqlalchemy URI>")
    root = artifact_uri or os.environ.get(SERVER_ARTIFACT_ROOT_ENV_VAR, DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH)
    return GuardedTrackingStore(store_uri.removeprefix(GUARD_SCHEME), root)


class GuardedTrackingStore(SqlAlchemyStore):
    """SqlAlchemyStore whose writes keep a run's record what it was when the run ended (module doc)."""

    def _status(self, run_id: str) -> str:
        return str(self.get_run(run_id).info.status)

    def _check_tags(self, run_id: str, keys: Iterable[tuple[str, str]]) -> None:
        mine = [(k, v) for k, v in keys if ours(k)]
        if not mine:
            return
        run = self.get_run(run_id)
        live = run.info.status in _LIVE
        for key, value in mine:
            current = run.data.tags.get(key)
            if current is not None and current != value:
                raise refuse(f"{key} of run {run_id} is set once and never changed")
            if current is None and not live and key not in _AFTER_THE_END:
                raise refuse(f"{key} cannot be added to run {run_id} after it ended ({run.info.status})")

    def _check_live(self, run_id: str, what: str) -> None:
        status = self._status(run_id)
        if status not in _LIVE:
            raise refuse(f"run {run_id} has ended ({status}); its {what} are frozen")

    def set_tag(self, run_id: str, tag: Any) -> None:
        if not ours(tag.key):
            super().set_tag(run_id, tag)
            return
        with serialized(self, f"run:{run_id}"):
            self._check_tags(run_id, [(tag.key, tag.value)])
            super().set_tag(run_id, tag)

    def delete_tag(self, run_id: str, key: str) -> None:
        if ours(key):
            raise refuse(f"{key} of run {run_id} cannot be deleted")
        super().delete_tag(run_id, key)

    def log_metric(self, run_id: str, metric: Any) -> None:
        self._check_live(run_id, "metrics")
        super().log_metric(run_id, metric)

    def log_param(self, run_id: str, param: Any) -> None:
        self._check_live(run_id, "params")
        super().log_param(run_id, param)

    def log_batch(self, run_id: str, metrics: Any, params: Any, tags: Any) -> None:
        if metrics or params:
            self._check_live(run_id, "metrics and params")
        if not any(ours(t.key) for t in tags or ()):
            super().log_batch(run_id, metrics, params, tags)
            return
        with serialized(self, f"run:{run_id}"):
            self._check_tags(run_id, [(t.key, t.value) for t in tags])
            super().log_batch(run_id, metrics, params, tags)

    def update_run_info(self, run_id: str, run_status: Any, end_time: Any, run_name: Any) -> Any:
        if run_status is not None and RunStatus.to_string(run_status) in _LIVE:
            status = self._status(run_id)
            if status not in _LIVE:
                raise refuse(f"run {run_id} has ended ({status}) and cannot run again")
        return super().update_run_info(run_id, run_status, end_time, run_name)

    def delete_run(self, run_id: str) -> None:
        with serialized(self, f"run:{run_id}"):  # the registry guard creates versions of a run under it too
            with self.ManagedSessionMaker() as session:
                versions = (
                    session.query(SqlModelVersion)
                    .filter(SqlModelVersion.run_id == run_id, SqlModelVersion.current_stage != STAGE_DELETED_INTERNAL)
                    .all()
                )
                backing = sorted(f"{v.name} version {v.version}" for v in versions)
            if backing:
                raise refuse(f"run {run_id} backs {', '.join(backing)}; it cannot be deleted")
            super().delete_run(run_id)
