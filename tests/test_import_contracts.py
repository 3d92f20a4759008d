"""The layer contracts of DESIGN §1 are real: `lint-imports` passes on the tree and fails on a planted
violation (a lower layer importing a higher one inside a function, the client importing the guard)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--no-cache"],
        cwd=root,
        env={"PATH": str(LINT.parent), "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "mlflow_cv", tmp_path / "mlflow_cv", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    out = _lint(_copy(tmp_path))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        (
            "data/hashing.py",
            "from mlflow_cv.registry import client",
            "mlflow_cv.data is not allowed to import mlflow_cv.registry",
        ),
        (
            "tracking/lineage.py",
            "import mlflow_cv.audit.diff",
            "mlflow_cv.tracking is not allowed to import mlflow_cv.audit",
        ),
        (
            "registry/client.py",
            "from mlflow_cv.server import registry_store",
            "mlflow_cv.registry.client -> mlflow_cv.server",
        ),
        ("server/evidence.py", "from mlflow_cv import training", "mlflow_cv.server.evidence -> mlflow_cv.training"),
    ],
)
def test_a_planted_violation_breaks_a_contract(tmp_path: Path, module: str, planted: str, broken: str) -> None:
    root = _copy(tmp_path)
    path = root / "mlflow_cv" / module
    path.write_text(path.read_text() + f"\n\ndef _planted() -> None:\n    {planted}  # noqa\n")
    out = _lint(root)
    assert out.returncode != 0, out.stdout[-3000:]
    assert broken in " ".join(out.stdout.split()), out.stdout[-3000:]
