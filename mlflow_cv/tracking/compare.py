"""Runs side by side, read back from MLflow: lineage tags, the parameters that differ, final metrics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlflow_cv.errors import TrackingError
from mlflow_cv.tags import (
    TAG_COMMIT,
    TAG_CONFIG_ID,
    TAG_DIRTY,
    TAG_MANIFEST_SHA256,
    TAG_PREFLIGHT,
    TAG_SNAPSHOT,
    TAG_WEIGHTS_DIGEST,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from rich.console import RenderableType

__all__ = ["Comparison", "compare_runs", "latest_runs"]

_TAGS = (
    ("snapshot", TAG_SNAPSHOT, None),
    ("manifest", TAG_MANIFEST_SHA256, 12),
    ("commit", TAG_COMMIT, 12),
    ("dirty", TAG_DIRTY, None),
    ("config id", TAG_CONFIG_ID, None),
    ("preflight", TAG_PREFLIGHT, 40),
    ("weights digest", TAG_WEIGHTS_DIGEST, 12),
)
_SKIP_METRICS = ("lr/", "train/")


@dataclass(frozen=True)
class Comparison:
    run_ids: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]  # (label, one value per run)

    def __rich__(self) -> RenderableType:
        from mlflow_cv.render import add_row, table

        grid = table("", *(r[:8] for r in self.run_ids))
        for label, values in self.rows:
            add_row(grid, label, *values)
        return grid

    def to_dict(self) -> dict[str, Any]:
        return {"runs": list(self.run_ids), "rows": {label: list(values) for label, values in self.rows}}


def compare_runs(
    client: MlflowClient, run_ids: Sequence[str] = (), *, experiment: str | None = None, last: int = 2
) -> Comparison:
    """Lineage tags, every parameter that differs between the runs, and every final val metric.

    With ``experiment``, its ``last`` finished runs are compared too (after ``run_ids``)."""
    from mlflow.exceptions import MlflowException

    if experiment:
        run_ids = (*run_ids, *latest_runs(client, experiment, last))
    if not run_ids:
        raise TrackingError("no runs to compare: give run ids or an experiment (--experiment NAME)")
    try:
        runs = [client.get_run(r) for r in run_ids]
    except MlflowException as exc:
        raise TrackingError(f"cannot read the runs: {exc.message}") from exc
    rows: list[tuple[str, tuple[str, ...]]] = []
    for label, key, width in _TAGS:
        rows.append((label, tuple(r.data.tags.get(key, "-")[:width] for r in runs)))
    params = sorted({k for r in runs for k in r.data.params if not k.startswith("data.")})  # data: the tags above
    for key in params:
        values = tuple(r.data.params.get(key, "-") for r in runs)
        if len(set(values)) > 1:
            rows.append((key, values))
    metrics = sorted({k for r in runs for k in r.data.metrics if not k.startswith(_SKIP_METRICS)})
    for key in metrics:
        rows.append((key, tuple(_fmt(r.data.metrics.get(key)) for r in runs)))
    return Comparison(run_ids=tuple(r.info.run_id for r in runs), rows=tuple(rows))


def latest_runs(client: Any, experiment: str, count: int) -> list[str]:
    """The ids of the ``count`` most recent finished runs of ``experiment``, oldest first."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise TrackingError(f"no experiment named {experiment!r} in this tracking store")
    runs = client.search_runs(
        [found.experiment_id],
        filter_string="attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=count,
    )
    return [r.info.run_id for r in reversed(runs)]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
