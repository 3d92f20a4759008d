"""What the command groups of the CLI share: the group that turns library errors into clean messages, the
common options (``--project``, ``--tracking-uri``, ``--json``, ``--remote``), JSON output, and the MLflow
client a command's options name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

import mlflow_cv as cv  # the public API: each name loads on first use, so a command imports what it needs

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlflow import MlflowClient

__all__ = ["Group", "json_option", "mlflow_client", "print_json", "project_option", "remote_option", "store_options"]


class Group(click.Group):
    """Turns library errors into one clean message, with the problems behind it, instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except cv.MlflowCvError as exc:
            click.echo(f"error: {exc}", err=True)  # str(): the message, then one line per problem
            ctx.exit(1 if isinstance(exc, cv.GateError) else 2)


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout (what ``--json`` prints)."""
    import json

    click.echo(json.dumps(data, indent=2, default=str))


def mlflow_client(tracking_uri: str | None, project: cv.Project) -> MlflowClient:
    """The MLflow client for ``--tracking-uri`` (else ``$MLFLOW_TRACKING_URI``, else the project's store)."""
    chosen: MlflowClient = cv.registry_client(tracking_uri, project_root=project.root)
    return chosen


project_option = click.option(
    "--project",
    type=click.Path(file_okay=False),
    callback=lambda _ctx, _param, path: cv.Project.at(path),
    help="Project folder holding data/manifests and conf/ (default: $MLFLOW_CV_PROJECT or the current folder).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table or text.")
remote_option = click.option("--remote", help="Artifact URI; default: the project's remote (mlflow-cv data remote).")


def store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--tracking-uri`` and ``--project``, for the commands that read MLflow."""
    tracking = click.option("--tracking-uri", help="Default: $MLFLOW_TRACKING_URI, else <project>/mlflow.db.")
    return tracking(project_option(command))
