"""Test datasets: the guide's synthetic shapes stages, generated once a session, and tiny YOLO folders."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path
from types import ModuleType

from tests.helpers import REPO


def _load_generator() -> ModuleType:  # the example generator is a script, not part of the package
    spec = importlib.util.spec_from_file_location("shapes_generate", REPO / "examples" / "shapes" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["shapes_generate"] = module
    spec.loader.exec_module(module)
    return module


shapes = _load_generator()


class ShapeStages:
    """Each stage of the shapes dataset rendered at most once, under ``cache``; tests get copies.

    ``bring(dest, stage)`` does to ``dest`` what ``generate(dest, stage=stage)`` does, without rendering:
    a file whose bytes would not change is left alone (same inode, same mtime), a changed one is
    rewritten through a temp file and a rename, and the files of a later stage are removed. Files the
    generator does not make are left where they are, as the generator leaves them.
    """

    def __init__(self, cache: Path) -> None:
        self.cache = cache

    def tree(self, stage: str) -> Path:
        """The cached folder at ``stage`` (read it, never write it)."""
        if stage not in shapes.STAGES:
            raise ValueError(f"unknown stage {stage!r}: expected one of {shapes.STAGES}")
        tree = self.cache / stage
        if not tree.is_dir():
            partial = self.cache / f".{stage}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            shapes.generate(partial, stage=stage)
            partial.rename(tree)
        return tree

    def bring(self, dest: Path, stage: str) -> int:
        """Bring ``dest`` to ``stage``; return the number of files written or removed (as ``generate``)."""
        tree = self.tree(stage)
        files = sorted(p.relative_to(tree) for p in tree.rglob("*") if p.is_file())
        if not dest.exists():
            shutil.copytree(tree, dest, copy_function=shutil.copyfile)  # fresh bytes, fresh mtimes
            return len(files)
        written = sum(shapes.write_if_changed(dest / rel, (tree / rel).read_bytes()) for rel in files)
        count = sum(1 for rel in files if rel.parts[0] == "images")
        for folder, suffix in (("images", ".jpg"), ("labels", ".txt")):  # files of a later stage
            for index in range(count, shapes.N_TOTAL):
                stale = dest / folder / f"shape_{index:04d}{suffix}"
                if stale.exists():
                    stale.unlink()
                    written += 1
        return written


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


def age_files(root: Path, seconds: float = 5) -> None:
    """Make every file under ``root`` look older than the racy window, as files at rest are."""
    past = time.time() - seconds
    for dirpath, _, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(dirpath, name), (past, past))
