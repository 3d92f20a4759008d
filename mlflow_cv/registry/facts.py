"""A model version as the registry's rules see it: one frozen value, built where MLflow hands one over.

:class:`VersionFacts` holds what the gates, the bump rules and the gate data read of a version (its
tags, its gate metrics, its run, its number, how messages name it), whoever read it:

- :meth:`VersionFacts.of_model_version`: a ``ModelVersion`` from an ``MlflowClient`` (the client side);
- :meth:`VersionFacts.registered`: the fields the guard store reads from its database (the server side);
- :meth:`VersionFacts.of_run`: a run not registered (yet): no number, and so no evaluation record.

Nothing here calls MLflow: the rules stay pure, and the client and the guard reach the same verdicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlflow_cv.semver import Version
from mlflow_cv.tags import TAG_METRICS, TAG_SEMVER

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

__all__ = ["VersionFacts"]


@dataclass(frozen=True)
class VersionFacts:
    """What the rules know of a version (or a run about to become one): tags and gate metrics, and where
    it lives: the registered model ``name`` and its ``version`` number (None for a run), its ``run_id``
    and ``source`` (what ``models:/NAME/VERSION`` serves)."""

    tags: Mapping[str, str]
    metrics: Mapping[str, float] = field(default_factory=dict)
    label: str = ""  # how messages name it, e.g. "v1.4.2 (#3)" or "run 3f2a…"
    name: str = ""
    version: str | None = None
    run_id: str | None = None
    source: str = ""

    @property
    def semver(self) -> Version | None:
        text = self.tags.get(TAG_SEMVER)
        return Version.parse(text) if text else None

    @classmethod
    def registered(
        cls,
        *,
        name: str,
        version: str | int,
        run_id: str | None,
        source: str,
        tags: Mapping[str, str],
        label: str | None = None,
    ) -> VersionFacts:
        """A registered version from its fields: its gate metrics are its ``cv.metrics`` (none when that
        does not parse), its label ``v<semver> (#<number>)`` unless given."""
        tags = dict(tags)
        try:
            metrics = {k: float(v) for k, v in json.loads(tags.get(TAG_METRICS) or "{}").items()}
        except (ValueError, TypeError, AttributeError):
            metrics = {}
        return cls(
            tags=tags,
            metrics=metrics,
            label=label or f"v{tags.get(TAG_SEMVER, '?')} (#{version})",
            name=name,
            version=str(version),
            run_id=run_id,
            source=source,
        )

    @classmethod
    def of_model_version(cls, version: ModelVersion, *, label: str | None = None) -> VersionFacts:
        """The rules' view of a model version an ``MlflowClient`` returned."""
        return cls.registered(
            name=version.name,
            version=version.version,
            run_id=version.run_id,
            source=str(version.source),
            tags=version.tags,
            label=label,
        )

    @classmethod
    def of_run(
        cls, run_id: str, *, tags: Mapping[str, str], metrics: Mapping[str, float] | None = None, label: str = ""
    ) -> VersionFacts:
        """A run not registered (yet): ``tags`` and gate ``metrics`` are the run's; labelled ``run <id[:8]>``
        unless given."""
        return cls(tags=dict(tags), metrics=dict(metrics or {}), label=label or f"run {run_id[:8]}", run_id=run_id)
