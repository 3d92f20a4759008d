"""What the registry guard costs per call, against MLflow's own SQLAlchemy store on the same database,
and whether an alias move or a policy change stays as cheap when the history is long (issue: the
1,000th move within 1.2x the 1st). In-process stores on one SQLite file, so the figures are the
guard's own work, not HTTP.

    python benchmarks/bench_guard.py [--calls 50] [--moves 1000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mlflow.entities import Metric, RunTag
from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

from mlflow_cv.registry.history import PolicyRequest
from mlflow_cv.registry.policy import Policy
from mlflow_cv.server.registry_store import build_store
from mlflow_cv.tags import TAG_POLICY, TAG_POLICY_REQUEST

LINEAGE = {
    "cv.data.snapshot": "DS-1.0.0",
    "cv.data.manifest_sha256": "a" * 64,
    "cv.code.commit": "c" * 40,
    "cv.preflight": "passed",
    "cv.weights.digest": "d" * 64,
}


def median_ms(calls: int, fn: Callable[[int], object]) -> float:
    times = []
    for i in range(calls):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50, help="Calls timed per operation (median).")
    parser.add_argument("--moves", type=int, default=1000, help="Alias moves for the history-length figure.")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-guard-"))
    db = f"sqlite:///{root / 'mlflow.db'}"
    tracking = TrackingStore(db, (root / "artifacts").as_uri())
    experiment = tracking.create_experiment("bench")
    runs = []
    for _ in range(args.calls * 2):
        run = tracking.create_run(experiment, "bench", 0, [RunTag(k, v) for k, v in LINEAGE.items()], "r")
        tracking.log_metric(run.info.run_id, Metric("val/mAP50", 0.5, 0, 0))
        runs.append(run.info.run_id)
    plain, guarded = RegistryStore(db), build_store(f"cv-guard-{db}", db)
    rows = []
    for label, op in (
        ("create version (cv.* tags checked)", "create"),
        ("set version tag (not cv.*)", "tag"),
        ("set alias (gates + history)", "alias"),
    ):
        figures = []
        for name, store in (("plain", plain), ("guard", guarded)):
            model = f"{name}-{op}"
            store.create_registered_model(model)
            offset = 0 if name == "plain" else args.calls
            tags = [ModelVersionTag(k, v) for k, v in LINEAGE.items()]

            def create(i: int, store=store, model=model, offset=offset, tags=tags) -> object:
                return store.create_model_version(model, f"runs:/{runs[offset + i]}/m", runs[offset + i], tags)

            if op == "create":
                figures.append(median_ms(args.calls, create))
                continue
            for i in range(2):
                create(i)
            if op == "tag":
                figures.append(
                    median_ms(
                        args.calls,
                        lambda i, s=store, m=model: s.set_model_version_tag(m, "1", ModelVersionTag(f"note{i}", "x")),
                    )
                )
            else:
                figures.append(
                    median_ms(
                        args.calls,
                        lambda i, s=store, m=model: s.set_registered_model_alias(m, "candidate", str(1 + i % 2)),
                    )
                )
        rows.append((label, *figures))
    print(f"{'per call (median of ' + str(args.calls) + ')':<36} {'plain':>9} {'guard':>9} {'ratio':>7}")
    for label, base, guard in rows:
        print(f"{label:<36} {base:>7.2f}ms {guard:>7.2f}ms {guard / base:>6.2f}x")

    model = "history"
    guarded.create_registered_model(model)
    for i in range(2):
        guarded.create_model_version(
            model, f"runs:/{runs[i]}/m", runs[i], [ModelVersionTag(k, v) for k, v in LINEAGE.items()]
        )
    growth("alias move", args.moves, lambda i: guarded.set_registered_model_alias(model, "candidate", str(1 + i % 2)))
    policies = [Policy(tolerance=0.005).to_json(), Policy(tolerance=0.004).to_json()]  # every other change looser

    def change_policy(i: int) -> None:
        text = policies[i % 2]
        request = PolicyRequest(policy=text, who="bench", why="", allow_loosen=True).to_json()
        guarded.set_registered_model_tag(model, RegisteredModelTag(TAG_POLICY_REQUEST, request))
        guarded.set_registered_model_tag(model, RegisteredModelTag(TAG_POLICY, text))

    growth("policy change", args.moves, change_policy)


def growth(what: str, n: int, call: Callable[[int], object]) -> None:
    """The median of the first and of the last calls of ``n``: does a call get dearer as the history grows?"""
    window = min(20, n // 4)
    times = []
    for i in range(n):
        start = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - start)
    first, last = statistics.median(times[:window]), statistics.median(times[-window:])
    print(
        f"{what} with a history of 0 vs {n - window}+ events: {first * 1000:.2f}ms vs {last * 1000:.2f}ms = "
        f"{last / first:.2f}x (target <= 1.2)"
    )


if __name__ == "__main__":
    main()
