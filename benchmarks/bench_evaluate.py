"""Evaluation speed: ``mlflow-cv evaluate``'s scoring (overall, per class, every slice, latency) against
Ultralytics' own ``model.val()`` on the same images and settings, measured in this run (target <= 1.15).

Slices must not cost a second inference: each image's statistics are kept from the one pass and every
slice is re-scored from them. The model is an untrained YOLOv8n (speed does not depend on accuracy), the
images the shapes example's with a ``time_of_day`` attribute on every image (two slices). Best of
``--repeat``, alternated. Not a test: these machines are noisy.

    python benchmarks/bench_evaluate.py [--imgsz 320] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples" / "shapes"))

from generate import generate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp())
    import yaml
    from ultralytics import YOLO

    from mlflow_cv.data.checkout import checkout
    from mlflow_cv.data.snapshots import create_snapshot
    from mlflow_cv.evaluation.scoring import EvalSettings, score
    from mlflow_cv.project import Project
    from mlflow_cv.serving import flavor
    from mlflow_cv.serving.model import YoloModel
    from mlflow_cv.yolo.settings import quiet

    root = Path(tempfile.mkdtemp(prefix="bench-evaluate-"))
    generate(root / "shapes", stage="1.0.0")
    project = Project(root=root / "project")
    rules = [
        "time_of_day=night:images/shape_00*.jpg",
        "time_of_day=night:images/shape_01*.jpg",
        "time_of_day=day:images/shape_02*.jpg",
    ]
    manifest = create_snapshot(project, root / "shapes", snapshot_id="DS-1.0.0", attr_rules=rules).manifest
    dest = project.checkout_path(manifest)
    checkout(project, "DS-1.0.0", dest)
    weights = root / "yolov8n.pt"
    YOLO("yolov8n.yaml").save(str(weights))
    flavor.save_model(weights, root / "model", labelmap=dict(manifest.class_map), task="detect", imgsz=args.imgsz)
    loaded = YoloModel(root / "model")
    listing = root / "all.txt"
    listing.write_text("".join(f"{(dest / manifest.image_of[i]).resolve()}\n" for i in sorted(manifest.split_of)))
    data_yaml = root / "data.yaml"
    data_yaml.write_text(
        yaml.safe_dump(
            {"path": str(dest), "train": str(listing), "val": str(listing), "names": dict(manifest.class_map)}
        )
    )
    settings = EvalSettings(imgsz=args.imgsz)

    def baseline() -> None:
        with quiet():
            YOLO(str(weights)).val(
                data=str(data_yaml),
                imgsz=args.imgsz,
                conf=settings.conf,
                iou=settings.iou,
                batch=settings.batch,
                rect=False,
                plots=False,
                verbose=False,
                workers=0,
            )

    def ours() -> None:
        score(loaded.yolo, manifest, dest, split="all", attributes=("time_of_day",), settings=settings)

    timings: dict[str, list[float]] = {"baseline": [], "ours": []}
    for _ in range(args.repeat):
        for name, fn in (("baseline", baseline), ("ours", ours)):
            start = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - start)
    base, mine = min(timings["baseline"]), min(timings["ours"])
    print(f"{len(manifest.split_of)} images at {args.imgsz} px, 2 slices, best of {args.repeat}")
    print(f"Ultralytics model.val()                       {base:7.2f} s")
    print(f"mlflow-cv scoring (+ per class, slices, latency) {mine:7.2f} s")
    print(f"ratio {mine / base:.2f} (target <= 1.15)")


if __name__ == "__main__":
    main()
