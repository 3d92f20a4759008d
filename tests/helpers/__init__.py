"""Plain helpers shared by the tests: functions, classes and constants, no fixtures.

Fixtures live in ``tests/conftest.py``; test modules import helpers from here, never from conftest or
from another test module.

- ``data``          the synthetic shapes dataset (each stage generated once a session) and tiny YOLO folders
- ``projects``      a user's training project: ``train.py``, ``conf/`` and snapshots, committed; running it
- ``servers``       ``mlflow server`` / ``mlflow models serve`` in a subprocess, free ports
- ``registry``      runs with a training's lineage for the registry tests
- ``writer_calls``  functions the writer process runs (imported there by module name)
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
