"""The training job's structured config: Hydra's schema, its canonical hash and its flat params.

The dataclasses are registered in Hydra's ConfigStore (``job_schema``), so an unknown key or a wrong
type fails when Hydra composes the config, before anything runs. They are plain (not frozen)
dataclasses because Hydra merges overrides into them; the job receives them as an object and treats
them as values.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field, replace
from enum import Enum, StrEnum
from typing import Any

from omegaconf import MISSING

from mlflow_cv.canonical import canonical_sha256
from mlflow_cv.data.labels import Task
from mlflow_cv.tracking.lineage import JobPin

__all__ = [
    "BumpChoice",
    "DataConfig",
    "JobConfig",
    "ModelConfig",
    "PreflightConfig",
    "RegistryConfig",
    "TrackingConfig",
    "TrainConfig",
    "config_digest",
    "flat_params",
    "hparams_digest",
    "job_dict",
    "job_pin",
    "register_configs",
    "seeded",
]

# The sections that decide what a training produces: their canonical hash is the config id.
TRAINING_SECTIONS = ("data", "model", "train")


class BumpChoice(StrEnum):
    """``registry.bump``: the bump the lineage requires (auto), or a declared one (checked against it)."""

    auto = "auto"
    major = "major"
    minor = "minor"
    patch = "patch"


@dataclass
class DataConfig:
    """A frozen snapshot, as written to ``conf/data/DS-x.y.z.yaml`` by ``mlflow-cv data snapshot``."""

    snapshot_id: str = MISSING
    manifest_sha256: str = MISSING
    task: Task = MISSING
    split_seed: int | None = MISSING  # None for splits taken from folders


@dataclass
class ModelConfig:
    name: str = "yolo"
    task: Task = Task.detect  # must equal the snapshot's task
    arch: str = "yolov8n.yaml"  # an Ultralytics architecture YAML: built from scratch, nothing downloaded
    weights: str | None = None  # a local .pt to fine-tune from (its SHA-256 is recorded)


@dataclass
class TrainConfig:
    epochs: int = 50
    batch: int = 16
    imgsz: int = 640
    optimizer: str = "SGD"
    lr0: float = 0.01
    seed: int | None = 0  # None: the preflight refuses an unseeded run
    device: str = "cpu"
    deterministic: bool = True
    workers: int = 2
    patience: int = 100
    plots: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # any other Ultralytics train argument


@dataclass
class TrackingConfig:
    uri: str | None = None  # else $MLFLOW_TRACKING_URI, else sqlite:///<project>/mlflow.db
    experiment: str = "mlflow-cv"
    run_name: str | None = None


@dataclass
class PreflightConfig:
    allow: list[str] = field(default_factory=list)  # checks to override by name, e.g. [dirty_code]


@dataclass
class RegistryConfig:
    name: str | None = None  # register the trained model under this name when the run finishes
    bump: BumpChoice = BumpChoice.auto  # checked against the lineage


@dataclass
class JobConfig:
    data: DataConfig = MISSING
    model: ModelConfig = MISSING
    train: TrainConfig = MISSING
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    preflight: PreflightConfig = field(default_factory=PreflightConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)


def register_configs() -> None:
    """Register the schema as ``job_schema`` (the first entry of ``conf/config.yaml``'s defaults)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="job_schema", node=JobConfig)


def job_dict(job: JobConfig) -> dict[str, Any]:
    """The whole config as plain data (enums as their values), as logged in ``config/resolved.yaml``."""

    def plain(value: Any) -> Any:
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return {name: plain(section) for name, section in asdict(job).items()}


def training_config(job: JobConfig) -> dict[str, Any]:
    """The sections that decide what a training produces, as plain data."""
    whole = job_dict(job)
    return {name: whole[name] for name in TRAINING_SECTIONS}


def config_digest(job: JobConfig, sections: tuple[str, ...] = TRAINING_SECTIONS) -> str:
    """SHA-256 of the canonical JSON (sorted keys) of ``sections`` (default: data, model and train)."""
    chosen = {k: v for k, v in training_config(job).items() if k in sections}
    return canonical_sha256(chosen)


def hparams_digest(job: JobConfig) -> str:
    """The config without its data section: what changed when the hyperparameters or model did."""
    return config_digest(job, ("model", "train"))


def flat_params(job: JobConfig) -> dict[str, str]:
    """``{"train.epochs": "50", "model.arch": "yolov8n.yaml", …}`` for ``mlflow.log_params``."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key, sub in value.items():
                walk(f"{prefix}.{key}", sub)
        else:
            out[prefix] = json.dumps(value) if isinstance(value, (dict, list)) else str(value)

    for name, section in training_config(job).items():
        walk(name, section)
    return out


def seeded(job: JobConfig) -> JobConfig:
    """The job as it trains: an unset seed (which only ``preflight.allow=[seed]`` lets through) drawn at
    random, so that the run still records the seed it used."""
    if job.train.seed is not None:
        return job
    return replace(job, train=replace(job.train, seed=random.randrange(2**31)))


def job_pin(job: JobConfig, *, source_name: str) -> JobPin:
    """The job's part of its run's lineage: config hashes, seed and ``source_name`` (the entry point)."""
    return JobPin(
        config_sha256=config_digest(job),
        hparams_sha256=hparams_digest(job),
        train_seed=job.train.seed,
        source_name=source_name,
    )
