"""``mlflow-cv model …``: registered models (register, promote, rollback, policy, history); each command calls
one public-API function with the client its options name, and shows the result."""

from __future__ import annotations

import sys

import click

import mlflow_cv as cv
from mlflow_cv.cli.common import Group, json_option, mlflow_client, print_json, store_options

__all__ = ["model"]


@click.group(cls=Group)
def model() -> None:
    """Registered models: semantic versions, gated promotion through aliases, history, rollback.

    \b
    Example: mlflow-cv model register 3f2a9c1b… --name shapes-detector
    """


@model.command("register")
@click.argument("run_id")
@click.option("--name", required=True, help="Registered model name.")
@click.option(
    "--bump",
    type=click.Choice(["auto", "major", "minor", "patch"]),
    default="auto",
    show_default=True,
    help="auto: the bump the lineage requires; a smaller one is refused.",
)
@click.option("--version", "version", help="Declare the semver (X.Y.Z) instead of bumping.")
@store_options
def model_register(
    run_id: str, name: str, bump: str, version: str | None, tracking_uri: str | None, project: cv.Project
) -> None:
    """Register a training run's model with the semantic version its lineage requires (DESIGN §4).

    \b
    Example: mlflow-cv model register 3f2a9c1b… --name shapes-detector
    """
    cv.show(
        cv.register(
            mlflow_client(tracking_uri, project),
            run_id,
            name=name,
            bump=cv.Bump.choice(bump),
            version=version,
            project=project,
        )
    )


def _moved(promotion: cv.Promotion) -> None:
    cv.show(promotion)
    if promotion.dry_run and promotion.refused:
        sys.exit(1)


@model.command("promote")
@click.argument("name")
@click.argument("semver")
@click.option("--to", "alias", required=True, help="The alias to move, e.g. production or staging.")
@click.option("--why", default="", help="Recorded in the history.")
@click.option("--dry-run", is_flag=True, help="Show the verdict of every gate; move nothing.")
@store_options
def model_promote(
    name: str, semver: str, alias: str, why: str, dry_run: bool, tracking_uri: str | None, project: cv.Project
) -> None:
    """Move an alias to a version (by semver) when every gate passes. Exits 1 when a gate fails.

    \b
    Example: mlflow-cv model promote shapes-detector 1.1.0 --to production --why "better on night images"
    """
    _moved(
        cv.promote(
            mlflow_client(tracking_uri, project), name, semver, alias=alias, why=why, dry_run=dry_run, project=project
        )
    )


@model.command("rollback")
@click.argument("name")
@click.option("--alias", required=True, help="The alias to move back, e.g. production.")
@click.option("--why", default="", help="Recorded in the history.")
@click.option("--dry-run", is_flag=True, help="Show where it would go; move nothing.")
@store_options
def model_rollback(
    name: str, alias: str, why: str, dry_run: bool, tracking_uri: str | None, project: cv.Project
) -> None:
    """Move an alias back to the version that held it before the current one.

    \b
    Example: mlflow-cv model rollback shapes-detector --alias production --why "regressed on night images"
    """
    _moved(cv.rollback(mlflow_client(tracking_uri, project), name, alias=alias, why=why, dry_run=dry_run))


@model.command("policy")
@click.argument("name")
@click.option("--set", "new", help="JSON to store as the policy, e.g. '{\"tolerance\": 0.02}'.")
@click.option("--allow-loosen", is_flag=True, help="Allow a policy looser than the current one (recorded).")
@click.option("--why", default="", help="Recorded in the history.")
@store_options
def model_policy(
    name: str, new: str | None, allow_loosen: bool, why: str, tracking_uri: str | None, project: cv.Project
) -> None:
    """Show (or set) a registered model's policy, as JSON: tolerance, protected aliases, gates, metrics,
    who checks artifacts. A looser policy (higher tolerance, a gate, alias or metric fewer) needs
    --allow-loosen; every change is in the history.

    \b
    Examples:
      mlflow-cv model policy shapes-detector
      mlflow-cv model policy shapes-detector --set '{"tolerance": 0.005}' --why "tighter for v2"
      mlflow-cv model policy shapes-detector --set '{"tolerance": 0.02}' --allow-loosen --why "noisy val set"
    """
    client = mlflow_client(tracking_uri, project)
    if new is None:
        return cv.show(cv.policy(client, name))
    cv.show(cv.set_policy(client, name, new, allow_loosen=allow_loosen, why=why))


@model.command("history")
@click.argument("name")
@json_option
@store_options
def model_history(name: str, as_json: bool, tracking_uri: str | None, project: cv.Project) -> None:
    """Every alias move and policy change of a registered model: when, who, from, to, why, gate results.

    \b
    Example: mlflow-cv model history shapes-detector
    """
    events = cv.history(mlflow_client(tracking_uri, project), name)
    print_json(events.to_list()) if as_json else cv.show(events)
