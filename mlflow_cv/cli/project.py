"""The project itself: ``mlflow-cv init`` (start one from the template) and ``mlflow-cv ui`` (the MLflow UI on
its store, through the guards)."""

from __future__ import annotations

from pathlib import Path

import click

import mlflow_cv as cv
from mlflow_cv.cli.common import store_options

__all__ = ["init_cmd", "ui"]


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", help="The project's name in its README (default: the folder's name).")
def init_cmd(directory: Path, name: str | None) -> None:
    """Start a project of your own: train.py, conf/ (Hydra groups), a .gitignore that keeps machine state
    out and the snapshot pins in, a README stub; git init when DIRECTORY is not in a repository yet.
    Refuses to overwrite any file.

    \b
    Example: mlflow-cv init roads && cd roads && mlflow-cv data snapshot ~/exports/roads --id ROADS-1.0.0
    """
    cv.show(cv.init_project(directory, name=name))


@click.command("ui")
@click.option("--port", default=5000, show_default=True, help="Port on 127.0.0.1.")
@store_options
def ui(port: int, tracking_uri: str | None, project: cv.Project) -> None:
    """The MLflow UI on the project's store, through mlflow-cv's guards (plain `mlflow ui` bypasses them).

    \b
    Example:
      mlflow-cv ui --port 5000    # then open http://127.0.0.1:5000
    """
    cv.open_ui(tracking_uri, project_root=project.root, port=port)
