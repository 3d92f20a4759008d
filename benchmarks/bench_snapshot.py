"""Snapshot speed against the machine's own baselines, each measured in this run.

Prints four ratios (lower is better) and one rate:

- cold manifest build ÷ ``find … -print0 | xargs -0 -P<cores> -n 2000 sha256sum``   (target ≤ 1.0)
- no-change verify ÷ a Python ``os.scandir`` + ``stat`` walk of the same tree        (target ≤ 2.0)
- ``mlflow-cv data verify``, no change, as a process ÷ the walk as a process       (target ≤ 2.0)
- verify after 1% of the files changed ÷ the same walk                              (target ≤ 3.0)
- full ``snapshot`` (manifest + object store), cold, in files/s

Each timing is the best of ``--repeat`` runs, baselines and ours alternated, all with a warm page
cache (so both sides measure hashing, not the disk). The two processes start the same interpreter,
with bytecode caches (as an installed package has them; kept in a temp folder, never in the tree),
so the CLI row is what a user waits for: start-up, imports, the verify and its output. Not a test:
these machines are noisy.

    python benchmarks/bench_snapshot.py                 # 20,000 images + 20,000 labels
    python benchmarks/bench_snapshot.py --n 2000 --keep /tmp/tree
"""

from __future__ import annotations

import argparse
import inspect
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mlflow_cv.data.build import build_manifest
from mlflow_cv.data.checkout import verify
from mlflow_cv.data.snapshots import create_snapshot
from mlflow_cv.project import Project


def make_tree(root: Path, n: int, size: int) -> None:
    rng = random.Random(0)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "data.yaml").write_text("names: [a, b, c]\n")
    block = os.urandom(size + 4096)
    for i in range(n):
        off = rng.randrange(4096)
        (root / "images" / f"{i:06d}.jpg").write_bytes(b"\xff\xd8" + i.to_bytes(4, "big") + block[off : off + size])
        lines = "".join(f"{rng.randrange(3)} 0.5 0.5 0.1 0.1\n" for _ in range(rng.randint(1, 4)))
        (root / "labels" / f"{i:06d}.txt").write_text(lines)
    past = time.time() - 60  # files at rest, outside the stat cache's racy window
    for d in ("images", "labels"):
        for entry in os.scandir(root / d):
            os.utime(entry.path, (past, past))


# The baseline: a bare scandir+stat walk, run in this process and, with nothing else imported, as a
# process of its own (against the CLI as a process): one source for both.
def walk(root):  # no annotations: this source also runs as a bare script
    n, stack = 0, [str(root)]
    while stack:
        for entry in os.scandir(stack.pop()):
            if entry.is_dir():
                stack.append(entry.path)
            else:
                entry.stat()
                n += 1
    return n


WALK_SCRIPT = "import os, sys\n" + inspect.getsource(walk) + "print(walk(sys.argv[1]))\n"


def cli_vs_walk(project: Project, tree: Path, cache: Path, repeat: int) -> tuple[float, float]:
    """Best wall time of ``mlflow-cv data verify DS-1.0.0 TREE`` and of the walk, each as a new process."""
    exe = Path(sys.executable)
    cli = exe.with_name("mlflow-cv")
    verify_cmd = [str(cli), "data", "verify", "DS-1.0.0", str(tree), "--project", str(project.root)]
    walk_cmd = [str(exe), "-c", WALK_SCRIPT, str(tree)]
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(cache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    def run(cmd: list[str]) -> None:
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)

    for cmd in (verify_cmd, walk_cmd):  # warm up: bytecode caches written, the page cache warm
        run(cmd)
    cli_t, walk_t = [], []
    for _ in range(max(repeat, 5)):
        cli_t.append(best(lambda: run(verify_cmd), 1))
        walk_t.append(best(lambda: run(walk_cmd), 1))
    return min(cli_t), min(walk_t)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="images (and as many labels)")
    ap.add_argument("--size", type=int, default=28_000, help="bytes per image")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="build the tree here and keep it")
    args = ap.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-snapshot-"))
    tree = base / "tree"
    if not tree.exists():
        t = time.perf_counter()
        make_tree(tree, args.n, args.size)
        print(f"generated {2 * args.n} files in {time.perf_counter() - t:.1f}s under {tree}")
    cores = os.cpu_count() or 1
    pipeline = f"find {tree} -type f -print0 | xargs -0 -P{cores} -n 2000 sha256sum > /dev/null"
    try:
        project = Project(root=base / "project")
        shutil.rmtree(project.root, ignore_errors=True)

        def cold_build() -> None:
            build_manifest(tree, snapshot_id="DS-1.0.0")  # no cache, no store: hashing + parsing only

        sha_t, build_t = [], []
        for _ in range(args.repeat):  # alternate so both see the same machine state
            sha_t.append(best(lambda: subprocess.run(pipeline, shell=True, check=True), 1))
            build_t.append(best(cold_build, 1))
        sha_s, build_s = min(sha_t), min(build_t)

        t = time.perf_counter()
        create_snapshot(project, tree, snapshot_id="DS-1.0.0")
        snap_s = time.perf_counter() - t

        walk_s = best(lambda: walk(tree), args.repeat)
        report = verify(project, "DS-1.0.0", tree)
        assert report.ok and report.hashed == 0, report
        verify_s = best(lambda: verify(project, "DS-1.0.0", tree), args.repeat)
        cli_s, walk_proc_s = cli_vs_walk(project, tree, base / "pycache", args.repeat)

        changed = sorted((tree / "images").iterdir())[::100][: max(1, args.n * 2 // 100)]
        drift_times = []
        for _ in range(args.repeat):
            for p in changed:  # rewrite 1% of the files in place (same bytes: mtimes move)
                p.write_bytes(p.read_bytes())
            t = time.perf_counter()
            report = verify(project, "DS-1.0.0", tree)
            drift_times.append(time.perf_counter() - t)
            assert report.ok and report.hashed >= len(changed), report
        drift_s = min(drift_times)
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)

    files = 2 * args.n
    print(f"files: {files} ({args.n} images of {args.size} B + {args.n} labels), cores: {cores}")
    row("cold manifest build", build_s, "sha256sum pipeline", sha_s, 1.0)
    row("no-change verify", verify_s, "scandir+stat walk", walk_s, 2.0)
    row("CLI verify, process", cli_s, "walk, process", walk_proc_s, 2.0)
    row("verify, 1% changed", drift_s, "scandir+stat walk", walk_s, 3.0)
    print(f"full snapshot, cold   {snap_s:7.3f}s  = {files / snap_s:,.0f} files/s (manifest + object store)")


def row(name: str, ours: float, baseline_name: str, baseline: float, target: float) -> None:
    ratio = ours / baseline
    print(f"{name:<21} {ours:7.3f}s  vs {baseline_name:<18} {baseline:7.3f}s  ratio {ratio:5.2f}  (target <= {target})")


if __name__ == "__main__":
    main()
