"""The training job: typed config → preflight → Ultralytics → lineage, metrics and artifacts in MLflow.

``train.py`` hands Hydra's config to :func:`main`, which finds the project from Hydra's runtime (the
folder holding ``conf/``, not the current directory, which Hydra may change) and calls :func:`train`,
the plain function tests and other code call directly. Nothing trains before the preflight passes;
Ultralytics reads the verified checkout of the snapshot, never the working folder.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml

from mlflow_cv.config import JobConfig, config_digest, flat_params, hparams_digest, register_configs
from mlflow_cv.data.hashing import sha256_file
from mlflow_cv.data.snapshots import Project
from mlflow_cv.errors import ConfigError, MlflowCvError, TrackingError, TrainingError
from mlflow_cv.tracking.lineage import (
    TAG_ARCH_SHA256,
    TAG_ARTIFACTS_SHA256,
    TAG_LABELMAP_SHA256,
    TAG_MODEL_ID,
    TAG_SNAPSHOT,
    TAG_TASK,
    TAG_WEIGHTS_DIGEST,
    TAG_WEIGHTS_SHA256,
    Lineage,
    active_lineage,
)
from mlflow_cv.tracking.preflight import PreflightReport, run_preflight

if TYPE_CHECKING:
    from mlflow_cv.registry.promotion import Registration
from mlflow_cv.serving.processing import labelmap_json
from mlflow_cv.tracking.server import resolve_tracking_uri, using_tracking_uri
from mlflow_cv.yolo import (
    WeightsInfo,
    configure_ultralytics,
    metric_name,
    per_class_metrics,
    strip_foreign_callbacks,
    weights_info,
)

__all__ = ["TrainResult", "compose_job", "main", "preflight_job", "train"]

register_configs()

ARTIFACT_INDEX = "lineage/artifacts.json"
# Ultralytics outputs worth keeping with the run (plots, the results table, its own resolved args)
_ULTRALYTICS_OUTPUTS = ("*.png", "*.jpg", "results.csv", "args.yaml")
_HEADLINE = ("val/mAP50", "val/mAP50-95", "val/mask_mAP50", "val/pose_mAP50", "val/accuracy_top1")


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    experiment_id: str
    tracking_uri: str
    lineage: Lineage
    weights: WeightsInfo
    metrics: Mapping[str, float]  # final metrics of the best weights, per class included
    save_dir: Path  # Ultralytics' output folder
    seconds: float
    registration: Registration | None = None

    def summary(self) -> str:
        shown = "  ".join(f"{k}={self.metrics[k]:.4f}" for k in _HEADLINE if k in self.metrics)
        db = self.tracking_uri if self.tracking_uri.startswith("sqlite:") else None
        compare = f"mlflow ui --backend-store-uri {db}" if db else f"open {self.tracking_uri}"
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

    conf = (project_root / "conf").resolve()
    if not (conf / "config.yaml").is_file():
        raise ConfigError(f"{conf / 'config.yaml'} does not exist: run from the project (or pass --project)")
    try:
        with initialize_config_dir(str(conf), version_base="1.3"):
            cfg = compose("config", overrides=list(overrides))
        return cast(JobConfig, OmegaConf.to_object(cfg))
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(f"cannot compose the config: {exc}") from exc


def preflight_job(job: JobConfig, *, project: Project, show_progress: bool = False) -> tuple[PreflightReport, str]:
    """The preflight report of ``job`` and the tracking URI it checked (what ``train`` runs first)."""
    tracking_uri = resolve_tracking_uri(job.tracking.uri, project_root=project.root)
    report = run_preflight(job, project=project, tracking_uri=tracking_uri, show_progress=show_progress)
    return report, tracking_uri


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
    report, tracking_uri = preflight_job(job, project=project, show_progress=True)
    print(report.table(), file=sys.stderr)
    report.raise_for_failures()
    if job.train.seed is None:  # overridden: train with a fresh seed, and record the one used
        job = replace(job, train=replace(job.train, seed=random.randrange(2**31)))
    assert report.git is not None and report.manifest is not None and report.checkout is not None
    lineage = Lineage(
        snapshot_id=report.manifest.snapshot_id,
        manifest_sha256=report.manifest.sha256,
        split_seed=report.manifest.split.seed,
        commit=report.git.commit,
        dirty=report.git.dirty,
        config_sha256=config_digest(job),
        hparams_sha256=hparams_digest(job),
        train_seed=job.train.seed,
        preflight=report.verdict,
        source_name=str(entry_point or project.root / "train.py"),
        branch=report.git.branch,
        remote_url=report.git.remote_url,
        init_weights_sha256=sha256_file(report.weights_path) if report.weights_path else None,
    )
    with using_tracking_uri(tracking_uri):
        return _tracked_run(job, report, lineage, project, tracking_uri, output_dir, overrides, started)


def _tracked_run(
    job: JobConfig,
    report: PreflightReport,
    lineage: Lineage,
    project: Project,
    tracking_uri: str,
    output_dir: Path,
    overrides: Sequence[str],
    started: float,
) -> TrainResult:
    import mlflow

    experiment_id = _experiment(job.tracking.experiment, tracking_uri, project)
    configure_ultralytics(project.state_dir / "ultralytics")
    with active_lineage(lineage):  # for the whole run: runs started inside it carry the lineage too
        run = mlflow.start_run(experiment_id=experiment_id, run_name=job.tracking.run_name)
        run_id = run.info.run_id
        try:
            _ensure_lineage_tags(run_id, lineage)
            logged = _log_inputs(job, report, overrides, output_dir)
            save_dir, final = _fit(job, report, run_id, output_dir)
            weights, more = _log_outputs(job, report, save_dir)
            logged.update(more)
            _log_index(logged)
            model_id = _log_pyfunc(job, report, save_dir)
            mlflow.set_tags(
                {
                    TAG_WEIGHTS_SHA256: weights.sha256,
                    TAG_WEIGHTS_DIGEST: weights.digest,
                    TAG_ARCH_SHA256: weights.arch_sha256,
                    TAG_TASK: job.model.task,
                    TAG_MODEL_ID: model_id,
                }
            )
        except KeyboardInterrupt:
            mlflow.end_run("KILLED")
            print(f"interrupted: run {run_id} marked KILLED", file=sys.stderr)
            raise
        except BaseException:
            mlflow.end_run("FAILED")
            raise
        mlflow.end_run("FINISHED")
    registration = None
    if job.registry.name:
        from mlflow_cv.registry.promotion import register, registry_client

        registration = register(registry_client(tracking_uri), run_id, name=job.registry.name, bump=job.registry.bump)
    return TrainResult(
        run_id=run_id,
        experiment_id=experiment_id,
        tracking_uri=tracking_uri,
        lineage=lineage,
        weights=weights,
        metrics=final,
        save_dir=save_dir,
        seconds=time.monotonic() - started,
        registration=registration,
    )


def _experiment(name: str, tracking_uri: str, project: Project) -> str:
    """The experiment's id, created if missing; with the embedded SQLite store its artifacts live in
    ``<project>/mlruns`` (MLflow would use the current folder, which Hydra may have changed)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        found = mlflow.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        location = (project.root / "mlruns").as_uri() if tracking_uri.startswith("sqlite:") else None
        return str(mlflow.create_experiment(name, artifact_location=location))
    except MlflowException as exc:
        raise TrackingError(f"tracking store {tracking_uri} refused experiment {name!r}: {exc.message}") from exc


def _ensure_lineage_tags(run_id: str, lineage: Lineage) -> None:
    import mlflow

    tags = mlflow.get_run(run_id).data.tags
    if tags.get(TAG_SNAPSHOT) != lineage.snapshot_id:
        warnings.warn(
            "mlflow-cv's run context provider did not tag the run (is the package installed with pip?); "
            "setting the lineage tags directly",
            stacklevel=3,
        )
        mlflow.set_tags(lineage.tags())


def _log_inputs(job: JobConfig, report: PreflightReport, overrides: Sequence[str], output_dir: Path) -> dict[str, str]:
    """Params, dataset inputs and the lineage artifacts, logged before training starts."""
    import mlflow

    from mlflow_cv.tracking.dataset import snapshot_datasets

    manifest, manifest_path = report.manifest, report.manifest_path
    assert manifest is not None and manifest_path is not None
    mlflow.log_params(flat_params(job))
    datasets = snapshot_datasets(manifest, manifest_path)
    mlflow.log_inputs(
        datasets=cast(list[Any], datasets), contexts=[d.split for d in datasets], tags_list=[None] * len(datasets)
    )
    staging = output_dir / "mlflow-cv"
    staging.mkdir(parents=True, exist_ok=True)
    files = {
        f"data/{manifest.snapshot_id}.json": manifest_path.read_bytes(),
        "config/resolved.yaml": yaml.safe_dump(asdict(job), sort_keys=True).encode(),
        "config/overrides.yaml": yaml.safe_dump(list(overrides)).encode(),
        "labelmap.json": labelmap_json(manifest.class_map).encode(),
    }
    logged = {}
    for name, data in files.items():
        local = staging / name
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data)
        mlflow.log_artifact(str(local), artifact_path=str(Path(name).parent) if "/" in name else None)
        logged[name] = sha256_file(local)
    mlflow.set_tag(TAG_LABELMAP_SHA256, logged["labelmap.json"])
    return logged


def _fit(job: JobConfig, report: PreflightReport, run_id: str, output_dir: Path) -> tuple[Path, dict[str, float]]:
    """Train with Ultralytics; per-epoch metrics are logged as they come, final ones at the end."""
    from ultralytics import YOLO  # type: ignore[attr-defined]

    assert report.checkout is not None and report.manifest is not None
    source = report.weights_path or _arch(job.model.arch, report)
    model = YOLO(str(source), task=job.model.task)
    logger = _EpochLogger(run_id)
    for event in ("on_pretrain_routine_start", "on_train_epoch_end", "on_fit_epoch_end"):
        model.add_callback(event, getattr(logger, event))
    data = report.checkout if job.model.task == "classify" else report.checkout / "data.yaml"
    t = job.train
    try:
        model.train(
            data=str(data),
            epochs=t.epochs,
            batch=t.batch,
            imgsz=t.imgsz,
            optimizer=t.optimizer,
            lr0=t.lr0,
            seed=t.seed,
            deterministic=t.deterministic,
            device=t.device,
            workers=t.workers,
            patience=t.patience,
            plots=t.plots,
            project=str(output_dir),
            name="ultralytics",
            exist_ok=True,
            **dict(t.extra),
        )
    except MlflowCvError:
        raise
    except Exception as exc:
        raise TrainingError(f"Ultralytics training failed: {type(exc).__name__}: {exc}") from exc
    trainer: Any = model.trainer
    final = {metric_name(k): float(v) for k, v in trainer.metrics.items()}
    per_class = per_class_metrics(trainer.validator, report.manifest.class_map)
    final.update(per_class)
    _log_metrics(logger.client, run_id, per_class, step=trainer.epoch + 1)
    return Path(trainer.save_dir), final


def _arch(arch: str, report: PreflightReport) -> str:
    """A project-relative architecture YAML if one exists, else Ultralytics' own by name."""
    local = report.project_root / arch
    return str(local) if local.is_file() else arch


class _EpochLogger:
    """Ultralytics callbacks: per-epoch metrics, with the final validation of the best weights last."""

    def __init__(self, run_id: str) -> None:
        from mlflow.tracking import MlflowClient

        self.run_id = run_id
        self.client = MlflowClient()
        self.trained_since_last_fit_end = False

    def on_pretrain_routine_start(self, trainer: Any) -> None:
        strip_foreign_callbacks(trainer)

    def on_train_epoch_end(self, trainer: Any) -> None:
        self.trained_since_last_fit_end = True

    def on_fit_epoch_end(self, trainer: Any) -> None:
        metrics = dict(trainer.metrics)
        if self.trained_since_last_fit_end:  # else: the final validation of best.pt after the last epoch
            metrics.update(trainer.lr)
            metrics.update(trainer.label_loss_items(trainer.tloss, prefix="train"))
        self.trained_since_last_fit_end = False
        _log_metrics(self.client, self.run_id, {metric_name(k): float(v) for k, v in metrics.items()},
                     step=trainer.epoch + 1)  # fmt: skip


def _log_metrics(client: Any, run_id: str, metrics: Mapping[str, float], *, step: int) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, v, now, step) for k, v in metrics.items()], synchronous=True)


def _log_outputs(job: JobConfig, report: PreflightReport, save_dir: Path) -> tuple[WeightsInfo, dict[str, str]]:
    """The best weights and Ultralytics' plots and tables, with their hashes."""
    import mlflow

    best = save_dir / "weights" / "best.pt"
    if not best.is_file():
        raise TrainingError(f"Ultralytics finished without {best}; nothing to log as the model")
    weights = weights_info(best)
    logged = {"weights/best.pt": weights.sha256}
    mlflow.log_artifact(str(best), artifact_path="weights")
    for pattern in _ULTRALYTICS_OUTPUTS:
        for path in sorted(save_dir.glob(pattern)):
            mlflow.log_artifact(str(path), artifact_path="ultralytics")
            logged[f"ultralytics/{path.name}"] = sha256_file(path)
    return weights, logged


def _log_pyfunc(job: JobConfig, report: PreflightReport, save_dir: Path) -> str:
    """Log the servable model (``mlflow_cv_yolo`` flavor, name ``model``); returns its model id."""
    import pandas as pd

    from mlflow_cv.serving import flavor

    assert report.manifest is not None and report.checkout is not None
    example = pd.DataFrame({"image": [_example_image(report.checkout, job.model.task).read_bytes()]})
    info = flavor.log_model(
        save_dir / "weights" / "best.pt",
        name="model",
        labelmap=report.manifest.class_map,
        task=job.model.task,
        imgsz=job.train.imgsz,
        input_example=example,
    )
    return str(info.model_id)


def _example_image(checkout: Path, task: str) -> Path:
    """The first validation image of the checkout (the model's input example)."""
    if task == "classify":
        return next(p for p in sorted((checkout / "val").rglob("*")) if p.is_file())
    first = (checkout / "val.txt").read_text(encoding="utf-8").splitlines()[0]
    return checkout / first


def _log_index(logged: Mapping[str, str]) -> None:
    """``lineage/artifacts.json`` maps every logged artifact to its SHA-256; its own hash is a tag."""
    import mlflow

    text = json.dumps(dict(sorted(logged.items())), indent=2) + "\n"
    mlflow.log_text(text, ARTIFACT_INDEX)
    mlflow.set_tag(TAG_ARTIFACTS_SHA256, hashlib.sha256(text.encode()).hexdigest())
