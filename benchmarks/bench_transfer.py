"""Snapshot push and pull through ``mlflow server`` with proxied artifacts, against ``tar | tar``.

Prints files/s for a cold push, a cold pull and a second (no-op) push of the same snapshot, and the
ratio of each to copying the same files locally with one ``tar -c | tar -x`` pipeline, all measured in
this run. The second push must move nothing and cost about a listing. Not a test: machines are noisy.

    python benchmarks/bench_transfer.py              # 20,000 files (10,000 images + labels)
    python benchmarks/bench_transfer.py --n 2000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from _server import free_port, serving  # noqa: E402
from bench_snapshot import make_tree  # noqa: E402

from mlflow_cv.data.manifest import load_manifest  # noqa: E402
from mlflow_cv.data.remote import pull, push  # noqa: E402
from mlflow_cv.data.snapshots import create_snapshot  # noqa: E402
from mlflow_cv.project import Project  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="files (half images, half labels)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_tree(root / "data", args.n // 2, 8_000)
        project = Project(root=root / "project")
        create_snapshot(project, root / "data", snapshot_id="DS-1.0.0")
        (root / "copy").mkdir()
        start = time.perf_counter()
        subprocess.run(f"tar -C {root / 'data'} -cf - . | tar -C {root / 'copy'} -xf -", shell=True, check=True)
        tar = time.perf_counter() - start
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        cmd = [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "remote"),
        ]
        with serving(cmd, f"http://127.0.0.1:{port}/health", env):
            remote = f"mlflow-artifacts://127.0.0.1:{port}/snapshots"
            n = len(load_manifest(project, "DS-1.0.0").files)
            first = push(project, ["DS-1.0.0"], remote=remote)
            again = push(project, ["DS-1.0.0"], remote=remote)
            clone = Project(root=root / "clone")
            got = pull(clone, ["DS-1.0.0"], remote=remote)
    print(f"{n} files; tar | tar: {tar:.2f} s ({n / tar:,.0f} files/s)")
    for label, r in (("push (cold)", first), ("pull (cold)", got), ("push again", again)):
        print(
            f"{label:<12} {r.seconds:7.2f} s  {n / r.seconds:9,.0f} files/s  moved {r.moved:>6}  "
            f"ratio to tar {r.seconds / tar:6.1f}"
        )


if __name__ == "__main__":
    main()
