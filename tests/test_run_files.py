"""The values a training hands on: its files and their hashes (staging to logging), and its result record."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from mlflow_cv.errors import TrackingError
from mlflow_cv.tracking.artifacts import RunFiles, index_text
from mlflow_cv.tracking.result_record import RESULT_RECORD, ResultRecord, read_result, write_result


def test_staged_and_added_files_keep_their_hashes_and_paths(tmp_path: Path) -> None:
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"tensors")
    empty = RunFiles(folder=tmp_path / "staged")
    staged = empty.stage("config/resolved.yaml", b"a: 1\n").stage("labelmap.json", b"{}")
    files = staged.add("weights/best.pt", weights)
    assert not empty.files and len(staged.files) == 2  # each step is a new value
    assert (tmp_path / "staged" / "config" / "resolved.yaml").read_bytes() == b"a: 1\n"
    assert files.paths == {
        "config/resolved.yaml": tmp_path / "staged" / "config" / "resolved.yaml",
        "labelmap.json": tmp_path / "staged" / "labelmap.json",
        "weights/best.pt": weights,
    }
    assert files.hashes == {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.paths.items()}
    assert files.sha256("labelmap.json") == hashlib.sha256(b"{}").hexdigest()
    assert files.names - staged.names == {"weights/best.pt"}
    assert json.loads(index_text(files.hashes)) == files.hashes
    assert files.add("given", weights, sha256="f" * 64).sha256("given") == "f" * 64  # a hash known already
    with pytest.raises(dataclasses.FrozenInstanceError):
        files.folder = tmp_path  # type: ignore[misc]


def test_a_name_is_taken_once(tmp_path: Path) -> None:
    files = RunFiles(folder=tmp_path).stage("labelmap.json", b"{}")
    with pytest.raises(TrackingError, match="labelmap.json is already among the run's files"):
        files.add("labelmap.json", tmp_path / "labelmap.json")


RECORD = ResultRecord(
    run_id="a" * 32,
    experiment_id="1",
    tracking_uri="sqlite:////p/mlflow.db",
    weights_sha256="b" * 64,
    weights_digest="c",
)


def test_the_result_record_reads_back(tmp_path: Path) -> None:
    path = write_result(tmp_path, RECORD)
    assert path == tmp_path / RESULT_RECORD
    assert read_result(tmp_path) == RECORD
    assert json.loads(path.read_text()) == dataclasses.asdict(RECORD)
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]  # no partial file left


def test_a_missing_or_foreign_result_record_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TrackingError, match="left no result record .*did not finish a run"):
        read_result(tmp_path)
    (tmp_path / RESULT_RECORD).parent.mkdir(parents=True)
    (tmp_path / RESULT_RECORD).write_text('{"run_id": "x"}')
    with pytest.raises(TrackingError, match="is not a result record: expected the text fields experiment_id"):
        read_result(tmp_path)
    (tmp_path / RESULT_RECORD).write_text("run abc finished")
    with pytest.raises(TrackingError, match="cannot read the result record"):
        read_result(tmp_path)
