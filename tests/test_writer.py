"""The writer process that logs a training's run beside it (mlflow_cv.tracking.writer)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from mlflow_cv.errors import TrackingError, TrainingError
from mlflow_cv.tracking.doctor import Process, runs_dir, write_record
from mlflow_cv.tracking.writer import RunWriter
from tests.helpers import REPO, writer_calls
from tests.helpers.data import ShapeStages
from tests.helpers.projects import TINY, client_for, make_train_project


def test_calls_run_in_the_writer_in_order_and_answer() -> None:
    with RunWriter() as writer:
        writer.send(writer_calls.echo, "queued")
        assert writer.call(writer_calls.echo, {"a": 1}) == {"a": 1}
        assert writer.call(writer_calls.pid) == writer.pid != os.getpid()


def test_a_failed_send_is_raised_once_at_the_next_call() -> None:
    with RunWriter() as writer:
        writer.send(writer_calls.fail_foreign)
        with pytest.raises(TrackingError, match="ValueError: not an mlflow-cv error"):
            writer.call(writer_calls.echo, 1)
        assert writer.call(writer_calls.echo, 2) == 2
        with pytest.raises(TrainingError, match="kept as it is"):
            writer.call(writer_calls.fail_ours)


def test_a_failed_send_stops_the_next_send() -> None:
    with RunWriter() as writer:
        writer.send(writer_calls.fail_foreign)
        deadline = time.monotonic() + 60
        with pytest.raises(TrackingError, match="ValueError"):  # as a training's next epoch would
            while time.monotonic() < deadline:
                writer.send(writer_calls.echo, 0)
                time.sleep(0.05)


def test_the_writer_ignores_ctrl_c() -> None:
    with RunWriter() as writer:
        assert writer.call(writer_calls.echo, "up") == "up"  # past start-up, when the handler is set
        os.kill(writer.pid, signal.SIGINT)
        assert writer.call(writer_calls.echo, "still up") == "still up"


def test_a_call_interrupted_by_ctrl_c_does_not_answer_the_next_one() -> None:
    """Ctrl-C while the training waits on the writer (say, for the model to be logged); the call that
    marks the run KILLED must get its own answer, not the interrupted call's."""
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)  # whatever earlier tests installed
    try:
        with RunWriter() as writer:
            assert writer.call(writer_calls.echo, "up") == "up"
            threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
            with pytest.raises(KeyboardInterrupt):
                writer.call(writer_calls.sleep_then, "interrupted", 2.0)
            assert writer.call(writer_calls.echo, "next") == "next"
    finally:
        signal.signal(signal.SIGINT, handler)


def test_a_writer_that_dies_is_a_clear_error() -> None:
    with RunWriter() as writer, pytest.raises(TrackingError, match=r"exited \(status 3\)"):
        writer.call(writer_calls.die)


@pytest.mark.slow
def test_a_writer_killed_mid_training_stops_it_and_its_run_is_failed(tmp_path: Path, shape_stages: ShapeStages) -> None:
    """kill -9 of the writer: the training stops at its next epoch and marks the run FAILED itself. As it
    started, it ended the run an earlier training left RUNNING when both its processes died."""
    project = make_train_project(tmp_path / "p", shapes=shape_stages, stages=("1.0.0",))
    client = client_for(project)
    orphan = client.create_run(client.create_experiment("earlier")).info.run_id
    child = subprocess.Popen(["sleep", "60"])
    gone = Process.of(child.pid)
    child.kill()
    child.wait()
    assert gone is not None
    uri = f"sqlite:///{project.root / 'mlflow.db'}"
    write_record(runs_dir(project), orphan, tracking_uri=uri, owner=gone, writer=gone)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "YOLO_"))}
    cmd = [sys.executable, "train.py", "data=DS-1.0.0", *TINY, "train.epochs=200", "tracking.experiment=killed"]
    proc = subprocess.Popen(
        cmd, cwd=project.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    record: dict[str, Any] | None = None
    deadline = time.monotonic() + 300
    while record is None and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(1)
        for path in runs_dir(project).glob("*.json"):
            found = json.loads(path.read_text())
            if found["run_id"] != orphan and client.get_metric_history(found["run_id"], "train/box_loss"):
                record = found
    assert record is not None, "training never logged an epoch"
    assert record["owner"]["pid"] == proc.pid
    os.kill(record["writer"]["pid"], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)  # 200 epochs would take far longer

    assert proc.returncode == 2, err[-3000:]
    assert "the MLflow writer process died (killed by SIGKILL), so the training stopped" in err
    assert f"run {record['run_id']} marked FAILED by the training process" in err
    assert client.get_run(record["run_id"]).info.status == "FAILED"
    assert client.get_run(orphan).info.status == "KILLED"
    assert not list(runs_dir(project).glob("*.json"))


def test_a_training_process_that_vanishes_leaves_its_run_killed(tmp_path: Path) -> None:
    """SIGKILL on the training process: the writer sees it go and ends the open run as KILLED."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    script = textwrap.dedent(f"""
        import os, signal
        from mlflow_cv.tracking.writer import RunWriter
        from tests.helpers import writer_calls
        writer = RunWriter()
        print(writer.call(writer_calls.start_run, {uri!r}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == -signal.SIGKILL, out.stderr
    run_id = out.stdout.strip()
    client = MlflowClient(uri)
    deadline = time.monotonic() + 60
    while client.get_run(run_id).info.status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert client.get_run(run_id).info.status == "KILLED"


def test_a_run_left_open_at_close_is_failed_not_finished(tmp_path: Path) -> None:
    """MLflow's own atexit hook would mark a run left open FINISHED; the writer ends it FAILED first."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with RunWriter() as writer:
        run_id = writer.call(writer_calls.start_run, uri)
    client = MlflowClient(uri)
    deadline = time.monotonic() + 60
    while client.get_run(run_id).info.status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert client.get_run(run_id).info.status == "FAILED"
