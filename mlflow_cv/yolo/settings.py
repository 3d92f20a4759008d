"""Ultralytics as installed: its settings file, its integrations switched off, its logger, its version.

Ultralytics is imported inside functions (it pulls in torch) after :func:`configure_ultralytics` has
pointed ``YOLO_CONFIG_DIR`` at the project, so its integrations (its own MLflow callback first of all,
DESIGN §6) are switched off in a project-local settings file and the user's global one is not touched.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["configure_ultralytics", "quiet", "strip_foreign_callbacks", "ultralytics_version"]

# Integrations that would log elsewhere or call home; all off (we do the logging).
_INTEGRATIONS = ("clearml", "comet", "dvc", "mlflow", "neptune", "raytune", "tensorboard", "wandb", "sync")


def configure_ultralytics(config_dir: Path) -> None:
    """Keep Ultralytics' settings in ``config_dir`` with every integration off; call before training."""
    if "ultralytics" not in sys.modules:
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    from ultralytics.utils import SETTINGS, USER_CONFIG_DIR

    if Path(USER_CONFIG_DIR).resolve().is_relative_to(config_dir.resolve()):
        wanted = {key: False for key in _INTEGRATIONS if key in SETTINGS and SETTINGS[key] is not False}
        if wanted:
            SETTINGS.update(wanted)  # type: ignore[no-untyped-call]
    # else Ultralytics was imported earlier with the user's own config dir: leave their file alone, and
    # rely on strip_foreign_callbacks() to keep its MLflow callback out of our runs.


def strip_foreign_callbacks(trainer: Any) -> None:
    """Drop integration callbacks (MLflow, W&B, …) that Ultralytics' settings may still have added."""
    for event, funcs in trainer.callbacks.items():
        trainer.callbacks[event] = [
            f
            for f in funcs
            if not getattr(f, "__module__", "").startswith("ultralytics.utils.callbacks.")
            or getattr(f, "__module__", "").endswith(".base")
        ]


@contextmanager
def quiet() -> Iterator[None]:
    """Ultralytics says only warnings while the block runs (its progress bars follow its logger's level)."""
    from ultralytics.utils import LOGGER

    before = LOGGER.level
    LOGGER.setLevel(logging.WARNING)
    try:
        yield
    finally:
        LOGGER.setLevel(before)


def ultralytics_version() -> str:
    """The installed Ultralytics' version (what a saved model records it was packaged with)."""
    import ultralytics

    return str(ultralytics.__version__)
