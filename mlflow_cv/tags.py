"""Every ``cv.*`` name mlflow-cv writes to MLflow, and the fixed values they take: one home for each.

Run tags (DESIGN §3; MLflow hides ``mlflow.*`` tags in its compare view, so ours are ``cv.*``) are set
by training; model-version tags by registration; registered-model tags by the policy and the history.
Other parts, users' searches and the acceptance checks rely on these exact strings. The split names
and the guard scheme (``cv-guard-<database URI>``) live here too: one home for each vocabulary.
"""

from __future__ import annotations

__all__ = [
    "CV_PREFIX",
    "DIRTY_FALSE",
    "DIRTY_TRUE",
    "EVAL_HEAD",
    "EVAL_RECORD_PREFIX",
    "EVAL_SLICE_HEAD",
    "EVAL_SPLITS",
    "EXPERIMENT_KIND",
    "GUARD_SCHEME",
    "HISTORY_PREFIX",
    "KIND_MODEL_TRAINING",
    "LATENCY_P50",
    "LATENCY_P95",
    "MOVE_DIRECT",
    "MOVE_POLICY",
    "MOVE_PROMOTE",
    "MOVE_ROLLBACK",
    "NO_SEED",
    "PREFLIGHT_OVERRIDDEN",
    "PREFLIGHT_PASSED",
    "REQUIRED_TAGS",
    "SPLIT_NAMES",
    "TAG_ARCH_SHA256",
    "TAG_ARTIFACTS_SHA256",
    "TAG_COMMIT",
    "TAG_CONFIG_ID",
    "TAG_CONFIG_SHA256",
    "TAG_DIRTY",
    "TAG_EVAL_DEVICE",
    "TAG_EVAL_MANIFEST",
    "TAG_EVAL_MODEL",
    "TAG_EVAL_OF",
    "TAG_EVAL_SETTINGS",
    "TAG_EVAL_SNAPSHOT",
    "TAG_EVAL_SPLIT",
    "TAG_EVAL_WEIGHTS",
    "TAG_HPARAMS_SHA256",
    "TAG_INIT_WEIGHTS_SHA256",
    "TAG_LABELMAP_SHA256",
    "TAG_MANIFEST_SHA256",
    "TAG_METRICS",
    "TAG_MODEL_ID",
    "TAG_MOVE_REQUEST",
    "TAG_POLICY",
    "TAG_POLICY_REQUEST",
    "TAG_PREFLIGHT",
    "TAG_REPRODUCES",
    "TAG_REPRODUCE_VERDICT",
    "TAG_SEMVER",
    "TAG_SNAPSHOT",
    "TAG_SPLIT_SEED",
    "TAG_TASK",
    "TAG_TRAIN_SEED",
    "TAG_WEIGHTS_DIGEST",
    "TAG_WEIGHTS_SHA256",
    "VAL_HEAD",
    "VAL_SLICE_HEAD",
    "VERDICT_FAILED",
    "VERDICT_PASSED",
    "eval_metric",
    "eval_record_key",
    "guarded_uri",
    "ours",
    "sliced_metric",
    "val_metric",
]

CV_PREFIX = "cv."


def ours(key: str | None) -> bool:
    """Whether ``key`` is a ``cv.*`` name (False for None: MLflow validates keys after the guards)."""
    return bool(key) and str(key).startswith(CV_PREFIX)


# --- run tags: the lineage every training run carries (DESIGN §3) ------------------------------------
TAG_SNAPSHOT = "cv.data.snapshot"
TAG_MANIFEST_SHA256 = "cv.data.manifest_sha256"
TAG_SPLIT_SEED = "cv.data.split_seed"
TAG_COMMIT = "cv.code.commit"
TAG_DIRTY = "cv.code.dirty"
TAG_CONFIG_ID = "cv.config.id"
TAG_CONFIG_SHA256 = "cv.config.sha256"
TAG_HPARAMS_SHA256 = "cv.config.hparams_sha256"  # the config without its data section
TAG_TRAIN_SEED = "cv.train.seed"
TAG_PREFLIGHT = "cv.preflight"
TAG_WEIGHTS_SHA256 = "cv.weights.sha256"
# Set when the training ends: the tensors' digest (equal across deterministic runs, unlike the file's
# hash, which holds a date), the label map, the architecture and the index of every artifact's hash.
TAG_WEIGHTS_DIGEST = "cv.weights.digest"
TAG_LABELMAP_SHA256 = "cv.model.labelmap_sha256"
TAG_ARCH_SHA256 = "cv.model.arch_sha256"
TAG_TASK = "cv.model.task"
TAG_ARTIFACTS_SHA256 = "cv.artifacts.sha256"
TAG_INIT_WEIGHTS_SHA256 = "cv.model.init_sha256"  # only when fine-tuning from model.weights
TAG_MODEL_ID = "cv.model.id"  # the logged pyfunc model (mlflow_cv_yolo flavor): models:/<id>
# Set on a reproduction's own run by `mlflow-cv reproduce`.
TAG_REPRODUCES = "cv.reproduces"  # the run id it reproduces
TAG_REPRODUCE_VERDICT = "cv.reproduce.verdict"  # VERDICT_PASSED | VERDICT_FAILED

# Every lineage tag a run must carry to be registered (DESIGN §3 plus what training adds at the end).
REQUIRED_TAGS = (
    TAG_SNAPSHOT,
    TAG_MANIFEST_SHA256,
    TAG_SPLIT_SEED,
    TAG_COMMIT,
    TAG_DIRTY,
    TAG_CONFIG_ID,
    TAG_CONFIG_SHA256,
    TAG_TRAIN_SEED,
    TAG_PREFLIGHT,
    TAG_WEIGHTS_SHA256,
    TAG_WEIGHTS_DIGEST,
    TAG_ARCH_SHA256,
    TAG_LABELMAP_SHA256,
    TAG_TASK,
    TAG_ARTIFACTS_SHA256,
)

# Set on an evaluation run by `mlflow-cv evaluate` (DESIGN §4a), when it is created.
TAG_EVAL_OF = "cv.eval.of"  # the evaluated (training) run id
TAG_EVAL_MODEL = "cv.eval.model"  # models:/NAME/VERSION when the model was evaluated as a registered version
TAG_EVAL_WEIGHTS = "cv.eval.weights_sha256"
TAG_EVAL_SNAPSHOT = "cv.eval.snapshot"
TAG_EVAL_MANIFEST = "cv.eval.manifest_sha256"
TAG_EVAL_SPLIT = "cv.eval.split"  # val | test | all
TAG_EVAL_SETTINGS = "cv.eval.settings_sha256"  # conf, iou, imgsz, max_det, backend
TAG_EVAL_DEVICE = "cv.eval.device"

# --- model-version tags -----------------------------------------------------------------------------
TAG_SEMVER = "cv.semver"  # its semantic version, set once
TAG_METRICS = "cv.metrics"  # the gate metrics (canonical JSON), copied from the run
# A version's evaluation record: cv.eval.<manifest_sha256[:12]>.<split> = the evaluation run's id.
EVAL_RECORD_PREFIX = "cv.eval."


def eval_record_key(manifest_sha256: str, split: str) -> str:
    """The version tag of an evaluation record on ``split`` of the manifest ``manifest_sha256``."""
    return f"{EVAL_RECORD_PREFIX}{manifest_sha256[:12]}.{split}"


# --- registered-model tags --------------------------------------------------------------------------
TAG_POLICY = "cv.policy"  # the Policy as JSON (optional)
TAG_POLICY_REQUEST = "cv.policy.request"  # what a client states before it changes the policy
TAG_MOVE_REQUEST = "cv.move.request"  # what a client states before it moves an alias
# One tag per event, cv.history.<ms>.<nonce>: an alias move on the version it moved to, a policy change
# on the registered model.
HISTORY_PREFIX = "cv.history."

# --- MLflow's own names we set ------------------------------------------------------------------------
# The experiment kind MLflow 3's UI opens an experiment by (else it guesses, and shows the GenAI overview).
EXPERIMENT_KIND, KIND_MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"

# --- fixed values -------------------------------------------------------------------------------------
PREFLIGHT_PASSED = "passed"  # cv.preflight of a pinned run
PREFLIGHT_OVERRIDDEN = "overridden: "  # cv.preflight prefix of a run that overrode checks (then the reasons)
DIRTY_TRUE, DIRTY_FALSE = "true", "false"  # cv.code.dirty
NO_SEED = "none"  # cv.data.split_seed / cv.train.seed when there is none
VERDICT_PASSED, VERDICT_FAILED = "passed", "failed"  # cv.reproduce.verdict
MOVE_PROMOTE, MOVE_ROLLBACK, MOVE_DIRECT = "promote", "rollback", "direct"  # kinds of alias moves
MOVE_POLICY = "policy"  # the kind of a policy change in the history

# --- split names --------------------------------------------------------------------------------------
# --- metric names (DESIGN §4a) -------------------------------------------------------------------------
# Training's final validation of the best weights logs val/<metric> (val/mAP50, val/AP50/<class>); an
# evaluation run eval/<metric>; a slice puts slice/<attr>:<value>/ after either head
# (eval/slice/time_of_day:night/mAP50). The gates compare eval/ names: a policy's val/ name stands for
# the eval/ name with the same tail (eval_metric).
VAL_HEAD = "val/"
EVAL_HEAD = "eval/"
VAL_SLICE_HEAD = f"{VAL_HEAD}slice/"
EVAL_SLICE_HEAD = f"{EVAL_HEAD}slice/"
LATENCY_P50, LATENCY_P95 = f"{EVAL_HEAD}latency_ms_p50", f"{EVAL_HEAD}latency_ms_p95"


def eval_metric(name: str) -> str:
    """The evaluation metric a validation metric stands for: ``val/mAP50`` → ``eval/mAP50`` (else as it is)."""
    return EVAL_HEAD + name.removeprefix(VAL_HEAD) if name.startswith(VAL_HEAD) else name


def sliced_metric(name: str) -> tuple[str | None, str]:
    """``eval/slice/time_of_day:night/mAP50`` → (``time_of_day:night``, ``eval/mAP50``); the same for
    ``val/``; a metric of no slice → (None, the name)."""
    for head, slice_head in ((EVAL_HEAD, EVAL_SLICE_HEAD), (VAL_HEAD, VAL_SLICE_HEAD)):
        if name.startswith(slice_head):
            piece, _, tail = name.removeprefix(slice_head).partition("/")
            return piece, head + tail
    return None, name


def val_metric(tail: str) -> str:
    """``mAP50`` → ``val/mAP50``."""
    return VAL_HEAD + tail


# --- split names ----------------------------------------------------------------------------------------
SPLIT_NAMES = ("train", "val", "test")  # the splits a snapshot holds
EVAL_SPLITS = ("val", "test", "all")  # what an evaluation, and so the gates, may run on ("all": every image)

# --- the guard scheme ---------------------------------------------------------------------------------
# MLflow's entry points load the guard stores (mlflow_cv.server) for cv-guard-<database URI>.
GUARD_SCHEME = "cv-guard-"


def guarded_uri(uri: str) -> str:
    """``sqlite:///x.db`` → ``cv-guard-sqlite:///x.db``: the same database, through the guard stores."""
    return f"{GUARD_SCHEME}{uri}"
