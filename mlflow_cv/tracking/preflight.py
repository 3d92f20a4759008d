"""The preflight gate: nothing trains unless code, config and data are pinned (DESIGN §3).

The checks run in the order of :data:`CHECKS` (cheap ones first; the code and conf checks only once
the project is a git repository, ``snapshot_verified`` only once the snapshot check passed) and every
failure is reported with how to fix it. Only the checks in :data:`OVERRIDABLE` can be overridden
(``preflight.allow=[dirty_code]``); an overridden run is tagged ``cv.preflight=overridden: …`` and can
never be promoted. ``snapshot_verified`` materializes the snapshot from the store (verifying every
object) or re-verifies an earlier checkout incrementally, which is what training then reads.

A passed preflight pins the run (:class:`PinnedRun`): the tracking URI and the artifact location it
checked, the verified checkout and the run's :class:`~mlflow_cv.tracking.lineage.Lineage`. Training
starts from exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow_cv.checks import Check, render_checks
from mlflow_cv.data.checkout import checkout
from mlflow_cv.data.hashing import sha256_file
from mlflow_cv.data.manifest import Manifest, load_manifest
from mlflow_cv.data.splits import describe_gaps
from mlflow_cv.errors import ConfigError, MlflowCvError, PreflightError
from mlflow_cv.project import Project
from mlflow_cv.render import progress_on_stderr
from mlflow_cv.tags import PREFLIGHT_OVERRIDDEN, PREFLIGHT_PASSED, TAG_PREFLIGHT
from mlflow_cv.tracking.git import GitState, git_state, loaded_code
from mlflow_cv.tracking.lineage import JobPin, Lineage
from mlflow_cv.tracking.store import (
    artifact_location,
    artifact_location_problem,
    resolve_tracking_uri,
    tracking_problem,
)

if TYPE_CHECKING:
    from mlflow_cv.config import JobConfig

__all__ = ["CHECKS", "OVERRIDABLE", "PinnedRun", "PreflightReport", "run_preflight"]

# name → what it makes sure of (the report lists them in the order they run)
CHECKS = {
    "git_repo": "the project is a git repository with a commit",
    "dirty_code": "tracked code, and every project file imported so far, is committed",
    "dirty_conf": "conf/ has no uncommitted or untracked changes",
    "seed": "the training seed is set",
    "task": "the model's task is the snapshot's task",
    "weights": "initial weights, if any, are a readable local file",
    "tracking": "the tracking store answers",
    "artifacts": "the run's artifact location can be written",
    "registry": "the model name and bump for registration, if any, are usable",
    "snapshot": "the snapshot is frozen and conf/data pins its manifest hash",
    "snapshot_verified": "every file of the snapshot verifies against the manifest",
}
OVERRIDABLE = frozenset({"dirty_code", "dirty_conf", "seed"})
_SERVER_ARTIFACTS = "mlflow-artifacts: (through the tracking server)"  # what the report says of a server's


@dataclass(frozen=True)
class PinnedRun:
    """What a passed preflight pins: a run may start from exactly this, and nothing here is optional
    but the initial weights (a model built from its architecture has none) and the artifact location
    (None: a tracking server decides it)."""

    project: Project
    git: GitState
    manifest: Manifest
    manifest_path: Path
    checkout: Path  # the verified checkout training reads
    weights_path: Path | None  # initial weights to fine-tune from, resolved
    tracking_uri: str  # resolved: absolute, from the config, $MLFLOW_TRACKING_URI or the project's default
    artifact_location: str | None  # the one the artifacts check checked; a new experiment is created with it
    lineage: Lineage  # the run's cv.* tags, its preflight verdict included
    allow: frozenset[str] = frozenset()  # the checks the user overrode by name

    @property
    def verdict(self) -> str:
        """The ``cv.preflight`` tag: passed, or overridden: …"""
        return self.lineage.preflight

    @property
    def project_root(self) -> Path:
        return self.project.root


@dataclass(frozen=True)
class PreflightReport:
    checks: tuple[Check, ...]
    pinned_run: PinnedRun | None  # None exactly when a check failed

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.failed)

    @property
    def overridden(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.overridden)

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def verdict(self) -> str:
        return _verdict(self.checks)

    def pinned(self) -> PinnedRun:
        """The pinned run, or :class:`PreflightError` listing every failed check with its fix."""
        if self.failed or self.pinned_run is None:
            raise PreflightError(
                f"preflight refused the run: {len(self.failed)} of {len(self.checks)} checks failed",
                problems=[f"{c.name}: {c.detail}" + (f"; {c.fix}" if c.fix else "") for c in self.failed],
            )
        return self.pinned_run

    def table(self) -> str:
        """The checks; when some were overridden, also the ``cv.preflight`` tag a run would carry."""
        table = render_checks(self.checks, title="preflight:")
        return f"{table}\n{TAG_PREFLIGHT} would be: {self.verdict}" if self.overridden else table


def check_allow(allow: list[str]) -> frozenset[str]:
    """The override names, refusing unknown names and checks that cannot be overridden."""
    unknown = sorted(set(allow) - CHECKS.keys())
    if unknown:
        raise ConfigError(f"preflight.allow names unknown checks {unknown}; known: {', '.join(CHECKS)}")
    hard = sorted(set(allow) - OVERRIDABLE)
    if hard:
        raise ConfigError(f"preflight.allow: {hard} cannot be overridden; only {', '.join(sorted(OVERRIDABLE))} can")
    return frozenset(allow)


def run_preflight(job: JobConfig, *, project: Project, pin: JobPin, show_progress: bool = False) -> PreflightReport:
    """Run every check of ``job`` and return the report; :meth:`PreflightReport.pinned` gates. ``pin`` is
    the job's part of the lineage (:func:`mlflow_cv.config.job_pin`, of the job as it will train)."""
    allow = check_allow(list(job.preflight.allow))
    tracking_uri = resolve_tracking_uri(job.tracking.uri, project_root=project.root)
    checks: list[Check] = []

    def add(name: str, problem: str | None, ok_detail: str, fix: str = "") -> None:
        ok = problem is None
        overridden = not ok and name in allow
        if not ok and name in OVERRIDABLE and not overridden:
            fix = f"{fix}, or override with preflight.allow=[{name}]" if fix else fix
        checks.append(Check(name, ok, ok_detail if ok else str(problem), fix if not ok else "", overridden))

    git: GitState | None = None
    try:
        git = git_state(project.root)
    except MlflowCvError as exc:
        add("git_repo", str(exc), "", "make the project a git repository with a commit")
    if git is not None:
        add("git_repo", None, f"{git.root} at {git.commit[:12]}")
        hidden = loaded_code(project.root).unpinned  # e.g. an ignored local_patch.py that train.py imports
        add(
            "dirty_code",
            _dirty(git.dirty_code + hidden),
            "no uncommitted changes to tracked or imported code",
            "commit or stash them (an imported file must be tracked, not ignored)",
        )
        add("dirty_conf", _dirty(git.dirty_conf), "conf/ is committed", "commit them (git add conf && git commit)")
    add(
        "seed",
        None if job.train.seed is not None else "train.seed is null: the run cannot be repeated",
        f"train.seed={job.train.seed}",
        "set it, e.g. train.seed=0",
    )
    add(
        "task",
        None
        if job.model.task == job.data.task
        else f"model {job.model.name} trains task '{job.model.task}' but {job.data.snapshot_id} is a "
        f"'{job.data.task}' dataset",
        f"{job.model.task}",
        f"pick a model for '{job.data.task}' (conf/model/)",
    )
    weights = _resolve(job.model.weights, project.root)
    add(
        "weights",
        f"model.weights={job.model.weights}: no such file" if weights is not None and not weights.is_file() else None,
        str(weights) if weights else f"built from {job.model.arch}",
        "give the path of a local .pt (nothing is downloaded)",
    )
    add("tracking", tracking_problem(tracking_uri), tracking_uri, "start the server, or set tracking.uri")
    artifacts = artifact_location(tracking_uri, job.tracking.experiment, project_root=project.root)
    add(
        "artifacts",
        artifact_location_problem(artifacts),
        artifacts or _SERVER_ARTIFACTS,
        "fix the folder's permissions, or train into another experiment (tracking.experiment=NAME)",
    )
    add(
        "registry",
        _registry_problem(job.registry.name),
        f"register as {job.registry.name} (bump {job.registry.bump})" if job.registry.name else "not registering",
        "set registry.name to a plain name (no / or :)",
    )
    manifest, problem = _snapshot(job, project)
    gaps = describe_gaps(manifest.split_gaps) if manifest is not None else ""
    add(
        "snapshot",
        problem,
        f"{job.data.snapshot_id} manifest {job.data.manifest_sha256[:12]}… frozen" + (f"; {gaps}" if gaps else ""),
    )
    dest: Path | None = None
    if manifest is not None:
        dest = project.checkout_path(manifest)
        label = f"verifying {manifest.snapshot_id}"
        try:
            with progress_on_stderr(label, enabled=show_progress) as progress:
                checkout(project, manifest.snapshot_id, dest, progress=progress)
        except MlflowCvError as exc:
            add("snapshot_verified", str(exc), "", f"restore the store's objects, or delete {dest} to check out again")
            dest = None
        else:
            add("snapshot_verified", None, f"{len(manifest.files)} files verified in {dest}")
    pinned = None
    if git is not None and manifest is not None and dest is not None and not any(c.failed for c in checks):
        lineage = Lineage.pinned(
            pin,
            manifest=manifest,
            git=git,
            verdict=_verdict(checks),
            init_weights_sha256=sha256_file(weights) if weights else None,
        )
        pinned = PinnedRun(
            project=project,
            git=git,
            manifest=manifest,
            manifest_path=project.manifest_path(manifest.snapshot_id),
            checkout=dest,
            weights_path=weights,
            tracking_uri=tracking_uri,
            artifact_location=artifacts,
            lineage=lineage,
            allow=allow,
        )
    return PreflightReport(checks=tuple(checks), pinned_run=pinned)


def _verdict(checks: list[Check] | tuple[Check, ...]) -> str:
    """The ``cv.preflight`` tag: ``passed`` or ``overridden: name (detail); …``."""
    overridden = [c for c in checks if c.overridden]
    if not overridden:
        return PREFLIGHT_PASSED
    return PREFLIGHT_OVERRIDDEN + "; ".join(f"{c.name} ({c.detail})" for c in overridden)


def _dirty(paths: tuple[str, ...]) -> str | None:
    if not paths:
        return None
    shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    return f"{len(paths)} uncommitted: {shown}"


def _registry_problem(name: str | None) -> str | None:
    if name is not None and (not name.strip() or "/" in name or ":" in name):
        return f"registry.name={name!r} is not a usable model name"
    return None


def _resolve(path: str | None, root: Path) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    return p if p.is_absolute() else root / p


def _snapshot(job: JobConfig, project: Project) -> tuple[Manifest | None, str | None]:
    try:
        manifest = load_manifest(project, job.data.snapshot_id)
    except MlflowCvError as exc:
        return None, str(exc)
    pinned = job.data
    if pinned.manifest_sha256 != manifest.sha256:
        return None, (
            f"conf/data/{pinned.snapshot_id}.yaml pins manifest {pinned.manifest_sha256[:12]}… but the frozen "
            f"manifest is {manifest.sha256[:12]}…; restore conf/data/{pinned.snapshot_id}.yaml from git"
        )
    if (pinned.task, pinned.split_seed) != (manifest.task, manifest.split.seed):
        return None, f"conf/data/{pinned.snapshot_id}.yaml disagrees with the manifest's task or split seed"
    return manifest, None
