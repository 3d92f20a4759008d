"""``mlflow-cv reproduce REF``: rebuild a run from its tags alone, and prove the result matches.

From the lineage only: the recorded commit is checked out into a temporary git worktree (its own
``train.py``, ``conf/`` and code, which goes first on ``PYTHONPATH``), the snapshot's manifest comes
from the project or the run's artifacts and its objects from the store (each verified first), and
``train.py`` runs again with the run's recorded overrides; the result record it leaves in its output
folder (:mod:`mlflow_cv.tracking.result_record`) names the new run. Then, as a table of checks: same commit,
manifest and config; equal weight tensors (exact mode) or metrics within ``tolerance``; the original
run's artifacts still match their hashes. The reproduction is a run of its own, tagged
``cv.reproduces=<run id>`` and ``cv.reproduce.verdict``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlflow_cv.audit.diff import comparable
from mlflow_cv.checks import Check, all_passed, render_checks
from mlflow_cv.data.checkout import verify
from mlflow_cv.data.snapshots import install_manifest
from mlflow_cv.data.store import ObjectStore
from mlflow_cv.errors import ReproductionError, TrackingError
from mlflow_cv.project import Project
from mlflow_cv.registry.gates import metric_shifts
from mlflow_cv.tags import (
    DIRTY_FALSE,
    PREFLIGHT_PASSED,
    TAG_COMMIT,
    TAG_CONFIG_SHA256,
    TAG_DIRTY,
    TAG_MANIFEST_SHA256,
    TAG_PREFLIGHT,
    TAG_REPRODUCE_VERDICT,
    TAG_REPRODUCES,
    TAG_SNAPSHOT,
    TAG_WEIGHTS_DIGEST,
    VERDICT_FAILED,
    VERDICT_PASSED,
)
from mlflow_cv.tracking.refs import RunRef, manifest_of, resolve
from mlflow_cv.tracking.result_record import read_result

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from rich.console import RenderableType

__all__ = ["Reproduction", "reproduce"]

# recorded overrides that name where a run went, not what it trained: the reproduction sets its own
_NOT_TRAINING = ("tracking.", "registry.", "hydra.", "preflight.")


@dataclass(frozen=True)
class Reproduction:
    original: RunRef
    run_id: str  # the reproduction's run
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all_passed(self.checks)

    @property
    def title(self) -> str:
        return f"{'REPRODUCED' if self.passed else 'NOT REPRODUCED'}: {self.original.label} by run {self.run_id}"

    def table(self) -> str:
        """The checks as plain text (what :meth:`__rich__` shows)."""
        return render_checks(self.checks, title=self.title)

    def __rich__(self) -> RenderableType:
        from mlflow_cv.checks import checks_table

        return checks_table(self.checks, title=self.title)


def reproduce(
    client: MlflowClient,
    ref: str,
    *,
    project: Project,
    model: str | None = None,
    tolerance: float | None = None,
    keep: Path | None = None,
) -> Reproduction:
    """Re-run the training behind ``ref`` from its lineage and check the result (see the module doc).

    ``tolerance`` None asks for equal weight tensors (deterministic CPU runs); a number compares the
    final ``val/`` metrics within it instead. ``keep`` keeps the re-run's outputs (Hydra's run folder)
    there; the worktree is always removed.
    """
    import git

    from mlflow_cv.tracking.artifacts import verify_artifacts

    original = resolve(client, ref, model=model)
    run = client.get_run(original.run_id)
    tags = dict(run.data.tags)
    problems = []
    if tags.get(TAG_DIRTY) != DIRTY_FALSE:
        problems.append(f"{TAG_DIRTY}={tags.get(TAG_DIRTY)}: the code it ran is not in any commit")
    if tags.get(TAG_PREFLIGHT) != PREFLIGHT_PASSED:
        problems.append(f"{TAG_PREFLIGHT}={tags.get(TAG_PREFLIGHT)}: it was not pinned")
    if problems:
        raise ReproductionError(f"{original.label} cannot be reproduced exactly", problems=problems)
    commit = tags[TAG_COMMIT]
    try:
        repo = git.Repo(project.root, search_parent_directories=True)
        repo.git.cat_file("-e", f"{commit}^{{commit}}")
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise ReproductionError(f"{project.root} is not a git repository; run from the project") from None
    except git.GitCommandError:
        raise ReproductionError(f"commit {commit} is not in {repo.working_tree_dir}; fetch it first") from None
    manifest = manifest_of(client, original.run_id, tags, project=project)
    missing = [f.path for f in manifest.files if not ObjectStore(project.store_dir).has(f.sha256)]
    if missing:
        raise ReproductionError(
            f"{len(missing)} object(s) of {manifest.snapshot_id} are not in the store {project.store_dir}; "
            "pull the snapshot first",
            problems=missing,
        )
    stored = verify(project, manifest.snapshot_id, manifest=manifest)
    if not stored.ok:
        raise ReproductionError(f"the store's objects of {manifest.snapshot_id} changed", problems=stored.problems())
    overrides = _recorded_overrides(client, original.run_id)
    if keep is not None and keep.exists() and any(keep.iterdir()):
        raise ReproductionError(f"--keep {keep} is not empty: choose a new folder")
    work = Path(tempfile.mkdtemp(prefix="mlflow-cv-reproduce-")) if keep is None else keep
    source, outputs = work / "source", work / "outputs"  # the worktree; Hydra's output folder
    try:
        repo.git.worktree("add", "--detach", str(source), commit)
        install_manifest(Project(root=source), manifest)  # when the commit does not hold them
        experiment = client.get_experiment(run.info.experiment_id).name
        cmd = [
            sys.executable,
            str(source / "train.py"),
            *overrides,
            f"tracking.uri={client.tracking_uri}",
            f"tracking.experiment={experiment}",
            f"tracking.run_name=reproduce-{original.run_id[:8]}",
            f"hydra.run.dir={outputs}",
        ]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(source), os.environ.get("PYTHONPATH", "")]),
            "MLFLOW_CV_STORE": str(ObjectStore(project.store_dir).root),
        }
        env.pop("MLFLOW_TRACKING_URI", None)
        out = subprocess.run(cmd, cwd=source, env=env, capture_output=True, text=True)
        said = [line for line in out.stderr.splitlines()[-15:] if line.strip()]
        if out.returncode != 0:
            raise ReproductionError(f"the re-run of {original.label} failed (exit {out.returncode})", problems=said)
        try:
            new_id = read_result(outputs).run_id
        except TrackingError as exc:
            raise ReproductionError(f"the re-run of {original.label} named no run: {exc}", problems=said) from None
        new = client.get_run(new_id)
        checks = _checks(tags, dict(new.data.tags), run.data.metrics, new.data.metrics, tolerance)
        broken = verify_artifacts(client, original.run_id, tags)
        checks.append(
            Check("artifacts", not broken, "; ".join(broken) or "the original's artifacts match their hashes")
        )
        result = Reproduction(original=original, run_id=new_id, checks=tuple(checks))
        client.set_tag(new_id, TAG_REPRODUCES, original.run_id)
        client.set_tag(new_id, TAG_REPRODUCE_VERDICT, VERDICT_PASSED if result.passed else VERDICT_FAILED)
        return result
    finally:
        if source.exists():
            repo.git.worktree("remove", "--force", str(source))
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _recorded_overrides(client: Any, run_id: str) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, "config/overrides.yaml", tmp)
        except Exception as exc:  # any artifact-store failure: the config cannot be rebuilt
            raise ReproductionError(f"run {run_id} has no config/overrides.yaml: {exc}") from exc
        recorded = yaml.safe_load(Path(path).read_text()) or []
    return [o for o in recorded if not o.lstrip("+~").startswith(_NOT_TRAINING)]


def _checks(
    old: dict[str, str],
    new: dict[str, str],
    old_metrics: dict[str, float],
    new_metrics: dict[str, float],
    tolerance: float | None,
) -> list[Check]:
    checks = [
        Check(name, old.get(tag) == new.get(tag), f"{str(old.get(tag))[:12]} → {str(new.get(tag))[:12]}")
        for name, tag in (("commit", TAG_COMMIT), ("snapshot", TAG_MANIFEST_SHA256), ("config", TAG_CONFIG_SHA256))
    ]
    checks.append(Check("preflight", new.get(TAG_PREFLIGHT) == PREFLIGHT_PASSED, str(new.get(TAG_PREFLIGHT))))
    if tolerance is None:
        same = old.get(TAG_WEIGHTS_DIGEST) == new.get(TAG_WEIGHTS_DIGEST)
        detail = f"tensors {str(old.get(TAG_WEIGHTS_DIGEST))[:12]} → {str(new.get(TAG_WEIGHTS_DIGEST))[:12]}"
        checks.append(Check("weights", same, detail + ("" if same else " (try --tolerance for GPU runs)")))
    else:
        keys = sorted(k for k in old_metrics if comparable(k))
        off = metric_shifts(
            {k: old_metrics[k] for k in keys}, {k: new_metrics[k] for k in keys if k in new_metrics}, tolerance
        )
        checks.append(Check("metrics", not off, "; ".join(off) or f"{len(keys)} metrics within ±{tolerance}"))
    if TAG_SNAPSHOT in old:
        checks[1] = Check("snapshot", checks[1].passed, f"{old[TAG_SNAPSHOT]} {checks[1].detail}")
    return checks
