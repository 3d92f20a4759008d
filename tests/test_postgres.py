"""The same product against a tracking server backed by PostgreSQL: train → register → promote, and
concurrent registration (DESIGN §5)."""

from __future__ import annotations

import uuid

import pytest
from mlflow.tracking import MlflowClient

from mlflow_cv import promote, register, registry_client
from mlflow_cv.data.snapshots import Project
from tests.helpers.projects import TINY, run_id_of, run_train
from tests.helpers.registry import register_concurrently
from tests.helpers.servers import Server

pytestmark = pytest.mark.slow


def test_train_register_promote_on_postgres(pg_mlflow_server: Server, train_project: Project) -> None:
    out = run_train(train_project, "data=DS-1.0.0", *TINY, f"tracking.uri={pg_mlflow_server.url}",
                    "tracking.experiment=on-postgres", "registry.name=pg-detector")  # fmt: skip
    run_id = run_id_of(out)
    assert "registered pg-detector v1.0.0" in out.stdout
    client = registry_client(pg_mlflow_server.url)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["cv.data.snapshot"] == "DS-1.0.0"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied through the server
    moved = promote(client, "pg-detector", "1.0.0", alias="production", why="on postgres")
    assert moved.moved and all(g.passed for g in moved.gates)
    assert client.get_model_version_by_alias("pg-detector", "production").tags["cv.semver"] == "1.0.0"
    assert register(client, run_id, name=f"pg-{uuid.uuid4().hex[:6]}").semver.major == 1


def test_concurrent_registration_on_postgres(pg_mlflow_server: Server) -> None:
    client = MlflowClient(tracking_uri=pg_mlflow_server.url, registry_uri=pg_mlflow_server.url)
    register_concurrently(client, pg_mlflow_server.url, f"pg-{uuid.uuid4().hex[:8]}")
