"""Generate the guide's exercise data: small road scenes as semantic-segmentation masks (road, lane, car).

Each scene is a 160×120 RGB image and a PNG mask of the same size painted with the class palette
(Cityscapes' colours): road ``128,64,128``, lane ``255,255,255``, car ``0,0,142``, background black.
A road runs from the bottom edge towards a vanishing point, with dashed lane markings down its middle
and zero to three cars on it. The stages are the exercise's two snapshots:

- ``1.0.0``  60 scenes
- ``1.1.0``  30 new scenes added (images added → MINOR)

Deterministic from ``--seed``; each scene depends only on its index, so both stages share their files
byte for byte. The export's layout is what a labelling tool's semantic export looks like::

    images/scene_0000.png   masks/scene_0000.png

    python examples/roads/generate.py examples/roads/export --stage 1.0.0
"""

from __future__ import annotations

import argparse
import io
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

STAGES = {"1.0.0": 60, "1.1.0": 90}
W, H = 160, 120
PALETTE = {"road": (128, 64, 128), "lane": (255, 255, 255), "car": (0, 0, 142)}


def scene(index: int, seed: int) -> tuple[bytes, bytes]:
    """(image PNG, mask PNG) of scene ``index``."""
    rng = random.Random(seed * 1_000_003 + index)
    noise = np.random.default_rng(seed * 1_000_003 + index)
    sky = np.array([rng.randint(90, 200), rng.randint(120, 210), rng.randint(150, 255)], dtype=np.float32)
    grass = np.array([rng.randint(40, 90), rng.randint(100, 160), rng.randint(30, 80)], dtype=np.float32)
    horizon = rng.randint(35, 55)
    pixels = np.zeros((H, W, 3), dtype=np.float32)
    pixels[:horizon], pixels[horizon:] = sky, grass
    image = Image.fromarray(np.clip(pixels + noise.normal(0, 8, (H, W, 3)), 0, 255).astype(np.uint8))
    mask = Image.new("RGB", (W, H), (0, 0, 0))
    draw, paint = ImageDraw.Draw(image), ImageDraw.Draw(mask)
    vx = W / 2 + rng.uniform(-25, 25)
    left, right = rng.uniform(-30, 30), W + rng.uniform(-30, 30)
    road = [(vx - 4, horizon), (vx + 4, horizon), (right, H), (left, H)]
    shade = rng.randint(60, 110)
    draw.polygon(road, fill=(shade, shade, shade + 5))
    paint.polygon(road, fill=PALETTE["road"])
    for k in range(6):  # dashed markings down the middle, longer as they come closer
        t0, t1 = (k + 0.2) / 6, (k + 0.6) / 6
        y0, y1 = horizon + t0 * (H - horizon), horizon + t1 * (H - horizon)
        mid = lambda t: vx + t * ((left + right) / 2 - vx)  # noqa: E731
        half = lambda t: 0.5 + 2.5 * t  # noqa: E731
        dash = [(mid(t0) - half(t0), y0), (mid(t0) + half(t0), y0), (mid(t1) + half(t1), y1), (mid(t1) - half(t1), y1)]
        draw.polygon(dash, fill=(235, 235, 225))
        paint.polygon(dash, fill=PALETTE["lane"])
    for _ in range(rng.randint(0, 3)):
        t = rng.uniform(0.35, 0.9)
        y = horizon + t * (H - horizon)
        span = (left + t * 0 + (vx - left) * (1 - t), right + (vx - right) * (1 - t))
        x = rng.uniform(span[0] + 6 * t, span[1] - 30 * t)
        w, h = 28 * t + 6, 16 * t + 4
        color = tuple(rng.randint(0, 255) for _ in range(3))
        draw.rectangle((x, y - h, x + w, y), fill=color)
        paint.rectangle((x, y - h, x + w, y), fill=PALETTE["car"])
    out = []
    for picture in (image, mask):
        buf = io.BytesIO()
        picture.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out[0], out[1]


def write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def generate(dest: Path, *, stage: str, seed: int = 0) -> int:
    """Bring the export at ``dest`` to ``stage``; return the number of files written."""
    written = 0
    for index in range(STAGES[stage]):
        image, mask = scene(index, seed)
        written += write_if_changed(dest / "images" / f"scene_{index:04d}.png", image)
        written += write_if_changed(dest / "masks" / f"scene_{index:04d}.png", mask)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest", type=Path, help="export folder to create or update")
    parser.add_argument("--stage", default="1.0.0", choices=list(STAGES))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"roads {args.stage}: {generate(args.dest, stage=args.stage, seed=args.seed)} file(s) written in {args.dest}")


if __name__ == "__main__":
    main()
