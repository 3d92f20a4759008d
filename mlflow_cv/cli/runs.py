"""Training runs: ``mlflow-cv preflight`` (the checks of a training, without it), ``mlflow-cv compare``
(runs side by side) and ``mlflow-cv runs doctor`` (runs left RUNNING by trainings now gone)."""

from __future__ import annotations

import sys

import click

import mlflow_cv as cv
from mlflow_cv.cli.common import Group, json_option, mlflow_client, print_json, project_option, store_options

__all__ = ["compare", "preflight", "runs"]


@click.command("preflight", context_settings={"ignore_unknown_options": True})
@click.argument("overrides", nargs=-1)
@project_option
def preflight(overrides: tuple[str, ...], project: cv.Project) -> None:
    """Run train.py's preflight checks for Hydra OVERRIDES, without training. Exits 1 when one fails.

    \b
    Example: mlflow-cv preflight data=DS-1.1.1 model=yolo
    """
    report = cv.preflight_job(cv.compose_job(project.root, overrides), project=project, show_progress=True)
    click.echo(report.table())
    if not report.passed:
        click.echo(f"refused: {len(report.failed)} check(s) failed", err=True)
        sys.exit(1)


@click.command("compare")
@click.argument("run_ids", nargs=-1)
@click.option("--experiment", help="Compare the latest finished runs of this experiment instead.")
@click.option("--last", default=2, show_default=True, help="How many runs --experiment compares.")
@json_option
@store_options
def compare(
    run_ids: tuple[str, ...],
    experiment: str | None,
    last: int,
    tracking_uri: str | None,
    as_json: bool,
    project: cv.Project,
) -> None:
    """Runs side by side: snapshot, commit, config id, the params that differ, final metrics.

    \b
    Examples:
      mlflow-cv compare 3f2a9c1b… 8e41d0aa…
      mlflow-cv compare --experiment shapes-demo --last 2
    """
    result = cv.compare_runs(mlflow_client(tracking_uri, project), run_ids, experiment=experiment, last=last)
    print_json(result.to_dict()) if as_json else cv.show(result)


@click.group(cls=Group)
def runs() -> None:
    """Training runs in MLflow.

    \b
    Example: mlflow-cv runs doctor
    """


@runs.command("doctor")
@click.option("--tracking-uri", help="Only runs in this tracking store (default: each run's own, as recorded).")
@project_option
def runs_doctor(tracking_uri: str | None, project: cv.Project) -> None:
    """End, as KILLED, the runs left RUNNING by trainings whose processes are gone (kill -9, OOM, reboot).

    Runs whose training still lives, or ran on another host, are left alone. Every training does this as it starts.

    \b
    Example: mlflow-cv runs doctor --project examples/shapes
    """
    cv.show(cv.end_orphaned_runs(project, tracking_uri=tracking_uri))
