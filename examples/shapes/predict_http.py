"""Send images to a model served by ``mlflow models serve`` and print its detections.

python examples/shapes/predict_http.py http://127.0.0.1:5001 image.jpg [more.jpg …] [--conf 0.25]
"""

from __future__ import annotations

import argparse
import base64
import json
import urllib.error
import urllib.request
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the server, e.g. http://127.0.0.1:5001")
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--conf", type=float, default=None, help="confidence threshold (default: the model's)")
    args = parser.parse_args()
    body: dict[str, object] = {"inputs": {"image": [base64.b64encode(p.read_bytes()).decode() for p in args.images]}}
    if args.conf is not None:
        body["params"] = {"conf": args.conf}
    request = urllib.request.Request(
        f"{args.url.rstrip('/')}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            rows = json.loads(reply.read())["predictions"]
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"HTTP {exc.code}: {json.loads(exc.read())['message']}") from None
    print(f"{len(rows)} detection(s)")
    for r in rows:
        print(
            f"  image {r['image_index']}  {r['class_name']:<9} {r['confidence']:.2f}  "
            f"box ({r['x1']:.0f}, {r['y1']:.0f}, {r['x2']:.0f}, {r['y2']:.0f})"
        )


if __name__ == "__main__":
    main()
