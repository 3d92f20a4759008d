"""Generate the synthetic "shapes" detection dataset at one of the guide's three stages.

Coloured circles, squares and triangles on textured backgrounds, with YOLO labels. The stages are
the guide's Example 1:

- ``1.0.0``  240 images; 20 of them miss the label of one object; 64 boxes are deliberately wrong
- ``1.1.0``  60 images added and the missed labels added (images added + labels updated → MINOR);
             80 boxes are wrong (wrong class or shifted)
- ``1.1.1``  the 80 wrong boxes fixed (label contents only → PATCH)

Every fifth image is a *night* image (dark and low-contrast); ``attributes.csv`` beside ``images/``
records each image's ``time_of_day`` (``day`` or ``night``) for ``mlflow-cv data snapshot --attributes``.

Everything is deterministic from ``--seed``; each image depends only on its own index, so the
stages share their common files byte for byte. Files whose bytes would not change are not
rewritten, so a stage change touches only what it changes.

    python examples/shapes/generate.py examples/shapes/data --stage 1.0.0
"""

from __future__ import annotations

import argparse
import io
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")
STAGES = ("1.0.0", "1.1.0", "1.1.1")
SIZE = 160
N_INITIAL, N_TOTAL = 240, 300
ATTRIBUTES = "attributes.csv"

Box = tuple[int, float, float, float, float]  # class, cx, cy, w, h (normalized)


def is_night(index: int) -> bool:
    return index % 5 == 3


def render(index: int, seed: int) -> tuple[bytes, list[Box]]:
    """One JPEG image and its true boxes; depends only on (index, seed). Night images are dark and
    low-contrast: a third of the brightness, lifted a little, with more sensor noise."""
    rng = random.Random(seed * 1_000_003 + index)
    noise = np.random.default_rng(seed * 1_000_003 + index)
    base = np.array([rng.randint(40, 200) for _ in range(3)], dtype=np.float32)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    stripes = 25 * np.sin(xx * rng.uniform(0.05, 0.3) + yy * rng.uniform(0.05, 0.3))[..., None]
    pixels = base + stripes + noise.normal(0, 18, (SIZE, SIZE, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    boxes: list[Box] = []
    for _ in range(rng.randint(1, 4)):
        cls = rng.randrange(len(CLASSES))
        s = rng.randint(22, 48)
        x0, y0 = rng.randint(2, SIZE - s - 2), rng.randint(2, SIZE - s - 2)
        color = tuple(rng.choice((rng.randint(0, 60), rng.randint(195, 255))) for _ in range(3))
        if cls == 0:
            draw.ellipse((x0, y0, x0 + s, y0 + s), fill=color)
        elif cls == 1:
            draw.rectangle((x0, y0, x0 + s, y0 + s), fill=color)
        else:
            draw.polygon([(x0 + s / 2, y0), (x0, y0 + s), (x0 + s, y0 + s)], fill=color)
        boxes.append((cls, (x0 + s / 2) / SIZE, (y0 + s / 2) / SIZE, s / SIZE, s / SIZE))
    if is_night(index):
        dark = np.asarray(image, dtype=np.float32) * 0.3 + 12 + noise.normal(0, 6, (SIZE, SIZE, 3))
        image = Image.fromarray(np.clip(dark, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    return buf.getvalue(), boxes


def labels_for(index: int, boxes: list[Box], stage: str) -> list[Box]:
    """The labels as annotated at ``stage``: missed objects before 1.1.0, wrong boxes before 1.1.1."""
    out = list(boxes)
    if stage == "1.0.0" and index % 12 == 5 and len(out) > 1:
        out = out[:-1]  # an object the annotators missed
    if stage != "1.1.1" and index % 15 < 4:
        cls, cx, cy, w, h = out[0]
        if index % 2:
            out[0] = ((cls + 1) % len(CLASSES), cx, cy, w, h)  # wrong class
        else:
            out[0] = (cls, min(cx + 0.15, 1 - w / 2), cy, w, h)  # shifted box
    return out


def write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def generate(dest: Path, *, stage: str, seed: int = 0) -> int:
    """Bring ``dest`` to ``stage``; return the number of files written or removed."""
    if stage not in STAGES:
        raise SystemExit(f"unknown stage {stage!r}: expected one of {', '.join(STAGES)}")
    count = N_INITIAL if stage == "1.0.0" else N_TOTAL
    written = write_if_changed(
        dest / "data.yaml", ("names:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(CLASSES))).encode()
    )
    rows = "".join(f"images/shape_{i:04d}.jpg,{'night' if is_night(i) else 'day'}\n" for i in range(count))
    written += write_if_changed(dest / ATTRIBUTES, f"path,time_of_day\n{rows}".encode())
    for index in range(count):
        jpeg, boxes = render(index, seed)
        text = "".join(
            f"{c} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n" for c, cx, cy, w, h in labels_for(index, boxes, stage)
        )
        written += write_if_changed(dest / "images" / f"shape_{index:04d}.jpg", jpeg)
        written += write_if_changed(dest / "labels" / f"shape_{index:04d}.txt", text.encode())
    for folder, suffix in (("images", ".jpg"), ("labels", ".txt")):  # files of a later stage
        for index in range(count, N_TOTAL):
            stale = dest / folder / f"shape_{index:04d}{suffix}"
            if stale.exists():
                stale.unlink()
                written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest", type=Path, help="dataset folder to create or update")
    parser.add_argument("--stage", default="1.0.0", choices=STAGES, help="which snapshot's state to produce")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    args = parser.parse_args()
    n = generate(args.dest, stage=args.stage, seed=args.seed)
    print(f"shapes {args.stage}: {n} file(s) written in {args.dest}")


if __name__ == "__main__":
    main()
