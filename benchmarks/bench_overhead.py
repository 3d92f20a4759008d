"""What the lineage layer costs a training, against plain Ultralytics, measured in this run.

Runs the same training (same data, arguments and seed) as ``python train.py`` (preflight, MLflow run,
per-epoch and per-class metrics, artifacts with hashes) and as a plain Ultralytics script with no
MLflow at all, alternated ``--rounds`` times, each in a fresh process. Prints:

- the overhead ratio, median(train.py) ÷ median(plain)                    (target < 1.02)
- the fixed cost in seconds: median difference, and the preflight alone (re-verify + git + store)

Use a training of at least 60 s (the default settings take about that on 2 CPU cores). Not a test:
these machines are noisy.

    python benchmarks/bench_overhead.py                      # 3 rounds, 12 epochs at 128 px
    python benchmarks/bench_overhead.py --rounds 5 --epochs 20
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples" / "shapes"))

from generate import generate  # noqa: E402

from mlflow_cv.data.snapshots import create_snapshot  # noqa: E402
from mlflow_cv.project import Project  # noqa: E402

PLAIN = """
import sys
from ultralytics.utils import SETTINGS
SETTINGS.update({k: False for k in ("mlflow", "clearml", "comet", "dvc", "raytune", "tensorboard", "wandb", "sync")
                 if k in SETTINGS})
from ultralytics import YOLO
YOLO("yolov8n.yaml", task="detect").train(data=sys.argv[1], epochs=int(sys.argv[2]), imgsz=int(sys.argv[3]),
    batch=16, optimizer="AdamW", lr0=0.002, seed=0, deterministic=True, device="cpu", workers=2, patience=100,
    plots=True, project=sys.argv[4], name="ultralytics", exist_ok=True)
"""


def make_project(root: Path) -> Project:
    root.mkdir(parents=True)
    shutil.copy(REPO / "train.py", root)
    shutil.copytree(REPO / "conf", root / "conf", ignore=shutil.ignore_patterns("DS-*.yaml"))
    (root / ".gitignore").write_text(".mlflow-cv/\nmlflow.db\nmlruns/\noutputs/\nshapes/\nplain/\n")
    generate(root / "shapes", stage="1.1.1")
    project = Project(root=root)
    create_snapshot(project, root / "shapes", snapshot_id="DS-1.0.0")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "b"]):
        subprocess.run(["git", *args], cwd=root, check=True)
    return project


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--imgsz", type=int, default=128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "project")
        root = project.root
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "YOLO_"))}
        plain_env = {**env, "YOLO_CONFIG_DIR": str(Path(tmp) / "plain-settings")}
        overrides = ["data=DS-1.0.0", "train=quick", f"train.epochs={args.epochs}", f"train.imgsz={args.imgsz}"]
        preflight = [str(Path(sys.executable).parent / "mlflow-cv"), "preflight", "--project", str(root), *overrides]
        subprocess.run(preflight, check=True, env=env, stdout=subprocess.DEVNULL)  # first checkout, untimed
        data = next((root / ".mlflow-cv" / "checkouts").iterdir()) / "data.yaml"
        ours, plain = [], []
        for i in range(args.rounds):
            plain.append(
                timed(
                    [sys.executable, "-c", PLAIN, str(data), str(args.epochs), str(args.imgsz), str(root / "plain")],
                    root,
                    plain_env,
                )
            )
            ours.append(timed([sys.executable, "train.py", *overrides], root, env))
            print(f"round {i + 1}: train.py {ours[-1]:.1f} s, plain Ultralytics {plain[-1]:.1f} s", flush=True)
        checks = [timed(preflight, root, env) for _ in range(3)]
    a, b = statistics.median(ours), statistics.median(plain)
    print(f"overhead ratio  train.py / plain Ultralytics = {a / b:.3f}  (target < 1.02; {b:.1f} s training)")
    print(f"fixed cost      {a - b:+.1f} s per run (median difference); preflight alone {min(checks):.1f} s")


if __name__ == "__main__":
    main()
