"""Tried as an attacker would, with nothing but a plain ``MlflowClient`` or raw REST against a real
``mlflow server --backend-store-uri cv-guard-… --registry-store-uri cv-guard-…`` (SQLite with one worker,
PostgreSQL with four): a run's record cannot be rewritten after it ended, a version's facts are checked
whenever written, the rules cannot be switched off, and the history holds what the server knows."""

from __future__ import annotations

import base64
import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_cv import history, register
from mlflow_cv.project import Project
from tests.helpers.registry import BASE_TAGS, make_run, record_evaluation, register_evaluated
from tests.helpers.servers import Server, free_port, running

GUARD = "mlflow-cv guard:"


@pytest.fixture
def client(guarded_server: Server) -> MlflowClient:
    return MlflowClient(guarded_server.url)


def post(server: Server, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Raw REST: ``POST /api/2.0/mlflow/<path>``, answered with (status, body)."""
    request = urllib.request.Request(
        f"{server.url}/api/2.0/mlflow/{path}",
        json.dumps(body).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def refused(call: Any, *args: Any, match: str = GUARD) -> str:
    with pytest.raises(MlflowException) as info:
        call(*args)
    assert GUARD in info.value.message and match in info.value.message, info.value.message
    return str(info.value.message)


def test_an_ended_runs_lineage_cannot_be_forged(client: MlflowClient) -> None:
    overridden = make_run(client, **{"cv.preflight": "overridden: dirty_code (1 uncommitted: train.py)"})
    refused(client.set_tag, overridden, "cv.preflight", "passed", match="set once")
    refused(client.set_tag, overridden, "cv.code.dirty", "true", match="set once")
    refused(client.delete_tag, overridden, "cv.preflight", match="cannot be deleted")
    empty = client.create_run(client.get_experiment_by_name("registry").experiment_id).info.run_id
    client.set_terminated(empty)
    refused(client.set_tag, empty, "cv.preflight", "passed", match="after it ended")
    refused(client.log_batch, empty, [], [], [RunTag("cv.code.commit", "c" * 40)], match="after it ended")
    client.set_tag(
        overridden, "cv.preflight", "overridden: dirty_code (1 uncommitted: train.py)"
    )  # same value: a no-op
    client.set_tag(empty, "mlflow.note.content", "notes stay editable")


def test_an_ended_runs_metrics_and_params_are_frozen(client: MlflowClient) -> None:
    run = make_run(client)
    refused(client.log_metric, run, "val/mAP50", 0.99, match="frozen")
    refused(client.log_param, run, "train.lr0", "0.5", match="frozen")
    refused(client.log_batch, run, [Metric("val/mAP50-95", 0.99, 0, 1)], [], [], match="frozen")
    refused(client.log_batch, run, [], [Param("x", "1")], [], match="frozen")
    refused(client.update_run, run, "RUNNING", match="cannot run again")
    assert client.get_run(run).data.metrics["val/mAP50"] == 0.70


def test_raw_rest_meets_the_same_rules(client: MlflowClient, guarded_server: Server) -> None:
    run = make_run(client)
    status, text = post(
        guarded_server, "runs/log-metric", {"run_id": run, "key": "val/mAP50", "value": 0.99, "timestamp": 1}
    )
    assert status == 400 and GUARD in text, text
    status, text = post(guarded_server, "runs/set-tag", {"run_id": run, "key": "cv.preflight", "value": "passed"})
    assert status == 200 or GUARD in text, text  # the same value as before is no change
    status, text = post(guarded_server, "runs/set-tag", {"run_id": run, "key": "cv.code.dirty", "value": "true"})
    assert status == 400 and GUARD in text, text


def test_a_run_that_backs_a_version_cannot_be_deleted(client: MlflowClient, project: Project) -> None:
    name = f"guarded-{uuid.uuid4().hex[:8]}"
    run = make_run(client)
    register(client, run, name=name, project=project)
    refused(client.delete_run, run, match=f"backs {name} version 1")
    spare = make_run(client, **{"cv.config.sha256": "9" * 64})
    client.delete_run(spare)  # nothing depends on it
    assert client.get_run(spare).info.lifecycle_stage == "deleted"


def test_a_running_run_logs_as_mlflow_does(client: MlflowClient) -> None:
    experiment = client.get_experiment_by_name("registry") or client.get_experiment(
        client.create_experiment("registry")
    )
    run = client.create_run(experiment.experiment_id).info.run_id
    client.set_tag(run, "cv.data.snapshot", "DS-1.0.0")
    client.log_batch(run, [Metric("val/mAP50", 0.5, 0, 1), Metric("val/mAP50", 0.6, 0, 2)], [Param("a", "1")], [])
    client.log_metric(run, "val/mAP50", 0.7, step=3)
    client.set_terminated(run)
    data = client.get_run(run).data
    assert (
        data.metrics["val/mAP50"] == 0.7 and data.params == {"a": "1"} and data.tags["cv.data.snapshot"] == "DS-1.0.0"
    )


@pytest.mark.slow
def test_the_ui_we_print_is_guarded(tmp_path: Path) -> None:
    """``mlflow-cv ui`` (what the training summary prints) serves the embedded store through the guards."""
    project = tmp_path / "project"
    project.mkdir()
    local = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = local.create_experiment("e", artifact_location=(tmp_path / "artifacts").as_uri())
    run = local.create_run(experiment).info.run_id
    local.set_tag(run, "cv.preflight", "overridden: dirty_code (1 uncommitted: train.py)")
    local.set_terminated(run)
    port = free_port()
    cmd = [
        sys.executable,
        "-c",
        "from mlflow_cv.cli import main; main()",
        "ui",
        "--port",
        str(port),
        "--project",
        str(project),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    with running(cmd, env=env, log=tmp_path / "ui.log", ready=f"http://127.0.0.1:{port}/health") as url:
        refused(MlflowClient(url).set_tag, run, "cv.preflight", "passed", match="set once")
        refused(MlflowClient(url).log_metric, run, "val/mAP50", 0.99, match="frozen")


# --- the registry: every cv.* version fact is checked when written, names and stages are no side doors ---


def test_version_facts_are_checked_whenever_written(client: MlflowClient, project: Project) -> None:
    name = f"forged-{uuid.uuid4().hex[:8]}"
    register_evaluated(client, make_run(client), name=name, project=project)
    experiment = client.get_experiment_by_name("registry").experiment_id
    empty = client.create_run(experiment).info.run_id
    client.set_terminated(empty)
    raw = client.create_model_version(name, f"runs:/{empty}/model", run_id=empty).version
    refused(client.set_model_version_tag, name, raw, "cv.metrics", '{"val/mAP50": 0.99}', match="does not match")
    refused(client.set_model_version_tag, name, raw, "cv.preflight", "passed", match="is not the tag of run")
    refused(client.set_model_version_tag, name, raw, "cv.semver", "0.9.0", match="lower than 1.0.0 of earlier")
    later = client.create_model_version(name, f"runs:/{empty}/model", run_id=empty).version
    refused(client.set_model_version_tag, name, later, "cv.semver", "9.0.0", match=f"version {raw} of {name} is still")
    client.set_model_version_tag(name, raw, "cv.semver", "3.0.0")
    refused(client.set_model_version_tag, name, later, "cv.semver", "2.0.0", match="lower than 3.0.0 of earlier")
    refused(client.set_model_version_tag, name, later, "cv.semver", "3.0.0", match="already has cv.semver=3.0.0")
    refused(client.set_model_version_tag, name, raw, "cv.semver", "4.0.0", match="set once")
    refused(client.set_model_version_tag, name, raw, "cv.history.0000000000001.abcd", "{}", match="registry only")
    refused(client.copy_model_version, f"models:/{name}/1", f"{name}-copy", match="set after a version is created")
    refused(client.set_registered_model_alias, name, "production", raw, match="may not become 'production'")


def test_an_abandoned_version_gets_a_semver_below_the_later_ones(tmp_path: Path, monkeypatch: Any) -> None:
    """A version left without cv.semver (a crashed registration) stops blocking the ones after it once
    stale; a semver given to it later still keeps registration order: below every later version's."""
    from mlflow.entities.model_registry import ModelVersionTag

    import mlflow_cv.server.registry_store as guard

    store = guard.build_store(f"cv-guard-sqlite:///{tmp_path / 'r.db'}")
    store.create_registered_model("m")
    for _ in range(3):
        store.create_model_version("m", "file:///nowhere")
    store.set_model_version_tag("m", "1", ModelVersionTag("cv.semver", "1.0.0"))
    monkeypatch.setattr(guard, "STALE_MS", 0)  # version 2 counts as abandoned
    store.set_model_version_tag("m", "3", ModelVersionTag("cv.semver", "2.0.0"))
    with pytest.raises(MlflowException, match="higher than 2.0.0 of later version 3"):
        store.set_model_version_tag("m", "2", ModelVersionTag("cv.semver", "5.0.0"))
    store.set_model_version_tag("m", "2", ModelVersionTag("cv.semver", "1.5.0"))


def test_names_and_stages_are_no_side_doors(client: MlflowClient, project: Project) -> None:
    name = f"doors-{uuid.uuid4().hex[:8]}"
    register_evaluated(client, make_run(client), name=name, project=project)
    from mlflow_cv import promote

    promote(client, name, "1.0.0", alias="production", project=project)
    refused(client.rename_registered_model, name, f"{name}-old", match="cannot be renamed")
    refused(client.delete_registered_model, name, match="cannot be deleted")
    refused(client.transition_model_version_stage, name, "1", "Production", match="aliases, not stages")
    worse = make_run(client, metrics={"val/mAP50-95": 0.1, "val/mAP50": 0.2}, **{"cv.config.sha256": "8" * 64})
    register_evaluated(client, worse, name=name, project=project)
    refused(client.set_registered_model_alias, name, "Production", "2", match="spelled otherwise")
    refused(client.set_registered_model_alias, name, "production", "2", match="may not become")
    assert client.get_registered_model(name).aliases == {"production": "1"}
    scratch = f"scratch-{uuid.uuid4().hex[:8]}"  # only unprotected moves in its history: nothing pins it
    register_evaluated(client, make_run(client, **{"cv.config.sha256": "7" * 64}), name=scratch, project=project)
    client.set_registered_model_alias(scratch, "candidate", "1")
    client.delete_registered_model_alias(scratch, "candidate")
    client.delete_registered_model(scratch)


def test_a_tag_without_a_key_is_refused_cleanly(tmp_path: Path) -> None:
    """MLflow's own store tests send a None key: the guard must not crash on it (AttributeError)."""
    from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag

    from mlflow_cv.server.registry_store import build_store

    store = build_store(f"cv-guard-sqlite:///{tmp_path / 'r.db'}")
    store.create_registered_model("m")
    for call in (
        lambda: store.set_registered_model_tag("m", RegisteredModelTag(None, "x")),  # type: ignore[arg-type]
        lambda: store.delete_registered_model_tag("m", None),
    ):  # type: ignore[arg-type]
        with pytest.raises(MlflowException):
            call()
    with pytest.raises(MlflowException):
        store.set_model_version_tag("m", "1", ModelVersionTag(None, "x"))  # type: ignore[arg-type]


def test_history_records_what_the_server_knows_not_what_the_client_claims(
    client: MlflowClient, guarded_server: Server, project: Project
) -> None:
    name = f"claims-{uuid.uuid4().hex[:8]}"
    register_evaluated(client, make_run(client), name=name, project=project)
    request = {
        "alias": "candidate",
        "version": "1",
        "who": "ceo@corp",
        "why": "trust me",
        "kind": "promote",
        "gates": ["pass     artifacts          every hash verifies (forged)"],
        "nonce": "abcd1234",
    }
    client.set_registered_model_tag(name, "cv.move.request", json.dumps(request))
    client.set_registered_model_alias(name, "candidate", "1")
    (event,) = history(client, name)
    assert event.who == "unauthenticated (claims ceo@corp)" and event.why == "trust me"
    assert not any("forged" in line for line in event.gates) and any(" lineage " in line for line in event.gates)
    status, text = post(
        guarded_server,
        "registered-models/alias",
        {"name": name, "alias": "qa", "version": "1"},
        {"Authorization": "Basic " + base64.b64encode(b"ceo@corp:x").decode()},
    )
    assert status == 200, text  # no auth app: the header is nobody's word, and is not recorded as who
    assert [e.who for e in history(client, name)] == ["unauthenticated (claims ceo@corp)", "unauthenticated"]


# --- the rules cannot be switched off; the server reads the artifacts itself -------------------------------


def test_the_rules_cannot_be_switched_off(client: MlflowClient, project: Project) -> None:
    from mlflow_cv import promote

    name = f"rules-{uuid.uuid4().hex[:8]}"
    register_evaluated(client, make_run(client), name=name, project=project)
    promote(client, name, "1.0.0", alias="production", project=project)
    worse = make_run(client, metrics={"val/mAP50-95": 0.3, "val/mAP50": 0.5}, **{"cv.config.sha256": "8" * 64})
    register_evaluated(client, worse, name=name, project=project)
    for loose in (
        '{"tolerance": 1000}',
        '{"tolerance": 1000, "protected": ["production"]}',
        '{"gates": ["lineage", "preflight", "semver"]}',
        '{"artifacts": "client"}',
    ):
        refused(client.set_registered_model_tag, name, "cv.policy", loose, match="loosens the rules")
    client.set_registered_model_tag(name, "cv.policy", '{"tolerance": 0.001}')  # stricter: allowed
    refused(client.delete_registered_model_tag, name, "cv.policy", match="tolerance 0.001 → 0.01")
    refused(client.set_registered_model_alias, name, "production", "2", match="eval/mAP50: 0.5000 < 0.7000")
    from mlflow_cv.registry.policy import Policy

    stated = {
        "policy": Policy(tolerance=1000.0).to_json(),
        "who": "ceo@corp",
        "why": "ship it",
        "allow_loosen": True,
        "nonce": "0badc0de",
    }
    client.set_registered_model_tag(name, "cv.policy.request", json.dumps(stated))
    client.set_registered_model_tag(name, "cv.policy", '{"tolerance": 1000}')  # stated and recorded
    *_, tighter, looser = [e for e in history(client, name) if e.kind == "policy"]
    assert tighter.loosened == () and json.loads(tighter.new)["tolerance"] == 0.001
    assert looser.loosened == ("tolerance 0.001 → 1000.0",) and looser.who == "unauthenticated (claims ceo@corp)"
    assert looser.why == "ship it" and "cv.policy.request" not in client.get_registered_model(name).tags


def test_the_server_rehashes_the_artifacts_itself(
    client: MlflowClient, guarded_server: Server, project: Project
) -> None:
    name = f"bytes-{uuid.uuid4().hex[:8]}"
    run = make_run(client)
    register(client, run, name=name, project=project)
    experiment = client.get_run(run).info.experiment_id
    weights = guarded_server.root / "artifacts" / experiment / run / "artifacts" / "weights" / "best.pt"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF
    weights.write_bytes(bytes(data))  # flipped on the server's disk, after the run recorded its hash
    message = refused(client.set_registered_model_alias, name, "production", "1", match="artifacts:")
    assert "weights/best.pt: content changed" in message
    client.set_registered_model_alias(name, "candidate", "1")  # not protected: not gated


def test_unreadable_artifacts_stop_a_protected_move_unless_the_policy_leaves_them_to_the_client(
    tmp_path: Path,
    project: Project,
) -> None:
    """The in-process guard of the embedded store meets a run whose artifacts are proxied by a server it
    is not: it cannot re-hash them, so the move is refused, unless the policy says ``artifacts: client``."""
    from mlflow_cv.registry.client import set_policy

    local = MlflowClient(
        f"sqlite:///{tmp_path / 'mlflow.db'}", registry_uri=f"cv-guard-sqlite:///{tmp_path / 'mlflow.db'}"
    )
    experiment = local.create_experiment("elsewhere", artifact_location="mlflow-artifacts:/elsewhere")
    run = local.create_run(experiment, tags=BASE_TAGS).info.run_id
    local.set_terminated(run)
    name = "proxied"
    register(local, run, name=name, project=project)
    refused(local.set_registered_model_alias, name, "production", "1", match="the server cannot re-hash them")
    set_policy(local, name, '{"artifacts": "client"}', allow_loosen=True, why="artifacts live behind another server")
    local.set_registered_model_alias(name, "production", "1")
    (event,) = history(local, name).moves
    assert any("checked by the client" in line for line in event.gates), event.gates


def test_the_legal_path_still_works(client: MlflowClient, project: Project) -> None:
    """register → promote → promote → rollback through mlflow-cv, on each server, with the history intact."""
    from mlflow_cv import promote, rollback

    name = f"legal-{uuid.uuid4().hex[:8]}"
    better = {"val/mAP50-95": 0.6, "val/mAP50": 0.8, "val/AP50-95/circle": 0.65, "val/AP50-95/square": 0.55}
    register_evaluated(client, make_run(client), name=name, project=project)
    register_evaluated(
        client, make_run(client, metrics=better, **{"cv.config.sha256": "9" * 64}), name=name, project=project
    )
    assert promote(client, name, "1.0.0", alias="production", why="first", project=project).moved
    assert promote(client, name, "1.1.0", alias="production", why="better", project=project).moved
    assert rollback(client, name, alias="production", why="night regression").semver == "1.0.0"
    events = history(client, name)
    assert [(e.kind, e.to_semver, e.why) for e in events.moves] == [
        ("promote", "1.0.0", "first"),
        ("promote", "1.1.0", "better"),
        ("rollback", "1.0.0", "night regression"),
    ]
    assert all(" artifacts " in " ".join(e.gates) and "every hash verifies" in " ".join(e.gates) for e in events.moves)


def test_protected_moves_need_evaluations_on_the_same_data(client: MlflowClient, project: Project) -> None:
    """Own validation metrics are not evidence: a raw move needs both versions' evaluation records on the
    same gate data, and their numbers decide; a forged record is refused when written."""
    from mlflow_cv import promote

    name = f"gate-{uuid.uuid4().hex[:8]}"
    register_evaluated(client, make_run(client), name=name, project=project)
    promote(client, name, "1.0.0", alias="production", project=project)
    own_better = {"val/mAP50-95": 0.9, "val/mAP50": 0.95, "val/AP50-95/circle": 0.9, "val/AP50-95/square": 0.9}
    register(client, make_run(client, metrics=own_better, **{"cv.config.sha256": "9" * 64}), name=name, project=project)
    refused(client.set_registered_model_alias, name, "production", "2", match="no evaluations of both versions")
    key = f"cv.eval.{'a' * 12}.val"
    refused(
        client.set_model_version_tag,
        name,
        "2",
        key,
        client.get_model_version(name, "1").run_id,
        match="is not an evaluation record",
    )
    record_evaluation(client, name, "2", metrics={"eval/mAP50-95": 0.45, "eval/mAP50": 0.60})
    refused(client.set_registered_model_alias, name, "production", "2", match="eval/mAP50: 0.6000 < 0.7000")
    good = {"eval/mAP50-95": 0.55, "eval/mAP50": 0.75, "eval/AP50-95/circle": 0.6, "eval/AP50-95/square": 0.5}
    register(client, make_run(client, **{"cv.config.sha256": "7" * 64}), name=name, project=project)
    record_evaluation(client, name, "3", metrics=good)
    client.set_registered_model_alias(name, "production", "3")  # evaluated better on the same data
    (event,) = [e for e in history(client, name).moves if e.to_version == "3"]
    assert any("on DS-1.0.0/val (manifest aaaaaaaaaaaa)" in line for line in event.gates), event.gates


def test_the_guard_compares_on_the_gate_data_the_policy_names(client: MlflowClient, project: Project) -> None:
    """``gate_data`` names a snapshot and split (or ``latest``): evaluations elsewhere do not count."""
    from mlflow_cv import promote
    from mlflow_cv.registry.client import set_policy

    name = f"named-{uuid.uuid4().hex[:8]}"
    register_evaluated(client, make_run(client), name=name, project=project)
    promote(client, name, "1.0.0", alias="production", project=project)
    set_policy(client, name, '{"gate_data": {"snapshot": "DS-1.2.0", "split": "test"}}', allow_loosen=True)
    on_its_own = make_run(client, **{"cv.config.sha256": "9" * 64})  # evaluated on DS-1.0.0/val
    register_evaluated(client, on_its_own, name=name, project=project)
    refused(client.set_registered_model_alias, name, "production", "2", match="no evaluations of both versions")
    newer = {"snapshot": "DS-1.2.0", "manifest": "c" * 64, "split": "test"}
    scores = {"eval/mAP50-95": 0.5, "eval/mAP50": 0.7}
    record_evaluation(client, name, "2", metrics=scores, **newer)
    refused(client.set_registered_model_alias, name, "production", "2", match="has no evaluation on DS-1.2.0/test")
    record_evaluation(client, name, "1", metrics=scores, **newer)
    client.set_registered_model_alias(name, "production", "2")
    set_policy(client, name, '{"gate_data": {"snapshot": "latest", "split": "test"}}', allow_loosen=True)
    register(client, make_run(client, **{"cv.config.sha256": "7" * 64}), name=name, project=project)
    record_evaluation(client, name, "3", metrics={"eval/mAP50-95": 0.4, "eval/mAP50": 0.6}, **newer)
    refused(
        client.set_registered_model_alias,
        name,
        "production",
        "3",
        match="on DS-1.2.0/test (manifest cccccccccccc): eval/mAP50: 0.6000 < 0.7000",
    )
