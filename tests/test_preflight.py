"""The preflight gate, one refusal at a time (no training), and the config it reads."""

from __future__ import annotations

import os
import shutil
import socket
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlflow_cv.cli import cli
from mlflow_cv.config import config_digest, flat_params, hparams_digest
from mlflow_cv.data.manifest import load_manifest
from mlflow_cv.data.store import ObjectStore
from mlflow_cv.errors import ConfigError, PreflightError
from mlflow_cv.project import Project
from mlflow_cv.tracking.preflight import CHECKS, PreflightReport
from mlflow_cv.training import compose_job, preflight_job
from tests.helpers.data import ShapeStages
from tests.helpers.projects import make_train_project


@pytest.fixture
def proj(tmp_path: Path, shape_stages: ShapeStages) -> Project:
    return make_train_project(tmp_path / "project", shapes=shape_stages, stages=("1.0.0",))


def preflight(project: Project, *overrides: str) -> PreflightReport:
    report = preflight_job(compose_job(project.root, ["data=DS-1.0.0", *overrides]), project=project)
    return report


def failed(report: PreflightReport) -> dict[str, str]:
    return {c.name: f"{c.detail} | {c.fix}" for c in report.failed}


def test_a_pinned_project_passes(proj: Project) -> None:
    report = preflight(proj)
    assert report.passed and report.verdict == "passed"
    assert (report.pinned().checkout / "data.yaml").is_file()
    assert [c.name for c in report.checks] == [
        "git_repo",
        "dirty_code",
        "dirty_conf",
        "seed",
        "task",
        "weights",
        "tracking",
        "artifacts",
        "registry",
        "snapshot",
        "snapshot_verified",
    ]


def test_the_report_lists_the_checks_in_the_documented_order(proj: Project) -> None:
    assert [c.name for c in preflight(proj).checks] == list(CHECKS)


def test_the_pinned_run_carries_what_the_preflight_checked(proj: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tracking URI, artifact location and lineage, each the one the report shows (the run starts from them)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    job = compose_job(proj.root, ["data=DS-1.0.0"])
    report = preflight_job(job, project=proj, entry_point=proj.root / "train.py")
    pinned, shown = report.pinned(), {c.name: c.detail for c in report.checks}
    assert pinned.tracking_uri == shown["tracking"] == f"sqlite:///{proj.root}/mlflow.db"
    assert pinned.artifact_location == shown["artifacts"] == (proj.root / "mlruns").as_uri()
    manifest = load_manifest(proj, "DS-1.0.0")
    lineage = pinned.lineage
    assert (lineage.snapshot_id, lineage.manifest_sha256, lineage.split_seed) == ("DS-1.0.0", manifest.sha256, 42)
    assert (lineage.commit, lineage.dirty, lineage.branch) == (pinned.git.commit, False, "main")
    assert (lineage.config_sha256, lineage.hparams_sha256) == (config_digest(job), hparams_digest(job))
    assert (lineage.train_seed, lineage.preflight, pinned.verdict) == (0, "passed", "passed")
    assert lineage.source_name == str(proj.root / "train.py") and lineage.init_weights_sha256 is None


def test_a_server_decides_the_artifact_location(proj: Project) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    report = preflight(proj, f"tracking.uri=http://127.0.0.1:{port}")
    assert {c.name: c.detail for c in report.checks}["artifacts"] == "mlflow-artifacts: (through the tracking server)"


def test_an_unseeded_run_that_is_let_through_records_the_seed_it_draws(proj: Project) -> None:
    job = compose_job(proj.root, ["data=DS-1.0.0", "train.seed=null", "preflight.allow=[seed]"])
    lineage = preflight_job(job, project=proj).pinned().lineage
    assert isinstance(lineage.train_seed, int)
    seeded = compose_job(proj.root, ["data=DS-1.0.0", f"train.seed={lineage.train_seed}"])
    assert lineage.config_sha256 == config_digest(seeded) != config_digest(job)
    assert lineage.preflight == "overridden: seed (train.seed is null: the run cannot be repeated)"


def test_dirty_code_is_refused_and_can_be_overridden(proj: Project) -> None:
    (proj.root / "train.py").write_text("# changed\n")
    assert failed(preflight(proj)) == {
        "dirty_code": "1 uncommitted: train.py | commit or stash them (an imported file must be tracked, not ignored), or override with preflight.allow=[dirty_code]"
    }
    report = preflight(proj, "preflight.allow=[dirty_code]")
    assert report.passed
    assert report.verdict == "overridden: dirty_code (1 uncommitted: train.py)"


def test_untracked_conf_file_is_refused(proj: Project) -> None:
    (proj.root / "conf" / "model" / "mine.yaml").write_text("name: mine\n")
    assert set(failed(preflight(proj))) == {"dirty_conf"}
    assert "conf/model/mine.yaml" in failed(preflight(proj))["dirty_conf"]


def test_unseeded_run_is_refused(proj: Project) -> None:
    assert set(failed(preflight(proj, "train.seed=null"))) == {"seed"}


def test_not_a_git_repository(proj: Project) -> None:
    shutil.rmtree(proj.root / ".git")
    problems = failed(preflight(proj))
    assert set(problems) == {"git_repo"}
    assert "not in a git repository" in problems["git_repo"]
    with pytest.raises(ConfigError, match="cannot be overridden"):
        preflight(proj, "preflight.allow=[git_repo]")


def test_every_failure_is_listed_at_once(proj: Project) -> None:
    (proj.root / "train.py").write_text("# changed\n")
    report = preflight(proj, "train.seed=null", "model=yolo-cls", "model.weights=missing.pt")
    assert set(failed(report)) == {"dirty_code", "seed", "task", "weights"}
    with pytest.raises(PreflightError) as info:
        report.pinned()
    assert len(info.value.problems) == 4
    assert "4 of 11 checks failed" in str(info.value)


def test_drifted_checkout_is_reported_by_path(proj: Project) -> None:
    report = preflight(proj)
    victim = report.pinned().checkout / "labels" / "shape_0003.txt"
    os.chmod(victim, stat.S_IWUSR | stat.S_IRUSR)
    victim.write_text("0 0.5 0.5 0.1 0.1\n")
    problems = failed(preflight(proj))
    assert set(problems) == {"snapshot_verified"}
    assert "labels/shape_0003.txt" in problems["snapshot_verified"]


def test_corrupt_store_object_is_refused(proj: Project) -> None:
    manifest = load_manifest(proj, "DS-1.0.0")
    obj = ObjectStore(proj.store_dir).object_path(manifest.files[0].sha256)
    os.chmod(obj, 0o644)
    obj.write_bytes(b"rotten")
    problems = failed(preflight(proj))
    assert set(problems) == {"snapshot_verified"}
    assert manifest.files[0].sha256[:12] in problems["snapshot_verified"]


def test_edited_pin_is_refused(proj: Project) -> None:
    pin = proj.conf_data_dir / "DS-1.0.0.yaml"
    text = pin.read_text()
    sha = load_manifest(proj, "DS-1.0.0").sha256
    pin.write_text(text.replace(sha, "0" * 64))
    problems = failed(preflight(proj))
    assert {"snapshot", "dirty_conf"} == set(problems)
    assert "restore conf/data/DS-1.0.0.yaml" in problems["snapshot"]


def test_unknown_snapshot_lists_the_known_ones(proj: Project) -> None:
    with pytest.raises(ConfigError, match="Could not find 'data/DS-9.9.9'") as info:
        compose_job(proj.root, ["data=DS-9.9.9"])
    assert "DS-1.0.0" in str(info.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epoch=3", "Could not override 'train.epoch'"),
        ("train.epochs=many", "train.epochs"),
        ("model.colour=red", "model.colour"),
        ("registry.bump=mayor", "registry.bump"),
        ("model.task=detekt", "model.task"),
    ],
)
def test_unknown_keys_and_wrong_types_fail_at_composition(proj: Project, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        compose_job(proj.root, ["data=DS-1.0.0", override])


def test_unknown_override_name_is_refused(proj: Project) -> None:
    with pytest.raises(ConfigError, match="unknown checks"):
        preflight(proj, "preflight.allow=[dirty_everything]")


def test_unreachable_tracking_server_fails_fast(proj: Project) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    problems = failed(preflight(proj, f"tracking.uri=http://127.0.0.1:{port}"))
    assert set(problems) == {"tracking"}
    assert f"cannot reach the tracking server at http://127.0.0.1:{port}" in problems["tracking"]


def test_file_store_uri_is_refused(proj: Project) -> None:
    with pytest.raises(ConfigError, match="file store"):
        preflight(proj, f"tracking.uri={proj.root / 'mlruns'}")


def test_tracking_uri_is_absolute_and_env_overridable(proj: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow_cv.tracking.store import resolve_tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(None, project_root=proj.root) == f"sqlite:///{proj.root}/mlflow.db"
    assert resolve_tracking_uri("sqlite:///x/m.db", project_root=proj.root) == f"sqlite:///{proj.root}/x/m.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert resolve_tracking_uri(None, project_root=proj.root) == "http://127.0.0.1:5000"
    assert resolve_tracking_uri("sqlite:////abs/m.db", project_root=proj.root) == "sqlite:////abs/m.db"


def test_config_id_covers_training_sections_only(proj: Project) -> None:
    base = compose_job(proj.root, ["data=DS-1.0.0"])
    assert config_digest(base) == config_digest(compose_job(proj.root, ["data=DS-1.0.0", "tracking.experiment=x"]))
    assert config_digest(base) != config_digest(compose_job(proj.root, ["data=DS-1.0.0", "train.lr0=0.02"]))
    params = flat_params(base)
    assert params["train.epochs"] == "50" and params["data.snapshot_id"] == "DS-1.0.0"
    assert not any(k.startswith(("tracking.", "preflight.")) for k in params)


def test_cli_preflight_exit_status(proj: Project) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["preflight", "--project", str(proj.root), "data=DS-1.0.0"])
    assert ok.exit_code == 0, ok.output
    assert "snapshot_verified" in ok.output
    bad = runner.invoke(cli, ["preflight", "--project", str(proj.root), "data=DS-1.0.0", "train.seed=null"])
    assert bad.exit_code == 1
    assert "FAIL     seed" in bad.output
    unknown = runner.invoke(cli, ["preflight", "--project", str(proj.root), "data=DS-9.9.9"])
    assert unknown.exit_code == 2 and "DS-1.0.0" in unknown.output
