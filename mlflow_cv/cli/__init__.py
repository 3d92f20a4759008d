"""The ``mlflow-cv`` command line: each command calls one library function and prints what it returns.

A thin client of the public API (``import mlflow_cv as cv``; ``tests/test_public_api.py`` fails on any other
import of the package), one module per command group: :mod:`.data` (``data …``), :mod:`.model` (``model …``),
:mod:`.runs` (``preflight``, ``compare``, ``runs …``), :mod:`.evaluate` (``evaluate``), :mod:`.audit`
(``diff``, ``reproduce``, ``triage``), :mod:`.project` (``init``, ``ui``); :mod:`.common` holds what they share.

Results render themselves (``cv.show``), or ``--json`` prints their ``to_dict()``; long calls report their
own progress on stderr. Here, and only here, a :class:`~mlflow_cv.errors.MlflowCvError` becomes ``error: …``
with its problems and exit status 2 (a :class:`~mlflow_cv.errors.GateError`: 1). Exit 1 also on drift
(``data verify``), a failed check (``preflight``, a ``--dry-run`` promotion) or a run not reproduced
(``reproduce``).
"""

from __future__ import annotations

import os

import click

import mlflow_cv as cv
from mlflow_cv.cli import audit, data, evaluate, model, project, runs
from mlflow_cv.cli.common import Group

__all__ = ["cli", "main"]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(cv.__version__, prog_name="mlflow-cv")
def cli() -> None:
    """Reproducible computer-vision training on MLflow.

    \b
    Example: mlflow-cv data snapshot examples/shapes/data --id DS-1.0.0
    """
    # MLflow's download bars would land in the middle of tables and --json output; set it to true to see them
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


for _command in (
    project.init_cmd,
    data.data,
    runs.preflight,
    runs.compare,
    project.ui,
    runs.runs,
    model.model,
    audit.diff,
    audit.reproduce_cmd,
    evaluate.evaluate_cmd,
    audit.triage_cmd,
):
    cli.add_command(_command)


def main() -> None:
    cli()
