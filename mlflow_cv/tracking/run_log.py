"""What a training logs to MLflow, executed in the writer process (:mod:`mlflow_cv.tracking.writer`).

The training process sends these calls in order: :func:`open_run` as training starts, :func:`warm_up`,
:func:`log_metrics` after each epoch, :func:`log_results` once the best weights exist, and
:func:`end_run` last. Their arguments are plain values (paths, mappings, frozen dataclasses: the
:class:`~mlflow_cv.tracking.preflight.PinnedRun`, the :class:`~mlflow_cv.tracking.artifacts.RunFiles`)
that pickle; the hashing of what is logged happens in the training process, before the files are handed
over.

While the run is open an owner record (:mod:`mlflow_cv.tracking.doctor`) says which training and writer
hold it, so that whichever outlives the other, or a later process when both die, can end it.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Collection, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mlflow_cv.errors import TrackingError
from mlflow_cv.tags import TAG_ARTIFACTS_SHA256, TAG_MODEL_ID, TAG_SNAPSHOT
from mlflow_cv.tracking.artifacts import ARTIFACT_INDEX, index_text
from mlflow_cv.tracking.lineage import active_lineage

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlflow_cv.tracking.artifacts import RunFiles
    from mlflow_cv.tracking.doctor import Process
    from mlflow_cv.tracking.preflight import PinnedRun

__all__ = ["end_run", "log_metrics", "log_results", "now_ms", "open_run", "warm_up"]


_records: dict[str, Path] = {}  # run id → its owner record, while the run is open


def now_ms() -> int:
    return int(time.time() * 1000)


def open_run(
    pinned: PinnedRun,
    *,
    experiment: str,
    run_name: str | None,
    params: Mapping[str, Any],
    tags: Mapping[str, str],
    files: RunFiles,
    owner_records: Path,
    owner: Process,
) -> None:
    """Start the run in the store ``pinned`` checked (a new ``experiment`` at its artifact location), tagged
    with its lineage by the run context provider, and record in ``owner_records`` that the training
    ``owner`` and this writer hold it; then log ``params``, ``tags``, one dataset input per split and
    ``files``."""
    import mlflow

    from mlflow_cv.tracking.dataset import snapshot_datasets
    from mlflow_cv.tracking.doctor import Process, write_record

    tracking_uri, lineage = pinned.tracking_uri, pinned.lineage
    mlflow.set_tracking_uri(tracking_uri)
    experiment_id = _experiment(experiment, tracking_uri, pinned.artifact_location)
    with active_lineage(lineage):
        run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name)
    run_id = run.info.run_id
    _records[run_id] = write_record(
        owner_records, run_id, tracking_uri=tracking_uri, owner=owner, writer=Process.current()
    )
    if run.data.tags.get(TAG_SNAPSHOT) != lineage.snapshot_id:
        warnings.warn(
            "mlflow-cv's run context provider did not tag the run (is the package installed with pip?); "
            "setting the lineage tags directly",
            stacklevel=2,
        )
        mlflow.set_tags(lineage.tags())
    mlflow.log_params(dict(params))
    mlflow.set_tags(dict(tags))
    datasets = snapshot_datasets(pinned.manifest, pinned.manifest_path)
    mlflow.log_inputs(
        datasets=cast(list[Any], datasets), contexts=[d.split for d in datasets], tags_list=[None] * len(datasets)
    )
    _log_artifacts(files.paths)


def warm_up(*, ultralytics_config: Path) -> None:
    """Import, while the training runs, what logging the model needs at its end (seconds otherwise)."""
    import pandas  # noqa: F401

    from mlflow_cv.serving import flavor  # noqa: F401
    from mlflow_cv.yolo.settings import configure_ultralytics

    configure_ultralytics(ultralytics_config)  # imports Ultralytics: log_model loads the model it logs
    import torchvision  # noqa: F401  (imported by Ultralytics' first prediction, on the input example)

    from mlflow_cv._mlflow import init_packages_to_modules_map

    init_packages_to_modules_map()  # MLflow's map of installed packages, built on the first log_model otherwise


def log_metrics(metrics: Mapping[str, float], *, step: int, timestamp_ms: int) -> None:
    from mlflow.entities import Metric

    metrics_list = [Metric(k, float(v), timestamp_ms, step) for k, v in metrics.items()]
    _client().log_batch(_active_run_id(), metrics=metrics_list, synchronous=True)


def log_results(
    *,
    files: RunFiles,
    logged: Collection[str],
    tags: Mapping[str, str],
    model: Mapping[str, Any],
    example_image: Path,
) -> str:
    """Log the ``files`` not ``logged`` yet (by :func:`open_run`), the index of every file's hash, the
    servable model (keyword arguments of :func:`mlflow_cv.serving.flavor.log_model`, with ``example_image``
    as its input example) and ``tags``; returns the model's id."""
    import mlflow
    import pandas as pd

    from mlflow_cv.serving import flavor

    _log_artifacts({name: path for name, path in files.paths.items() if name not in logged})
    index = index_text(files.hashes)
    mlflow.log_text(index, ARTIFACT_INDEX)
    example = pd.DataFrame({"image": [example_image.read_bytes()]})
    info = flavor.log_model(name="model", input_example=example, **model)
    mlflow.set_tags(
        {**tags, TAG_ARTIFACTS_SHA256: hashlib.sha256(index.encode()).hexdigest(), TAG_MODEL_ID: info.model_id}
    )
    return str(info.model_id)


def end_run(status: str) -> tuple[str, str] | None:
    """End the active run with ``status`` and remove its owner record; its run and experiment ids, or
    None when none was started."""
    import mlflow

    from mlflow_cv.tracking.doctor import remove_record

    run = mlflow.active_run()
    if run is None:
        return None
    mlflow.end_run(status)
    record = _records.pop(run.info.run_id, None)
    if record is not None:
        remove_record(record)
    return run.info.run_id, run.info.experiment_id


def _experiment(name: str, tracking_uri: str, artifact_location: str | None) -> str:
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        found = mlflow.get_experiment_by_name(name)
        if found is not None and found.lifecycle_stage == "deleted":
            raise TrackingError(
                f"experiment {name!r} is deleted in {tracking_uri}; restore it (mlflow experiments restore "
                f"--experiment-id {found.experiment_id}) or train into another one (tracking.experiment=NAME)"
            )
        if found is not None:
            return str(found.experiment_id)
        from mlflow_cv.tags import EXPERIMENT_KIND, KIND_MODEL_TRAINING

        return str(
            mlflow.create_experiment(
                name, artifact_location=artifact_location, tags={EXPERIMENT_KIND: KIND_MODEL_TRAINING}
            )
        )
    except MlflowException as exc:
        raise TrackingError(f"tracking store {tracking_uri} refused experiment {name!r}: {exc.message}") from exc


def _log_artifacts(artifacts: Mapping[str, Path]) -> None:
    import mlflow

    for name, local in artifacts.items():
        folder = str(Path(name).parent)
        mlflow.log_artifact(str(local), artifact_path=None if folder == "." else folder)


def _active_run_id() -> str:
    import mlflow

    run = mlflow.active_run()
    if run is None:
        raise TrackingError("no MLflow run is open in the writer (open_run failed or was not sent)")
    return str(run.info.run_id)


@cache
def _client() -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient()
