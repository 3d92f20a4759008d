"""The same product against a tracking server backed by PostgreSQL (``--workers 4``): train → register →
promote, and concurrent registration by many processes and plain clients (DESIGN §4b, §5)."""

from __future__ import annotations

import uuid

import pytest
from mlflow.tracking import MlflowClient

from mlflow_cv import promote, register, registry_client
from mlflow_cv.project import Project
from tests.helpers.projects import TINY, run_id_of, run_train
from tests.helpers.registry import register_concurrently
from tests.helpers.servers import Server

pytestmark = pytest.mark.slow


def test_train_register_promote_on_postgres(pg_mlflow_server: Server, train_project: Project) -> None:
    out = run_train(
        train_project,
        "data=DS-1.0.0",
        *TINY,
        f"tracking.uri={pg_mlflow_server.url}",
        "tracking.experiment=on-postgres",
        "registry.name=pg-detector",
    )
    run_id = run_id_of(out)
    assert "registered pg-detector v1.0.0" in out.stdout
    client = registry_client(pg_mlflow_server.url)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["cv.data.snapshot"] == "DS-1.0.0"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied through the server
    moved = promote(client, "pg-detector", "1.0.0", alias="production", why="on postgres", project=train_project)
    assert moved.moved and all(g.passed for g in moved.gates)
    assert client.get_model_version_by_alias("pg-detector", "production").tags["cv.semver"] == "1.0.0"
    assert register(client, run_id, name=f"pg-{uuid.uuid4().hex[:6]}", project=train_project).semver.major == 1


def test_raw_clients_and_registrations_race_on_postgres_with_four_workers(pg_mlflow_server: Server) -> None:
    """16 ``mlflow-cv model register`` processes and 16 plain clients setting ``cv.semver`` themselves, at
    once, against ``mlflow server --workers 4`` on PostgreSQL: the guard's checks are serialized in the
    database, so every version gets a distinct semver in version order, and none is lost."""
    client = MlflowClient(tracking_uri=pg_mlflow_server.url, registry_uri=pg_mlflow_server.url)
    register_concurrently(client, pg_mlflow_server.url, f"pg-{uuid.uuid4().hex[:8]}", n=16, raw=16)


def test_write_once_holds_when_writers_race_on_postgres_with_four_workers(pg_mlflow_server: Server) -> None:
    """16 plain clients write different values of one write-once tag at the same moment, through four
    server workers: exactly one wins, and the value stays the winner's (a version's ``cv.semver``, a
    running run's ``cv.*`` tag)."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=pg_mlflow_server.url, registry_uri=pg_mlflow_server.url)
    name = f"pg-once-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    run = client.create_run(client.create_experiment(name)).info.run_id
    client.create_model_version(name, f"runs:/{run}/weights", run_id=run)
    writes = {
        "semver": lambda c, i: c.set_model_version_tag(name, "1", "cv.semver", f"{i + 1}.0.0"),
        "run tag": lambda c, i: c.set_tag(run, "cv.data.snapshot", f"DS-{i + 1}.0.0"),
    }
    for what, write in writes.items():
        start = Barrier(16)

        def attempt(i: int, write=write, start=start) -> str | None:
            plain = MlflowClient(pg_mlflow_server.url)
            start.wait()
            try:
                write(plain, i)
                return f"{i + 1}.0.0"
            except MlflowException as exc:
                assert "mlflow-cv guard:" in exc.message, exc.message
                return None

        with ThreadPoolExecutor(16) as pool:
            winners = [w for w in pool.map(attempt, range(16)) if w]
        stored = (
            client.get_model_version(name, "1").tags["cv.semver"]
            if what == "semver"
            else client.get_run(run).data.tags["cv.data.snapshot"].removeprefix("DS-")
        )
        assert winners == [stored], (what, winners, stored)
    client.set_terminated(run)
