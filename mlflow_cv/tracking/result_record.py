"""The result record a training leaves in its output folder: which run it made, for the program that ran it.

``train.py`` prints a summary for people. A program that runs it (``mlflow-cv reproduce``) reads
``<Hydra's output folder>/mlflow-cv/result.json`` instead: the canonical JSON of a :class:`ResultRecord`,
written (atomically) once the run has ended ``FINISHED``, so a failed training leaves none.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from mlflow_cv.canonical import canonical_json
from mlflow_cv.data.atomic import atomic_write_text
from mlflow_cv.errors import TrackingError

__all__ = ["RESULT_RECORD", "ResultRecord", "read_result", "write_result"]

RESULT_RECORD = "mlflow-cv/result.json"  # under the training's output folder


@dataclass(frozen=True)
class ResultRecord:
    run_id: str
    experiment_id: str
    tracking_uri: str  # the store the run is in
    weights_sha256: str  # of weights/best.pt
    weights_digest: str  # of its tensors (equal for a deterministic re-run)


def write_result(output_dir: Path, record: ResultRecord) -> Path:
    """Write ``record`` to ``output_dir/mlflow-cv/result.json``; its path."""
    path = output_dir / RESULT_RECORD
    atomic_write_text(path, canonical_json(asdict(record)) + "\n")
    return path


def read_result(output_dir: Path) -> ResultRecord:
    """The record a training left in ``output_dir``, or :class:`TrackingError` saying why there is none."""
    path = output_dir / RESULT_RECORD
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrackingError(f"the training left no result record {path}: it did not finish a run") from None
    except (OSError, ValueError) as exc:
        raise TrackingError(f"cannot read the result record {path}: {exc}") from exc
    names = {f.name for f in fields(ResultRecord)}
    if not isinstance(data, dict) or set(data) != names or not all(isinstance(v, str) for v in data.values()):
        raise TrackingError(f"{path} is not a result record: expected the text fields {', '.join(sorted(names))}")
    return ResultRecord(**data)
