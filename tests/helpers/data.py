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


def load_generator(example: str) -> ModuleType:  # an example's generator is a script, not part of the package
    spec = importlib.util.spec_from_file_location(f"{example}_generate", REPO / "examples" / example / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[f"{example}_generate"] = module
    spec.loader.exec_module(module)
    return module


shapes = load_generator("shapes")


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


def shapes_as_task(tree: Path, dest: Path, task: str, *, limit: int = 120) -> Path:
    """The first ``limit`` shapes images of a stage ``tree`` as a dataset of another task, from the true
    geometry of each shape (its box fixes it): ``segment`` (polygon outlines: a 16-gon, a square, a
    triangle), ``pose`` (3 keypoints per shape: a triangle's vertices, a square's top-left, bottom-left and
    bottom-right corners, a circle's top, left and right), ``classify`` (one crop per shape, a folder
    per class). Every fifth image is night in ``<dest>-attributes.csv`` beside it, as the generator has it."""
    import math

    from PIL import Image

    names = shapes.CLASSES
    rows = ["path,time_of_day"]
    labels = sorted((tree / "labels").glob("*.txt"))[:limit]
    for label in labels:
        index = int(label.stem[-4:])
        night = "night" if shapes.is_night(index) else "day"
        image = Image.open(tree / "images" / f"{label.stem}.jpg")
        lines = []
        for k, line in enumerate(label.read_text().splitlines()):
            cls, cx, cy, w, h = (float(v) for v in line.split())
            x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
            if task == "classify":
                folder = dest / names[int(cls)]
                folder.mkdir(parents=True, exist_ok=True)
                image.crop(tuple(round(v * shapes.SIZE) for v in (x0, y0, x1, y1))).save(
                    folder / f"{label.stem}_{k}.jpg"
                )
                rows.append(f"{names[int(cls)]}/{label.stem}_{k}.jpg,{night}")
                continue
            if task == "segment":
                if int(cls) == 0:
                    points = [
                        (cx + w / 2 * math.cos(a * math.pi / 8), cy + h / 2 * math.sin(a * math.pi / 8))
                        for a in range(16)
                    ]
                elif int(cls) == 1:
                    points = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
                else:
                    points = [(cx, y0), (x0, y1), (x1, y1)]
                lines.append(f"{int(cls)} " + " ".join(f"{x:.6f} {y:.6f}" for x, y in points))
            else:  # pose
                keypoints = {
                    0: [(cx, y0), (x0, cy), (x1, cy)],
                    1: [(x0, y0), (x0, y1), (x1, y1)],
                    2: [(cx, y0), (x0, y1), (x1, y1)],
                }[int(cls)]
                lines.append(
                    f"{int(cls)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f} "
                    + " ".join(f"{x:.6f} {y:.6f} 2" for x, y in keypoints)
                )
        if task != "classify":
            (dest / "images").mkdir(parents=True, exist_ok=True)
            (dest / "labels").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tree / "images" / f"{label.stem}.jpg", dest / "images" / f"{label.stem}.jpg")
            (dest / "labels" / label.name).write_text("".join(f"{line}\n" for line in lines))
            rows.append(f"images/{label.stem}.jpg,{night}")
    if task != "classify":
        extra = "kpt_shape: [3, 3]\n" if task == "pose" else ""
        (dest / "data.yaml").write_text("names:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(names)) + extra)
    (dest.parent / f"{dest.name}-attributes.csv").write_text("\n".join(rows) + "\n")
    age_files(dest)
    return dest
