"""Reading back what happened: ``mlflow-cv diff`` (two runs or versions), ``mlflow-cv reproduce`` (a run rebuilt
from its tags) and ``mlflow-cv triage`` (a regression, step by step)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

import mlflow_cv as cv
from mlflow_cv.cli.common import json_option, mlflow_client, print_json, store_options

__all__ = ["diff", "reproduce_cmd", "triage_cmd"]


@click.command("diff")
@click.argument("a")
@click.argument("b")
@click.option("--model", help="Registered model, when A or B is a bare semantic version (1.4.2).")
@click.option("--tolerance", type=float, help="Override the policy's tolerance (default: B's model policy).")
@click.option("--no-evaluate", is_flag=True, help="Use recorded evaluations only; evaluate nothing now.")
@json_option
@store_options
def diff(
    a: str,
    b: str,
    model: str | None,
    tolerance: float | None,
    no_evaluate: bool,
    as_json: bool,
    tracking_uri: str | None,
    project: cv.Project,
) -> None:
    """What changed from A to B (run ids, models:/NAME/VERSION, NAME@ALIAS): code, data, config, and both
    models on the same gate data, compared as the metrics gate compares them.

    \b
    Examples:
      mlflow-cv diff models:/shapes-detector/1 shapes-detector@production
      mlflow-cv diff 1.4.2 1.5.0 --model shapes-detector --json
    """
    result = cv.diff_runs(
        mlflow_client(tracking_uri, project),
        a,
        b,
        project=project,
        model=model,
        tolerance=tolerance,
        evaluate=not no_evaluate,
    )
    print_json(result.to_dict()) if as_json else cv.show(result)


@click.command("reproduce")
@click.argument("ref")
@click.option("--model", help="Registered model, when REF is a bare semantic version.")
@click.option("--tolerance", type=float, help="Compare metrics within this instead of requiring equal weights.")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), help="Keep the re-run's outputs here.")
@store_options
def reproduce_cmd(
    ref: str,
    model: str | None,
    tolerance: float | None,
    keep: Path | None,
    tracking_uri: str | None,
    project: cv.Project,
) -> None:
    """Rebuild a run from its tags alone (commit, snapshot, config) and prove it matches. Exit 1 if not.

    \b
    Example: mlflow-cv reproduce models:/shapes-detector@production --tolerance 0.02
    """
    client = mlflow_client(tracking_uri, project)
    result = cv.reproduce(client, ref, project=project, model=model, tolerance=tolerance, keep=keep)
    cv.show(result)
    if not result.passed:
        sys.exit(1)


@click.command("triage")
@click.argument("name")
@click.option("--alias", default="production", show_default=True, help="The alias whose holder is triaged.")
@click.option("--against", help="Compare with this version (X.Y.Z); default: the alias's previous holder.")
@click.option("--rollback", "do_rollback", is_flag=True, help="Also roll the alias back (through the gates).")
@click.option("--why", default="", help="Recorded in the history with --rollback.")
@json_option
@store_options
def triage_cmd(
    name: str,
    alias: str,
    against: str | None,
    do_rollback: bool,
    why: str,
    as_json: bool,
    tracking_uri: str | None,
    project: cv.Project,
) -> None:
    """A regression in five steps: what changed (code, data, config, processing), both versions on the
    same pinned data, the deltas overall, per class and per slice (the regressed slice named), whether
    it is a legal PATCH, and the rollback command (--rollback runs it).

    \b
    Examples:
      mlflow-cv triage shapes-detector
      mlflow-cv triage shapes-detector --alias staging --against 1.0.0 --json
      mlflow-cv triage shapes-detector --rollback --why "night-time recall dropped"
    """
    result = cv.triage(
        mlflow_client(tracking_uri, project),
        name,
        alias=alias,
        against=against,
        project=project,
        rollback=do_rollback,
        why=why,
    )
    print_json(result.to_dict()) if as_json else cv.show(result)
