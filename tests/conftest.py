from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mlflow_cv.data.snapshots import Project

REPO = Path(__file__).resolve().parents[1]


def _load_generator():  # the example generator is a script, not part of the package
    spec = importlib.util.spec_from_file_location("shapes_generate", REPO / "examples" / "shapes" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["shapes_generate"] = module
    spec.loader.exec_module(module)
    return module


shapes = _load_generator()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(root=tmp_path / "project")


@pytest.fixture
def shapes_dir(tmp_path: Path) -> Callable[[str], Path]:
    """Bring a shapes dataset folder to a stage of the guide's Example 1 and return it."""
    dest = tmp_path / "shapes"

    def make(stage: str = "1.0.0") -> Path:
        shapes.generate(dest, stage=stage)
        return dest

    return make


def write_yolo(
    root: Path, labels: dict[str, str], *, names: tuple[str, ...] = ("a", "b"), images: tuple[str, ...] = ()
) -> Path:
    """A tiny YOLO dataset: ``labels`` maps item → label text; an image is written for each item."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text("names: [" + ", ".join(names) + "]\n")
    for item in [*labels, *images]:
        path = root / "images" / f"{item}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8 fake jpeg " + item.encode())
    for item, text in labels.items():
        path = root / "labels" / f"{item}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
