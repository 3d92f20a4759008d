"""``mlflow-cv evaluate``: any model on pinned data, overall, per class, per slice, with its latency."""

from __future__ import annotations

import click

import mlflow_cv as cv
from mlflow_cv.cli.common import json_option, mlflow_client, print_json, store_options

__all__ = ["evaluate_cmd"]


@click.command("evaluate")
@click.argument("ref")
@click.option("--data", "snapshot_id", required=True, help="The snapshot to evaluate on, e.g. DS-1.1.1.")
@click.option("--split", type=click.Choice(cv.EVAL_SPLITS), default="val", show_default=True)
@click.option("--slices", "attributes", multiple=True, help="Score this attribute slice by slice (default: every one).")
@click.option("--model", help="Registered model, when REF is a bare semantic version.")
@click.option("--device", default="cpu", show_default=True, help="Where the model runs: cpu, cuda:0, ….")
@json_option
@store_options
def evaluate_cmd(
    ref: str,
    snapshot_id: str,
    split: str,
    attributes: tuple[str, ...],
    model: str | None,
    device: str,
    as_json: bool,
    tracking_uri: str | None,
    project: cv.Project,
) -> None:
    """Evaluate any model on pinned data: overall, per class, per slice, latency; logged as an evaluation
    run (reused when the same weights, data, split and settings were evaluated before). REF is a run id,
    models:/NAME/VERSION, models:/NAME@ALIAS, NAME@ALIAS, or a semver with --model.

    \b
    Examples:
      mlflow-cv evaluate shapes-detector@production --data DS-1.1.1 --split test
      mlflow-cv evaluate 1.0.0 --model shapes-detector --data DS-1.1.1 --slices time_of_day
    """
    client = mlflow_client(tracking_uri, project)
    result = cv.evaluate(
        client,
        ref,
        project=project,
        data=snapshot_id,
        split=split,
        model=model,
        slices=attributes or None,
        device=device,
    )
    print_json(result.to_dict()) if as_json else cv.show(result)
