"""Serving speed of the mlflow_cv_yolo pyfunc against calling Ultralytics directly, measured in this run.

Prints two ratios:

- pyfunc ``predict`` throughput ÷ direct ``YOLO(weights).predict`` throughput on the same images,
  both batched (16), both starting from encoded image files            (target ≥ 1.0)
- REST round trip per image (``mlflow models serve``, ``inputs`` body, base64) ÷ in-process pyfunc
  per image                                                             (the cost of HTTP + JSON)

The model is an untrained YOLOv8n at 320 px (speed does not depend on accuracy), the images the
shapes example's. Best of ``--repeat``, alternated. Not a test: these machines are noisy.

    python benchmarks/bench_pyfunc.py
    python benchmarks/bench_pyfunc.py --n 200 --imgsz 640 --repeat 3
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples" / "shapes"))

sys.path.insert(0, str(REPO / "benchmarks"))

from _server import free_port, serving  # noqa: E402
from generate import generate  # noqa: E402


def best_of(repeat: int, fn: object) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp())
    import cv2
    import mlflow
    import numpy as np
    import pandas as pd
    from ultralytics import YOLO

    from mlflow_cv.serving import flavor

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root / "shapes", stage="1.1.1")
        files = sorted((root / "shapes" / "images").glob("*.jpg"))
        files = (files * (args.n // len(files) + 1))[: args.n]
        blobs = [f.read_bytes() for f in files]
        weights = root / "yolo.pt"
        YOLO("yolov8n.yaml").save(str(weights))
        flavor.save_model(weights, root / "model", labelmap={i: f"c{i}" for i in range(80)}, imgsz=args.imgsz)
        pyfunc = mlflow.pyfunc.load_model(str(root / "model"))
        direct = YOLO(str(weights))
        frame = pd.DataFrame({"image": blobs})
        settings = {"imgsz": args.imgsz, "conf": 0.25, "iou": 0.7, "max_det": 300, "batch": 16, "verbose": False}

        def run_direct() -> None:  # Ultralytics from encoded bytes too: decode, then batched predict
            direct.predict([cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR) for b in blobs], **settings)

        run_direct()
        pyfunc.predict(frame)  # warm both
        t_direct, t_ours = [], []
        for _ in range(args.repeat):
            t_direct.append(best_of(1, run_direct))
            t_ours.append(best_of(1, lambda: pyfunc.predict(frame)))
        a, b = min(t_ours), min(t_direct)
        print(f"pyfunc   {args.n / a:7.1f} img/s   direct YOLO.predict {args.n / b:7.1f} img/s")
        print(f"throughput ratio pyfunc / direct = {b / a:.3f}  (target ≥ 1.0)")

        port = free_port()
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        cmd = [
            str(Path(sys.executable).parent / "mlflow"),
            "models",
            "serve",
            "-m",
            str(root / "model"),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ]
        with serving(cmd, f"http://127.0.0.1:{port}/ping", env):
            body = json.dumps({"inputs": {"image": [base64.b64encode(x).decode() for x in blobs[:16]]}}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
            )
            urllib.request.urlopen(request).read()  # warm
            batches = args.n // 16
            rest = best_of(args.repeat, lambda: [urllib.request.urlopen(request).read() for _ in range(batches)])
            local = best_of(args.repeat, lambda: [pyfunc.predict(frame.iloc[:16]) for _ in range(batches)])
        n = batches * 16
        print(f"REST {1000 * rest / n:.1f} ms/image   in-process pyfunc {1000 * local / n:.1f} ms/image")
        print(f"REST / in-process per image = {rest / local:.3f}")


if __name__ == "__main__":
    main()
