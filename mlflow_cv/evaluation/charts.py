"""The charts of an evaluation run (PNG artifacts): AP (or accuracy) per class, and mAP (or top-1
accuracy) per slice, with the whole split beside the slices. Drawn with matplotlib (Agg: no screen)
from the metrics already computed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlflow_cv.tags import EVAL_HEAD, EVAL_SLICE_HEAD, sliced_metric

__all__ = ["CHARTS", "charts"]

CHARTS = ("charts/per_class.png", "charts/per_slice.png")


def charts(metrics: Mapping[str, float], *, title: str) -> dict[str, Any]:
    """Artifact path → matplotlib figure, for the charts these metrics can fill (a snapshot without
    attributes has no slice chart)."""
    per_class = _bars(metrics, EVAL_HEAD, ("AP50", "AP50-95", "accuracy"), per="/")
    slices = sorted({piece for piece, inner in map(sliced_metric, metrics) if piece and inner.startswith(EVAL_HEAD)})
    heads = ("mAP50", "mAP50-95", "accuracy_top1")
    per_slice = {"all": {m: metrics[EVAL_HEAD + m] for m in heads if EVAL_HEAD + m in metrics}}
    for piece in slices:
        per_slice[piece] = {
            m: metrics[f"{EVAL_SLICE_HEAD}{piece}/{m}"] for m in heads if f"{EVAL_SLICE_HEAD}{piece}/{m}" in metrics
        }
    out = {}
    if per_class:
        out[CHARTS[0]] = _figure(per_class, f"{title}: per class", "class")
    if slices:
        out[CHARTS[1]] = _figure(per_slice, f"{title}: per slice", "slice")
    return out


def _bars(
    metrics: Mapping[str, float], head: str, families: tuple[str, ...], *, per: str
) -> dict[str, dict[str, float]]:
    """{class: {family: value}} of ``<head><family>/<class>`` metrics (box metrics, not mask or pose)."""
    out: dict[str, dict[str, float]] = {}
    for family in families:
        prefix = f"{head}{family}{per}"
        for key, value in metrics.items():
            if key.startswith(prefix) and "/" not in key.removeprefix(prefix):
                out.setdefault(key.removeprefix(prefix), {})[family] = float(value)
    return dict(sorted(out.items()))


def _figure(groups: Mapping[str, Mapping[str, float]], title: str, xlabel: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    families = sorted({f for values in groups.values() for f in values})
    fig = Figure(figsize=(max(4.0, 1.1 * len(groups) + 2), 3.2), dpi=100)
    ax = fig.add_subplot()
    width = 0.8 / max(len(families), 1)
    for n, family in enumerate(families):
        xs = [i + n * width for i in range(len(groups))]
        ax.bar(xs, [values.get(family, 0.0) for values in groups.values()], width, label=family)
    ax.set_xticks([i + width * (len(families) - 1) / 2 for i in range(len(groups))], list(groups), rotation=20)
    ax.set_ylim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
