"""MLflow's own SQLAlchemy store test suites (registry, and tracking's runs file) against the guarded
stores: every test that fails only with the guard must be a deliberate rule, listed and explained in
tests/mlflow_suites/ (none is, at present). The runner and its results: tests/mlflow_suites/README.md."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO


@pytest.mark.slow  # some 2 minutes: both suites, once on MLflow's stores and once on the guarded ones
def test_mlflow_store_suites_differ_only_where_a_rule_says_so() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "mlflow_store_suites.py")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "registry" in done.stdout and "tracking" in done.stdout, done.stdout
