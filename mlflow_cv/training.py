"""The training job: typed config → preflight → Ultralytics → lineage, metrics and artifacts in MLflow.

``train.py`` hands Hydra's config to :func:`main`, which finds the project from Hydra's runtime (the
folder holding ``conf/``, not the current directory, which Hydra may change) and calls :func:`train`,
the plain function tests and other code call directly. Nothing trains before the preflight passes;
the run starts from what it pinned (:class:`~mlflow_cv.tracking.preflight.PinnedRun`: tracking URI,
artifact location, lineage), and Ultralytics reads the verified checkout of the snapshot, never the
working folder. The run's files and their hashes travel as one value (:class:`RunFiles`) from staging
to logging. A finished run leaves a result record in the output folder for the program that ran the job
(:mod:`mlflow_cv.tracking.result_record`), and registers its model when ``registry.name`` is set.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml

from mlflow_cv.canonical import canonical_json
from mlflow_cv.config import JobConfig, flat_params, job_dict, job_pin, register_configs, seeded
from mlflow_cv.data.checkout import DERIVED_PATTERN, verify
from mlflow_cv.errors import ConfigError, MlflowCvError, TrackingError, TrainingError
from mlflow_cv.project import Project
from mlflow_cv.tags import (
    TAG_ARCH_SHA256,
    TAG_LABELMAP_SHA256,
    TAG_TASK,
    TAG_WEIGHTS_DIGEST,
    TAG_WEIGHTS_SHA256,
    val_metric,
)
from mlflow_cv.tracking import run_log
from mlflow_cv.tracking.artifacts import RunFiles
from mlflow_cv.tracking.git import loaded_code
from mlflow_cv.tracking.lineage import Lineage, active_lineage
from mlflow_cv.tracking.preflight import PinnedRun, PreflightReport, run_preflight

if TYPE_CHECKING:
    from mlflow_cv.registry.register import Registration
from mlflow_cv.serving.processing import labelmap_json
from mlflow_cv.tracking.result_record import ResultRecord, write_result
from mlflow_cv.tracking.store import using_tracking_uri
from mlflow_cv.tracking.writer import RunWriter
from mlflow_cv.yolo.export import example_image
from mlflow_cv.yolo.fit import FitResult, fit
from mlflow_cv.yolo.settings import configure_ultralytics
from mlflow_cv.yolo.weights import WeightsInfo, weights_info

__all__ = ["TrainResult", "compose_job", "main", "preflight_job", "train"]

# Ultralytics outputs worth keeping with the run (plots, the results table, its own resolved args)
_ULTRALYTICS_OUTPUTS = ("*.png", "*.jpg", "results.csv", "args.yaml")
CODE_RECORD = "lineage/code.json"  # the project files the job imported: path → git blob id
STAGING = "mlflow-cv"  # the folder under the job's output folder where the run's own files are written
_HEADLINE = tuple(map(val_metric, ("mAP50", "mAP50-95", "mask_mAP50", "pose_mAP50", "accuracy_top1")))


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    experiment_id: str
    tracking_uri: str
    lineage: Lineage
    weights: WeightsInfo
    metrics: Mapping[str, float]  # final metrics of the best weights, per class included
    save_dir: Path  # Ultralytics' output folder
    project_root: Path
    seconds: float
    registration: Registration | None = None

    def summary(self) -> str:
        shown = "  ".join(f"{k}={self.metrics[k]:.4f}" for k in _HEADLINE if k in self.metrics)
        local = self.tracking_uri.startswith("sqlite:")  # the embedded store: open it through the guards
        compare = f"mlflow-cv ui --project {self.project_root}" if local else f"open {self.tracking_uri}"
        lineage, reg = self.lineage, self.registration
        return "\n".join(
            [
                f"run {self.run_id} finished in {self.seconds:.0f} s",
                f"  snapshot   {lineage.snapshot_id} (manifest {lineage.manifest_sha256[:12]}…)",
                f"  commit     {lineage.commit[:12]}{' (dirty)' if lineage.dirty else ''}",
                f"  config     {lineage.config_id}",
                f"  preflight  {lineage.preflight}",
                f"  metrics    {shown or 'none'}",
                f"  weights    {self.weights.sha256[:12]}… (tensors {self.weights.digest[:12]}…)",
                *([f"  registered {reg.name} v{reg.semver} ({reg.bump.name})"] if reg else []),
                f"compare runs: {compare}   (experiment {self.experiment_id})",
            ]
        )


def compose_job(project_root: Path, overrides: Sequence[str] = ()) -> JobConfig:
    """Compose ``<project>/conf/config.yaml`` with ``overrides`` as ``train.py`` would, as a typed object."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    register_configs()
    conf = (project_root / "conf").resolve()
    if not (conf / "config.yaml").is_file():
        raise ConfigError(f"{conf / 'config.yaml'} does not exist: run from the project (or pass --project)")
    try:
        with initialize_config_dir(str(conf), version_base="1.3"):
            cfg = compose("config", overrides=list(overrides))
        return cast(JobConfig, OmegaConf.to_object(cfg))
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(f"cannot compose the config: {exc}") from exc


def preflight_job(
    job: JobConfig,
    *,
    project: Project,
    entry_point: Path | None = None,
    trains: JobConfig | None = None,
    show_progress: bool = False,
) -> PreflightReport:
    """The preflight report of ``job`` (what :func:`train` runs first). Its pinned run carries the lineage
    of ``trains``, the job as it will train (default: ``job`` with an unset seed drawn, :func:`seeded`), run
    by ``entry_point`` (default: the project's ``train.py``)."""
    pin = job_pin(trains or seeded(job), source_name=str(entry_point or project.root / "train.py"))
    return run_preflight(job, project=project, pin=pin, show_progress=show_progress)


def main(cfg: Any) -> TrainResult:
    """The body of ``train.py``'s ``@hydra.main``: errors become one clean message and exit status 2."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    runtime = HydraConfig.get().runtime
    conf_dir = next(Path(s.path) for s in runtime.config_sources if s.provider == "main" and s.schema == "file")
    entry = Path(runtime.cwd, sys.argv[0]).resolve()
    try:
        result = train(
            cast(JobConfig, OmegaConf.to_object(cfg)),
            project=Project.at(conf_dir.parent),
            output_dir=Path(runtime.output_dir),
            entry_point=entry,
            overrides=tuple(HydraConfig.get().overrides.task),
        )
    except MlflowCvError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(result.summary())
    return result


def train(
    job: JobConfig,
    *,
    project: Project,
    output_dir: Path,
    entry_point: Path | None = None,
    overrides: Sequence[str] = (),
) -> TrainResult:
    """Preflight, then train with Ultralytics in one MLflow run that carries the full lineage.

    The run ends ``FINISHED`` only when everything was logged; ``KILLED`` on Ctrl-C and ``FAILED`` on
    any other error, so a half-logged run is never mistaken for a finished one.
    """

    started = time.monotonic()
    trains = seeded(job)  # an unset seed (only an overridden preflight lets it through) is drawn and recorded
    report = preflight_job(job, project=project, entry_point=entry_point, trains=trains, show_progress=True)
    print(report.table(), file=sys.stderr)
    pinned = report.pinned()
    with using_tracking_uri(pinned.tracking_uri), _data_held(pinned.checkout):
        return _tracked_run(trains, pinned, output_dir, overrides, started)


@contextmanager
def _data_held(checkout: Path) -> Iterator[None]:
    """While training: Ultralytics' label caches (derived data, never verified) are dropped so it
    rebuilds them from the verified labels, and the checkout's folders are read-only. Whatever still
    changes it (root ignores modes) is caught by the verify at the end (:func:`_check_still_pinned`)."""
    for cache in checkout.rglob(DERIVED_PATTERN):
        cache.unlink()
    folders = [checkout, *(p for p in checkout.rglob("*") if p.is_dir())]
    for folder in folders:
        folder.chmod(0o555)
    try:
        yield
    finally:
        for folder in folders:
            folder.chmod(0o755)


def _tracked_run(
    job: JobConfig, pinned: PinnedRun, output_dir: Path, overrides: Sequence[str], started: float
) -> TrainResult:
    """Train while the writer process (:mod:`mlflow_cv.tracking.writer`) logs the run beside it."""
    project, tracking_uri = pinned.project, pinned.tracking_uri
    ultralytics_config = project.state_dir / "ultralytics"
    configure_ultralytics(ultralytics_config)
    inputs = _stage_inputs(job, pinned, overrides, RunFiles(folder=output_dir / STAGING))
    from mlflow_cv.tracking import doctor

    orphans = doctor.end_orphaned_runs(project, tracking_uri=tracking_uri)  # runs left by trainings now gone
    if orphans.ended or orphans.problems:
        print(orphans, file=sys.stderr)
    with RunWriter() as writer, active_lineage(pinned.lineage):  # runs started inside carry the lineage too
        writer.send(
            run_log.open_run,
            pinned,
            experiment=job.tracking.experiment,
            run_name=job.tracking.run_name,
            params=flat_params(job),
            tags={TAG_LABELMAP_SHA256: inputs.sha256("labelmap.json")},
            files=inputs,
            owner_records=doctor.runs_dir(project),
            owner=doctor.Process.current(),
        )
        writer.send(run_log.warm_up, ultralytics_config=ultralytics_config)
        try:
            fitted = _fit(job, pinned, writer, output_dir)
            files = _check_still_pinned(pinned, inputs)
            weights = _log_results(writer, job, pinned, fitted.save_dir, files, logged=inputs.names)
            ended = writer.call(run_log.end_run, "FINISHED")
        except KeyboardInterrupt:
            marked = _end_run(writer, "KILLED", project)
            print(f"interrupted: run {marked or '(none)'} marked KILLED", file=sys.stderr)
            raise
        except BaseException as exc:
            marked = _end_run(writer, "FAILED", project)
            if writer.exit_status is None:
                raise
            raise TrackingError(
                f"the MLflow writer process died ({writer.exit_status}), so the training stopped; "
                + (f"run {marked} marked FAILED by the training process" if marked else "it had recorded no run")
            ) from exc
    if ended is None:
        raise TrackingError("the MLflow writer held no run at the end of training")
    run_id, experiment_id = ended
    record = ResultRecord(
        run_id=run_id,
        experiment_id=experiment_id,
        tracking_uri=tracking_uri,
        weights_sha256=weights.sha256,
        weights_digest=weights.digest,
    )
    write_result(output_dir, record)  # for the program that ran train.py (mlflow-cv reproduce)
    registration = None
    if job.registry.name:
        from mlflow_cv.registry.client import registry_client
        from mlflow_cv.registry.register import register
        from mlflow_cv.semver import Bump

        client, bump = registry_client(tracking_uri), Bump.choice(job.registry.bump)
        registration = register(client, run_id, name=job.registry.name, project=project, bump=bump)
    return TrainResult(
        run_id=run_id,
        experiment_id=experiment_id,
        tracking_uri=tracking_uri,
        lineage=pinned.lineage,
        weights=weights,
        metrics=fitted.metrics,
        save_dir=fitted.save_dir,
        seconds=time.monotonic() - started,
        registration=registration,
        project_root=project.root,
    )


def _end_run(writer: RunWriter, status: str, project: Project) -> str | None:
    """End the run on the way out of a failed training, without hiding why the training failed: through
    the writer, else (the writer is dead) from here, through a fresh MLflow client. The run's id, if any."""
    try:
        ended = writer.call(run_log.end_run, status)
        return str(ended[0]) if ended else None
    except MlflowCvError as exc:
        if writer.exit_status is None:
            print(f"error: could not mark the run {status}: {exc}", file=sys.stderr)
            return None
    from mlflow_cv.tracking.doctor import Process, end_runs_owned_by

    why = f"its MLflow writer process died ({writer.exit_status}); the training stopped and ended the run itself"
    result = end_runs_owned_by(project, Process.current(), status=status, why=why)
    for problem in result.problems:
        print(f"error: {problem}", file=sys.stderr)
    return result.ended[0].run_id if result.ended else None


def _stage_inputs(job: JobConfig, pinned: PinnedRun, overrides: Sequence[str], files: RunFiles) -> RunFiles:
    """``files`` with the lineage artifacts logged before training (manifest, resolved config, overrides,
    label map) staged."""
    manifest = pinned.manifest
    return (
        files.stage(f"data/{manifest.snapshot_id}.json", pinned.manifest_path.read_bytes())
        .stage("config/resolved.yaml", yaml.safe_dump(job_dict(job), sort_keys=True).encode())
        .stage("config/overrides.yaml", yaml.safe_dump(list(overrides)).encode())
        .stage("labelmap.json", labelmap_json(manifest.class_map).encode())
    )


def _fit(job: JobConfig, pinned: PinnedRun, writer: RunWriter, output_dir: Path) -> FitResult:
    """Train with Ultralytics; per-epoch metrics are logged as they come, per-class ones at the end."""
    arch = pinned.project_root / job.model.arch  # a project-relative YAML if one exists, else Ultralytics' own
    task = str(job.model.task)

    def log(metrics: dict[str, float], step: int) -> None:
        writer.send(run_log.log_metrics, metrics, step=step, timestamp_ms=run_log.now_ms())

    fitted = fit(
        model=str(pinned.weights_path or (arch if arch.is_file() else job.model.arch)),
        task=task,
        data=pinned.checkout if task == "classify" else pinned.checkout / "data.yaml",
        train=job.train,
        output_dir=output_dir,
        class_map=pinned.manifest.class_map,
        on_metrics=log,
        slice_of=_slice_of(pinned),
    )
    log(fitted.per_class, fitted.steps)
    return fitted


def _slice_of(pinned: PinnedRun) -> dict[str, dict[str, str]]:
    """The snapshot's attributes by image path in the checkout: attribute → {path: value}."""
    manifest = pinned.manifest
    return {
        attr: {str((pinned.checkout / manifest.image_of[item]).resolve()): value for item, value in values.items()}
        for attr, values in manifest.attributes.items()
    }


def _check_still_pinned(pinned: PinnedRun, files: RunFiles) -> RunFiles:
    """What the run says it trained on is what it trained on: the checkout still verifies (stat cache,
    cheap), and every project file the job imported is committed; ``files`` with the loaded set staged."""
    report = verify(pinned.project, pinned.manifest.snapshot_id, pinned.checkout, manifest=pinned.manifest)
    if not report.ok:
        raise TrainingError(
            f"the data of {pinned.manifest.snapshot_id} changed under the run in {pinned.checkout}; the run is not "
            "a run on that snapshot (delete the checkout and train again)",
            problems=report.problems(),
        )
    code = loaded_code(pinned.project_root)
    if code.unpinned and "dirty_code" not in pinned.allow:
        raise TrainingError(
            "the training imported project code that no commit holds; commit it (or override with "
            "preflight.allow=[dirty_code], which is recorded)",
            problems=code.unpinned,
        )
    return files.stage(CODE_RECORD, (canonical_json(code.to_dict()) + "\n").encode())


def _log_results(
    writer: RunWriter, job: JobConfig, pinned: PinnedRun, save_dir: Path, files: RunFiles, *, logged: frozenset[str]
) -> WeightsInfo:
    """Hash the best weights and Ultralytics' plots and tables here, then have the writer log them and
    the ``files`` not ``logged`` yet, with the index of every hash and the servable model; waits until all
    of it is logged."""
    best = save_dir / "weights" / "best.pt"
    if not best.is_file():
        raise TrainingError(f"Ultralytics finished without {best}; nothing to log as the model")
    weights = weights_info(best)
    files = files.add("weights/best.pt", best, sha256=weights.sha256)
    for pattern in _ULTRALYTICS_OUTPUTS:
        for path in sorted(save_dir.glob(pattern)):
            files = files.add(f"ultralytics/{path.name}", path)
    writer.call(
        run_log.log_results,
        files=files,
        logged=logged,
        tags={
            TAG_WEIGHTS_SHA256: weights.sha256,
            TAG_WEIGHTS_DIGEST: weights.digest,
            TAG_ARCH_SHA256: weights.arch_sha256,
            TAG_TASK: str(job.model.task),
        },
        model={
            "weights": best,
            "labelmap": pinned.manifest.class_map,
            "task": str(job.model.task),
            "imgsz": job.train.imgsz,
        },
        example_image=example_image(pinned.checkout, str(job.model.task)),
    )
    return weights
