"""The lineage every training run carries: DESIGN §3's ``cv.*`` tags and MLflow's own source tags.

:class:`Lineage` is the record, built once by :meth:`Lineage.pinned` from what the preflight pinned and the
job's own part (:class:`JobPin`); :func:`active_lineage` makes it the current one, and
:class:`LineageRunContext` (registered through the ``mlflow.run_context_provider`` entry point) hands
its tags to every ``mlflow.start_run`` made while it is active, so a nested run, or any other code that
starts a run inside the training job, carries the same lineage.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from mlflow_cv.tags import (
    DIRTY_FALSE,
    DIRTY_TRUE,
    NO_SEED,
    TAG_COMMIT,
    TAG_CONFIG_ID,
    TAG_CONFIG_SHA256,
    TAG_DIRTY,
    TAG_HPARAMS_SHA256,
    TAG_INIT_WEIGHTS_SHA256,
    TAG_MANIFEST_SHA256,
    TAG_PREFLIGHT,
    TAG_SNAPSHOT,
    TAG_SPLIT_SEED,
    TAG_TRAIN_SEED,
)

if TYPE_CHECKING:
    from mlflow_cv.data.manifest import Manifest
    from mlflow_cv.tracking.git import GitState

__all__ = [
    "JobPin",
    "Lineage",
    "LineageRunContext",
    "active_lineage",
]

CONFIG_ID_LENGTH = 12


@dataclass(frozen=True)
class JobPin:
    """The job's own part of a lineage, worked out by the config layer (:func:`mlflow_cv.config.job_pin`)
    from the job as it trains: its config hashes, the seed it trains with and the entry point running it."""

    config_sha256: str
    hparams_sha256: str
    train_seed: int | None
    source_name: str  # absolute path of the entry point (train.py)


@dataclass(frozen=True)
class Lineage:
    """What pins a run before it starts: data, code, config and the preflight verdict."""

    snapshot_id: str
    manifest_sha256: str
    split_seed: int | None
    commit: str
    dirty: bool
    config_sha256: str
    train_seed: int | None
    preflight: str  # "passed" or "overridden: <reasons>"
    source_name: str  # absolute path of the entry point (train.py)
    branch: str | None = None
    remote_url: str | None = None
    init_weights_sha256: str | None = None
    hparams_sha256: str | None = None

    @classmethod
    def pinned(
        cls, job: JobPin, *, manifest: Manifest, git: GitState, verdict: str, init_weights_sha256: str | None
    ) -> Lineage:
        """The lineage of a run the preflight passed: ``job`` on ``manifest`` at the ``git`` state it found,
        with its ``verdict`` (``cv.preflight``) and the hash of the initial weights, if any."""
        return cls(
            **asdict(job),  # config hashes, seed, entry point: the names are the lineage's
            snapshot_id=manifest.snapshot_id,
            manifest_sha256=manifest.sha256,
            split_seed=manifest.split.seed,
            preflight=verdict,
            commit=git.commit,
            dirty=git.dirty,
            branch=git.branch,
            remote_url=git.remote_url,
            init_weights_sha256=init_weights_sha256,
        )

    @property
    def config_id(self) -> str:
        return self.config_sha256[:CONFIG_ID_LENGTH]

    def tags(self) -> dict[str, str]:
        tags = {
            TAG_SNAPSHOT: self.snapshot_id,
            TAG_MANIFEST_SHA256: self.manifest_sha256,
            TAG_SPLIT_SEED: NO_SEED if self.split_seed is None else str(self.split_seed),
            TAG_COMMIT: self.commit,
            TAG_DIRTY: DIRTY_TRUE if self.dirty else DIRTY_FALSE,
            TAG_CONFIG_ID: self.config_id,
            TAG_CONFIG_SHA256: self.config_sha256,
            TAG_TRAIN_SEED: NO_SEED if self.train_seed is None else str(self.train_seed),
            TAG_PREFLIGHT: self.preflight,
            # MLflow's own source tags, set here because its git provider resolves them from a relative
            # argv[0], which breaks when Hydra changes directory.
            "mlflow.source.git.commit": self.commit,
            "mlflow.source.name": self.source_name,
            "mlflow.source.type": "LOCAL",
        }
        if self.branch:
            tags["mlflow.source.git.branch"] = self.branch
        if self.remote_url:
            tags["mlflow.source.git.repoURL"] = self.remote_url
        if self.hparams_sha256:
            tags[TAG_HPARAMS_SHA256] = self.hparams_sha256
        if self.init_weights_sha256:
            tags[TAG_INIT_WEIGHTS_SHA256] = self.init_weights_sha256
        return tags


_ACTIVE: ContextVar[Lineage | None] = ContextVar("mlflow_cv_lineage", default=None)


@contextmanager
def active_lineage(lineage: Lineage) -> Iterator[Lineage]:
    """Make ``lineage`` the one every ``mlflow.start_run`` inside the block is tagged with."""
    token = _ACTIVE.set(lineage)
    try:
        yield lineage
    finally:
        _ACTIVE.reset(token)


class LineageRunContext:
    """MLflow run context provider (entry point ``mlflow.run_context_provider``): the active lineage.

    It implements MLflow's ``RunContextProvider`` interface without subclassing it, so that MLflow can
    load it while this module is being imported (MLflow loads providers when it is first imported).
    """

    def in_context(self) -> bool:
        return _ACTIVE.get() is not None

    def tags(self) -> dict[str, str]:
        lineage = _ACTIVE.get()
        return lineage.tags() if lineage is not None else {}
