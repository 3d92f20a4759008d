"""COCO import speed against Ultralytics' ``convert_coco`` on the same file, both measured in this run.

Prints two ratios (lower is better):

- ``import_dataset("coco", …)`` (images copied, the default) ÷ ``convert_coco(…)``   (target ≤ 1.0)
- the same with ``link="hardlink"`` ÷ ``convert_coco(…)``

The export is generated: ``--images`` tiny image files (a few bytes each: neither side decodes them) and
``--objects`` boxes spread over them, in ten categories. Ours does more than theirs: it checks that every
image exists, copies every image byte for byte into DEST, records the provenance (hash and copy of the
JSON) and renames the finished tree into place; theirs writes label files only. On most file systems
making a file costs more than anything else here, so copying the images is most of our time. Each
timing is the best of ``--repeat`` runs, the sides alternated, each into a fresh folder, with Ultralytics
(and torch) imported before the clock starts. Not a test: these machines are noisy.

    python benchmarks/bench_import.py                   # 20,000 images, 200,000 objects
    python benchmarks/bench_import.py --images 2000 --objects 20000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from mlflow_cv.data.importers import import_dataset


def make_export(root: Path, n_images: int, n_objects: int) -> Path:
    rng = random.Random(0)
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    images = []
    for i in range(1, n_images + 1):
        name = f"{i:06d}.jpg"
        (root / "images" / name).write_bytes(b"\xff\xd8" + i.to_bytes(4, "big") + b"\xff\xd9")
        images.append({"id": i, "file_name": name, "width": 640, "height": 480})
    annotations = []
    for k in range(1, n_objects + 1):
        w, h = rng.uniform(4, 200), rng.uniform(4, 200)
        x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
        annotations.append(
            {
                "id": k,
                "image_id": rng.randint(1, n_images),
                "category_id": rng.randint(1, 10),
                "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                "area": round(w * h, 2),
                "iscrowd": 0,
                "segmentation": [],
            }
        )
    categories = [{"id": c, "name": f"class{c}", "supercategory": "none"} for c in range(1, 11)]
    path = root / "annotations" / "instances_bench.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=20_000)
    ap.add_argument("--objects", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("YOLO_VERBOSE", "False")
    from ultralytics.data.converter import convert_coco  # torch and all: imported before any clock runs

    base = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        t = time.perf_counter()
        export = make_export(base / "export", args.images, args.objects)
        print(
            f"generated {args.images} images, {args.objects} objects ({export.stat().st_size / 1e6:.1f} MB JSON) "
            f"in {time.perf_counter() - t:.1f}s under {base}"
        )
        times: dict[str, list[float]] = {"copy": [], "hardlink": [], "theirs": []}
        for i in range(args.repeat):  # alternated, so that all three see the same machine state
            for link in ("copy", "hardlink"):
                t = time.perf_counter()
                result = import_dataset("coco", base / "export", base / f"{link}-{i}", link=link)
                times[link].append(time.perf_counter() - t)
                assert result.images == args.images and result.objects == args.objects, result
                shutil.rmtree(base / f"{link}-{i}")
            t = time.perf_counter()
            convert_coco(str(base / "export" / "annotations"), str(base / f"theirs-{i}"), cls91to80=False)
            times["theirs"].append(time.perf_counter() - t)
            shutil.rmtree(base / f"theirs-{i}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    theirs = min(times["theirs"])
    print(f"cores: {os.cpu_count()}, best of {args.repeat}; ours also copies (or links) the images and the provenance")
    for link, target in (("copy", " (target <= 1.0)"), ("hardlink", "")):
        ours = min(times[link])
        ratio = ours / theirs
        print(f"COCO import, {link:<8}  {ours:7.3f}s  vs convert_coco {theirs:7.3f}s  ratio {ratio:5.2f}{target}")


if __name__ == "__main__":
    main()
