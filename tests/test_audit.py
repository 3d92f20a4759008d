"""Reading lineage back: diff verdicts (code / data / config), rollback advice, reproduce and its refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlflow_cv import history, promote, register, registry_client, triage
from mlflow_cv.audit.diff import diff_runs
from mlflow_cv.audit.reproduce import reproduce
from mlflow_cv.cli import cli
from mlflow_cv.data.manifest import load_manifest
from mlflow_cv.data.store import ObjectStore
from mlflow_cv.errors import GateError, RegistryError, ReproductionError
from mlflow_cv.project import Project
from mlflow_cv.registry.client import set_policy
from mlflow_cv.render import to_text
from tests.helpers.data import ShapeStages
from tests.helpers.projects import TINY, git, make_train_project, run_id_of, run_train
from tests.helpers.registry import make_run, record_evaluation

METRICS = {"val/mAP50": 0.6, "val/mAP50-95": 0.4, "val/AP50-95/circle": 0.45, "val/AP50-95/square": 0.35}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, shape_stages: ShapeStages) -> tuple[Project, str, str]:
    """A project with DS-1.0.0 and DS-1.1.0 and two commits (the second edits train.py)."""
    project = make_train_project(tmp_path_factory.mktemp("audit") / "p", shapes=shape_stages)
    first = git(project.root, "rev-parse", "HEAD")
    (project.root / "train.py").write_text((project.root / "train.py").read_text() + "\n# hotfix\n")
    git(project.root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "hotfix: night images")
    return project, first, git(project.root, "rev-parse", "HEAD")


def fake_run(
    client: Any,
    project: Project,
    *,
    commit: str,
    snapshot: str = "DS-1.0.0",
    lr: str = "0.01",
    metrics: dict[str, float] | None = None,
) -> str:
    """A run with the lineage a training records (tags, params, metrics); what diff reads."""
    experiment = client.get_experiment_by_name("audit") or client.get_experiment(client.create_experiment("audit"))
    run = client.create_run(experiment.experiment_id)
    manifest = load_manifest(project, snapshot)
    config = f"{snapshot}-{lr}".encode().hex().ljust(64, "0")[:64]
    tags = {
        "cv.data.snapshot": snapshot,
        "cv.data.manifest_sha256": manifest.sha256,
        "cv.code.commit": commit,
        "cv.code.dirty": "false",
        "cv.config.id": config[:12],
        "cv.config.sha256": config,
        "cv.weights.digest": f"{commit}{snapshot}{lr}",
    }
    for key, value in tags.items():
        client.set_tag(run.info.run_id, key, value)
    for key, value in {"data.snapshot_id": snapshot, "train.lr0": lr, "train.epochs": "5"}.items():
        client.log_param(run.info.run_id, key, value)
    for key, value in (metrics or METRICS).items():
        client.log_metric(run.info.run_id, key, value)
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)


def render_text(value: Any) -> str:
    return to_text(value.__rich__())


@pytest.fixture
def client(repo: tuple[Project, str, str]) -> Any:
    """The project's SQLite store; its experiments keep artifacts beside the project, not in ./mlruns."""
    client = registry_client(f"sqlite:///{repo[0].root / 'audit.db'}")
    for name in ("audit", "registry"):
        if client.get_experiment_by_name(name) is None:
            client.create_experiment(name, artifact_location=(repo[0].root.parent / "artifacts" / name).as_uri())
    return client


def test_only_data_changed(client: Any, repo: tuple[Project, str, str]) -> None:
    project, first, _ = repo
    a = fake_run(client, project, commit=first, snapshot="DS-1.0.0")
    b = fake_run(client, project, commit=first, snapshot="DS-1.1.0", metrics={**METRICS, "val/AP50-95/circle": 0.30})
    d = diff_runs(client, a, b, project=project)
    assert d.changed == ("data",)
    assert d.data_diff is not None and len(d.data_diff.images_added) == 60
    # never each on its own validation split: these runs logged no model, so nothing is compared
    assert d.comparison is None and "logged no servable model" in d.metrics_note
    assert "metrics  not compared" in d.report() and "val/AP50-95/circle" not in d.report()
    assert "verdict: data changed" in d.report()


def test_only_config_changed(client: Any, repo: tuple[Project, str, str]) -> None:
    project, first, _ = repo
    d = diff_runs(
        client,
        fake_run(client, project, commit=first),
        fake_run(client, project, commit=first, lr="0.02"),
        project=project,
    )
    assert d.changed == ("config",)
    assert d.params == (("train.lr0", "0.01", "0.02"),)
    assert "train.lr0: 0.01 → 0.02" in d.report()


def test_only_code_changed(client: Any, repo: tuple[Project, str, str]) -> None:
    project, first, second = repo
    d = diff_runs(
        client, fake_run(client, project, commit=first), fake_run(client, project, commit=second), project=project
    )
    assert d.changed == ("code",)
    assert [c.split(" ", 1)[1] for c in d.code.commits] == ["hotfix: night images"]
    assert d.code.files == ("train.py",)
    out = CliRunner().invoke(
        cli,
        [
            "diff",
            "--project",
            str(project.root),
            "--tracking-uri",
            client.tracking_uri,
            "--json",
            d.a.run_id,
            d.b.run_id,
        ],
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["changed"] == ["code"]


def test_regressed_alias_holder_gets_rollback_advice(client: Any, repo: tuple[Project, str, str]) -> None:
    """diff compares both on the gate data, with the metrics gate's own verdict: what promote would say."""
    name = "advice"
    register(client, make_run(client, metrics={"val/mAP50-95": 0.5}), name=name, project=repo[0])
    register(
        client,
        make_run(client, metrics={"val/mAP50-95": 0.9}, **{"cv.config.sha256": "9" * 64}),
        name=name,
        project=repo[0],
    )
    record_evaluation(client, name, "1", metrics={"eval/mAP50-95": 0.5})
    record_evaluation(client, name, "2", metrics={"eval/mAP50-95": 0.4})  # better on its own val, worse here
    promote(client, name, "1.0.0", alias="canary", project=repo[0])
    promote(client, name, "1.1.0", alias="canary", project=repo[0])  # unprotected: moves despite the regression
    d = diff_runs(client, f"models:/{name}/1", f"{name}@canary", project=repo[0])
    assert d.b.aliases == ("canary",)
    assert d.comparison is not None and str(d.comparison.data).startswith("DS-1.0.0/val")
    assert d.comparison.deltas[0].key == "eval/mAP50-95" and d.comparison.deltas[0].regressed
    assert not d.comparison.verdict.passed
    assert d.advice == (
        "B holds 'canary' and fails the metrics gate against A on "
        f"{d.comparison.data} (worst: eval/mAP50-95 -0.1000); roll back with: mlflow-cv model rollback {name} "
        "--alias canary",
    )
    # no holder: nothing to compare with
    dry = promote(client, name, "1.1.0", alias="production", dry_run=True, project=repo[0])
    assert not dry.refused
    by_semver = diff_runs(client, "1.0.0", "1.1.0", project=repo[0], model=name)
    assert by_semver.b.run_id == d.b.run_id and by_semver.comparison == d.comparison


def test_diff_promote_and_triage_reach_one_verdict(client: Any, repo: tuple[Project, str, str]) -> None:
    """The night-time regression: overall within the tolerance, the night slice far below. Ungated, it
    moves; triage names the slice first and rolls back through the gates; gated, promote refuses it."""
    name = f"night-{os.getpid()}"
    overall = {"eval/mAP50-95": 0.50, "eval/mAP50": 0.70, "eval/AP50-95/circle": 0.50}
    night = "eval/slice/time_of_day:night/"
    old = {
        **overall,
        f"{night}mAP50-95": 0.45,
        f"{night}AP50-95/circle": 0.40,
        "eval/slice/time_of_day:day/mAP50-95": 0.52,
    }
    new = {
        **overall,
        "eval/mAP50-95": 0.495,
        f"{night}mAP50-95": 0.20,
        f"{night}AP50-95/circle": 0.30,
        "eval/slice/time_of_day:day/mAP50-95": 0.56,
        "eval/precision": 0.1,
    }
    register(client, make_run(client), name=name, project=repo[0])
    hotfix = make_run(client, **{"cv.code.commit": "9" * 40})  # a code-only hotfix: PATCH
    register(client, hotfix, name=name, project=repo[0])
    for version, metrics in (("1", old), ("2", new)):
        record_evaluation(client, name, version, metrics=metrics, slices_of="time_of_day")
    promote(client, name, "1.0.0", alias="production", project=repo[0])
    moved = promote(client, name, "1.0.1", alias="production", project=repo[0])  # slices are not gated by default
    assert moved.moved and all(g.passed for g in moved.gates)

    t = triage(client, name, project=repo[0])
    assert (t.holder, t.against, t.against_is_previous) == ("1.0.1", "1.0.0", True)
    assert t.regressed_slice == "time_of_day:night"
    cmp = t.diff.comparison
    assert cmp is not None and cmp.verdict.passed  # the same verdict promote reached
    assert [d.key for d in cmp.regressions] == [f"{night}mAP50-95", f"{night}AP50-95/circle"]  # worst first
    assert cmp.deltas[0].key == f"{night}mAP50-95" and cmp.deltas[0].delta == pytest.approx(-0.25)
    assert t.declared == "PATCH" and t.legal_patch is True  # own val metrics equal; no slice is gated
    assert t.diff.changed == ("code",) and "cannot read the packaged settings" in t.processing_note
    assert t.rollback_command.startswith(f"mlflow-cv model rollback {name} --alias production")
    text = render_text(t)
    for step in (
        "1. what changed",
        "2. same data: both evaluated on DS-1.0.0/val",
        "3. deltas (B - A)",
        "regressed slice: time_of_day:night",
        "4. a legal PATCH",
        "5. roll back",
    ):
        assert step in text, text

    out = CliRunner().invoke(
        cli,
        ["triage", name, "--json", "--rollback", "--project", str(repo[0].root), "--tracking-uri", client.tracking_uri],
    )
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["regressed_slice"] == "time_of_day:night" and doc["rollback"]["done"] is True
    assert str(client.get_model_version_by_alias(name, "production").version) == "1"
    last = history(client, name).events[-1]
    assert last.kind == "rollback" and last.why == "triage: time_of_day:night regressed"

    with pytest.raises(RegistryError, match="no previous holder"):
        triage(client, name, project=repo[0])  # v1.0.0 holds it again, and had no holder before
    with pytest.raises(RegistryError, match="recorded previous holder only"):
        triage(client, name, project=repo[0], against="1.0.1", rollback=True)
    set_policy(client, name, json.dumps({"slices": ["time_of_day"]}))
    with pytest.raises(GateError) as refused:
        promote(client, name, "1.0.1", alias="production", project=repo[0])
    assert f"{night}mAP50-95: 0.2000 < 0.4500 - 0.05" in str(refused.value)


@pytest.mark.slow
def test_reproduce_a_trained_run(train_project: Project, trained: tuple[str, list[str]]) -> None:
    client = registry_client(f"sqlite:///{train_project.root / 'mlflow.db'}")
    result = reproduce(client, trained[0], project=train_project)
    assert result.passed, result.table()
    assert {c.name for c in result.checks} == {"commit", "snapshot", "config", "preflight", "weights", "artifacts"}
    tags = client.get_run(result.run_id).data.tags
    assert tags["cv.reproduces"] == trained[0] and tags["cv.reproduce.verdict"] == "passed"
    assert tags["cv.weights.digest"] == client.get_run(trained[0]).data.tags["cv.weights.digest"]
    assert git(train_project.root, "worktree", "list").count("\n") == 0  # the worktree is gone


@pytest.mark.slow
def test_reproduce_detects_tampering(tmp_path: Path, shape_stages: ShapeStages) -> None:
    project = make_train_project(tmp_path / "p", shapes=shape_stages, stages=("1.0.0",))
    run_id = run_id_of(run_train(project, "data=DS-1.0.0", *TINY))
    client = registry_client(f"sqlite:///{project.root / 'mlflow.db'}")
    labelmap = next((project.root / "mlruns").rglob(f"{run_id}/artifacts/labelmap.json"))
    labelmap.write_text('{"0": "tampered"}\n')
    result = reproduce(client, run_id, project=project)
    assert not result.passed
    assert [c.name for c in result.checks if not c.passed] == ["artifacts"]
    assert "labelmap.json: content changed" in result.table()
    manifest = load_manifest(project, "DS-1.0.0")
    obj = ObjectStore(project.store_dir).object_path(manifest.files[0].sha256)
    os.chmod(obj, 0o644)
    obj.write_bytes(b"changed")
    with pytest.raises(ReproductionError, match="the store's objects of DS-1.0.0 changed") as info:
        reproduce(client, run_id, project=project)
    assert manifest.files[0].path in str(info.value)


def test_reproduce_refusals(client: Any, repo: tuple[Project, str, str], tmp_path: Path) -> None:
    project, first, _ = repo
    dirty = fake_run(client, project, commit=first)
    client.set_tag(dirty, "cv.code.dirty", "true")
    client.set_tag(dirty, "cv.preflight", "passed")
    with pytest.raises(ReproductionError, match="cannot be reproduced exactly") as info:
        reproduce(client, dirty, project=project)
    assert "cv.code.dirty=true" in info.value.problems[0]
    overridden = fake_run(client, project, commit=first)
    client.set_tag(overridden, "cv.preflight", "overridden: dirty_code (x)")
    with pytest.raises(ReproductionError, match="cannot be reproduced exactly"):
        reproduce(client, overridden, project=project)
    unknown = fake_run(client, project, commit="0" * 40)
    client.set_tag(unknown, "cv.preflight", "passed")
    with pytest.raises(ReproductionError, match="commit 0000000000000000000000000000000000000000 is not in"):
        reproduce(client, unknown, project=project)
    known = fake_run(client, project, commit=first)
    client.set_tag(known, "cv.preflight", "passed")
    empty_store = Project(root=project.root, store_root=tmp_path / "empty-store")
    with pytest.raises(ReproductionError, match="object.s. of DS-1.0.0 are not in the store"):
        reproduce(client, known, project=empty_store)


def test_diff_with_an_unknown_commit_still_reports(client: Any, repo: tuple[Project, str, str]) -> None:
    project, first, _ = repo
    d = diff_runs(
        client, fake_run(client, project, commit=first), fake_run(client, project, commit="0" * 40), project=project
    )
    assert d.changed == ("code",) and d.code.note == "a commit is not in this repository: fetch it for details"
