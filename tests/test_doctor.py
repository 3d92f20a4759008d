"""Runs left RUNNING by trainings that are gone, ended by `mlflow-cv runs doctor` (mlflow_cv.tracking.doctor).

The records here are what a writer writes when it opens a run; their processes are real ones that have
exited, this test process (alive) or this test process under another start time (its pid reused).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner
from mlflow import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE

from mlflow_cv.cli import cli
from mlflow_cv.project import Project
from mlflow_cv.tracking.doctor import Process, end_orphaned_runs, end_runs_owned_by, runs_dir, write_record


def _gone() -> Process:
    """A process that ran and has exited (and been reaped)."""
    child = subprocess.Popen(["sleep", "60"])
    process = Process.of(child.pid)
    child.kill()
    child.wait()
    assert process is not None and not process.alive()
    return process


def _store(project: Project) -> tuple[str, MlflowClient, str]:
    uri = f"sqlite:///{project.root / 'mlflow.db'}"
    project.root.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(uri)
    return uri, client, client.create_experiment("doctor")


def test_doctor_ends_runs_whose_training_is_gone_and_leaves_live_ones_alone(project: Project) -> None:
    uri, client, experiment = _store(project)
    gone, me = _gone(), Process.current()
    reused = replace(me, start_time=(me.start_time or 0) - 1)  # this pid, but another process once held it
    runs = {name: client.create_run(experiment).info.run_id for name in ("orphan", "reused", "live", "finished")}
    owners = {"orphan": (gone, gone), "reused": (reused, gone), "live": (me, gone), "finished": (gone, gone)}
    for name, (owner, writer) in owners.items():
        write_record(runs_dir(project), runs[name], tracking_uri=uri, owner=owner, writer=writer)
    client.set_terminated(runs["finished"], "FINISHED")  # its record outlived it: forgotten, run untouched

    out = CliRunner().invoke(cli, ["runs", "doctor", "--project", str(project.root)])

    assert out.exit_code == 0, out.output
    assert f"ended run {runs['orphan']} as KILLED: its training (pid {gone.pid}" in out.output
    assert f"ended run {runs['reused']} as KILLED" in out.output
    assert f"left run {runs['live']} alone: its training is still running (pid {os.getpid()})" in out.output
    status = {name: client.get_run(run_id).info.status for name, run_id in runs.items()}
    assert status == {"orphan": "KILLED", "reused": "KILLED", "live": "RUNNING", "finished": "FINISHED"}
    assert "are gone" in client.get_run(runs["orphan"]).data.tags[MLFLOW_RUN_NOTE]
    assert sorted(p.stem for p in runs_dir(project).glob("*.json")) == [runs["live"]]

    again = CliRunner().invoke(cli, ["runs", "doctor", "--project", str(project.root)])
    assert again.exit_code == 0 and "ended" not in again.output, again.output
    assert f"left run {runs['live']} alone" in again.output
    assert client.get_run(runs["live"]).info.status == "RUNNING"
    client.set_terminated(runs["live"], "FINISHED")


def test_only_the_named_store_and_the_owners_own_runs(project: Project, tmp_path: Path) -> None:
    uri, client, experiment = _store(project)
    gone, me = _gone(), Process.current()
    orphan, mine = client.create_run(experiment).info.run_id, client.create_run(experiment).info.run_id
    write_record(runs_dir(project), orphan, tracking_uri=uri, owner=gone, writer=gone)
    write_record(runs_dir(project), mine, tracking_uri=uri, owner=me, writer=gone)

    elsewhere = end_orphaned_runs(project, tracking_uri=f"sqlite:///{tmp_path / 'other.db'}")
    assert elsewhere.ended == () and client.get_run(orphan).info.status == "RUNNING"
    assert "no run of this project" in str(elsewhere)

    # a training whose writer died ends its own runs, and only those
    failed = end_runs_owned_by(project, me, status="FAILED", why="its writer died")
    assert [(e.run_id, e.status) for e in failed.ended] == [(mine, "FAILED")]
    assert client.get_run(mine).info.status == "FAILED" and client.get_run(orphan).info.status == "RUNNING"

    assert [e.run_id for e in end_orphaned_runs(project, tracking_uri=uri).ended] == [orphan]
    assert not list(runs_dir(project).glob("*.json"))
