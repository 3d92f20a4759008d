"""Runs that carry a training's lineage (tags, gate metrics, hashed artifacts), for registry tests."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mlflow_cv.semver import Bump, Version

BASE_TAGS = {
    "cv.data.snapshot": "DS-1.0.0",
    "cv.data.manifest_sha256": "a" * 64,
    "cv.data.split_seed": "42",
    "cv.code.commit": "c" * 40,
    "cv.code.dirty": "false",
    "cv.config.id": "f" * 12,
    "cv.config.sha256": "f" * 64,
    "cv.train.seed": "0",
    "cv.preflight": "passed",
    "cv.weights.sha256": "0" * 64,
    "cv.weights.digest": "d" * 64,
    "cv.model.arch_sha256": "e" * 64,
    "cv.model.labelmap_sha256": "b" * 64,
    "cv.model.task": "detect",
    "cv.artifacts.sha256": "1" * 64,
}
METRICS = {"val/mAP50-95": 0.50, "val/mAP50": 0.70, "val/AP50-95/circle": 0.55, "val/AP50-95/square": 0.45}


def make_run(client: Any, *, metrics: dict[str, float] | None = None, **changes: str) -> str:
    """A finished run with the lineage of a training: tags, gate metrics, hashed artifacts.

    The artifacts go where the experiment "registry" keeps them: with a SQLite store, create that
    experiment with an ``artifact_location`` first, or MLflow puts them in ``./mlruns``.
    """
    experiment = client.get_experiment_by_name("registry") or client.get_experiment(
        client.create_experiment("registry")
    )
    run = client.create_run(experiment.experiment_id)
    weights = uuid.uuid4().bytes * 64
    index = json.dumps({"weights/best.pt": hashlib.sha256(weights).hexdigest()}, indent=2) + "\n"
    tags = {
        **BASE_TAGS,
        "cv.weights.sha256": hashlib.sha256(weights).hexdigest(),
        "cv.artifacts.sha256": hashlib.sha256(index.encode()).hexdigest(),
        **changes,
    }
    for key, value in tags.items():
        client.set_tag(run.info.run_id, key, value)
    for key, value in (METRICS if metrics is None else metrics).items():
        client.log_metric(run.info.run_id, key, value)
    client.log_text(run.info.run_id, index, "lineage/artifacts.json")
    client.log_text(run.info.run_id, weights.hex(), "weights/best.hex")  # placeholder, replaced below
    local = Path(client.download_artifacts(run.info.run_id, "weights/best.hex")).with_name("best.pt")
    local.write_bytes(weights)
    client.log_artifact(run.info.run_id, str(local), "weights")
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)


def register_concurrently(client: Any, url: str, name: str, n: int = 8, *, raw: int = 0) -> None:
    """``n`` processes run ``mlflow-cv model register`` at once, while ``raw`` threads of plain clients
    create versions and set ``cv.semver`` themselves (retrying when the guard says no): distinct semvers
    that rise with the version numbers, none lost."""
    from mlflow.exceptions import RestException

    runs = [make_run(client, **{"cv.config.sha256": f"{i % 10}{i // 10}" * 32}) for i in range(n)]
    bare = make_run(client, **{"cv.config.sha256": "e" * 64})
    client.create_registered_model(name)
    code = "import sys; from mlflow_cv.cli import main; sys.argv[0] = 'mlflow-cv'; main()"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, "model", "register", run, "--name", name, "--tracking-uri", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for run in runs
    ]

    def raw_client(_: int) -> str:
        from mlflow.tracking import MlflowClient

        plain = MlflowClient(url)
        number = plain.create_model_version(name, f"runs:/{bare}/weights", run_id=bare).version
        deadline = time.monotonic() + 240
        while True:
            known = [
                v.tags["cv.semver"] for v in plain.search_model_versions(f"name='{name}'") if "cv.semver" in v.tags
            ]
            top = max((Version.parse(t) for t in known), default=Version(0, 9, 0))
            try:
                plain.set_model_version_tag(name, number, "cv.semver", str(top.bump(Bump.MINOR)))
                return str(number)
            except RestException as exc:
                if "mlflow-cv guard:" not in exc.message or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    with ThreadPoolExecutor(max(raw, 1)) as pool:
        raw_versions = list(pool.map(raw_client, range(raw)))
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    versions = client.search_model_versions(f"name='{name}'")
    assert len(versions) == n + raw and len(set(raw_versions)) == raw
    by_number = [Version.parse(v.tags["cv.semver"]) for v in sorted(versions, key=lambda v: int(v.version))]
    assert by_number == sorted(by_number) and len(set(by_number)) == n + raw, by_number
    if not raw:
        assert [str(v) for v in by_number] == ["1.0.0", *(f"1.{i}.0" for i in range(1, n))]
    assert {v.run_id for v in versions} == set(runs) | ({bare} if raw else set())


def record_evaluation(
    client: Any,
    name: str,
    version: str,
    *,
    metrics: dict[str, float] | None = None,
    split: str = "val",
    snapshot: str | None = None,
    manifest: str | None = None,
    slices_of: str = "",
) -> str:
    """An evaluation run of ``name`` version ``version`` on its training manifest (as ``mlflow-cv
    evaluate`` logs one: ``cv.eval.*`` tags at creation, ``eval/…`` metrics, ended) and the version's
    record of it. ``metrics`` default to the run's own gate metrics, renamed ``val/…`` → ``eval/…``;
    ``snapshot`` and ``manifest`` to the run's training snapshot; ``slices_of``: the attributes it scored
    slice by slice (comma-separated)."""
    mv = client.get_model_version(name, version)
    run = client.get_run(mv.run_id)
    tags = run.data.tags
    manifest = manifest or tags["cv.data.manifest_sha256"]
    scores = (
        metrics if metrics is not None else {"eval/" + k.removeprefix("val/"): v for k, v in run.data.metrics.items()}
    )
    evaluation = client.create_run(
        run.info.experiment_id,
        tags={
            "cv.eval.of": mv.run_id,
            "cv.eval.weights_sha256": tags["cv.weights.sha256"],
            "cv.eval.manifest_sha256": manifest,
            "cv.eval.snapshot": snapshot or tags["cv.data.snapshot"],
            "cv.eval.split": split,
            "cv.eval.settings_sha256": "5" * 64,
            "cv.eval.device": "cpu (test)",
        },
    ).info.run_id
    for key, value in scores.items():
        client.log_metric(evaluation, key, value)
    client.log_param(evaluation, "slices_of", slices_of)
    client.set_terminated(evaluation)
    client.set_model_version_tag(name, version, f"cv.eval.{manifest[:12]}.{split}", evaluation)
    return str(evaluation)


def register_evaluated(client: Any, run_id: str, *, name: str, **options: Any) -> Any:
    """``register`` plus an evaluation record on the version's training manifest (see above)."""
    from mlflow_cv import register

    registration = register(client, run_id, name=name, **options)
    record_evaluation(client, name, registration.version)
    return registration
