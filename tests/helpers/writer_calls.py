"""Module-level functions for tests/test_writer.py to run in the writer process (pickled by reference,
so the writer imports this module by its name, ``tests.helpers.writer_calls``)."""

from __future__ import annotations

import os

from mlflow_cv.errors import TrainingError


def echo(value: object) -> object:
    return value


def pid() -> int:
    return os.getpid()


def fail_foreign() -> None:
    raise ValueError("not an mlflow-cv error")


def fail_ours() -> None:
    raise TrainingError("an mlflow-cv error, kept as it is")


def die() -> None:
    os._exit(3)


def start_run(tracking_uri: str) -> str:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    return str(mlflow.start_run().info.run_id)


def sleep_then(value: object, seconds: float) -> object:
    import time

    time.sleep(seconds)
    return value
