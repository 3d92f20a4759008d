"""Push and pull snapshots through MLflow's own artifact repositories (DESIGN §5).

A remote is any artifact URI MLflow supports: ``mlflow-artifacts://host:port/snapshots`` (a tracking
server with proxied artifacts), ``s3://bucket/prefix``, ``file:///shared/snapshots`` … Set it once,
in ``<project>/mlflow-cv.yaml`` (``mlflow-cv data remote URI``) or ``$MLFLOW_CV_REMOTE``. Layout::

    <remote>/objects/ab/cdef…        one object per file content, shared by every snapshot
    <remote>/manifests/DS-x.y.z.json written after all of its objects: its presence means complete

Only missing objects move, in parallel. A push is resumable: a rerun lists the remote and uploads
what is absent or of the wrong size (an interrupted upload). A pull verifies every object's hash
before it enters the local store, and publishes nothing unless all verified.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlflow_cv._mlflow import download_file
from mlflow_cv.data.atomic import atomic_write_text
from mlflow_cv.data.manifest import Manifest, load_manifest, read_manifest
from mlflow_cv.data.snapshots import install_manifest
from mlflow_cv.data.store import ObjectStore
from mlflow_cv.errors import ConfigError, SnapshotError, StoreError
from mlflow_cv.health import health_problem
from mlflow_cv.project import Project

if TYPE_CHECKING:
    from rich.console import RenderableType

    from mlflow_cv.render import Progress

__all__ = ["CONFIG_FILE", "TransferResult", "configured_remote", "pull", "push", "remote_uri", "set_remote"]

CONFIG_FILE = "mlflow-cv.yaml"
ENV = "MLFLOW_CV_REMOTE"
WORKERS = 8


@dataclass(frozen=True)
class TransferResult:
    snapshot_ids: tuple[str, ...]
    objects: int  # distinct objects the snapshots need
    moved: int  # objects transferred now
    bytes: int  # bytes transferred now
    seconds: float
    direction: str = "push"  # push | pull

    def __rich__(self) -> RenderableType:
        from mlflow_cv.render import lines

        return lines(
            f"{self.direction}ed {', '.join(self.snapshot_ids)}: {self.moved} of {self.objects} object(s) moved "
            f"({self.bytes / 1e6:.1f} MB) in {self.seconds:.1f} s; the rest were there already"
        )


def configured_remote(project: Project) -> str | None:
    """``$MLFLOW_CV_REMOTE``, else ``remote`` in ``<project>/mlflow-cv.yaml``, else None."""
    if os.environ.get(ENV):
        return os.environ[ENV]
    path = project.root / CONFIG_FILE
    if path.is_file():
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        value = doc.get("remote") if isinstance(doc, dict) else None
        return str(value) if value else None
    return None


def remote_uri(project: Project, override: str | None = None) -> str:
    uri = override or configured_remote(project)
    if not uri:
        raise ConfigError(
            f"no remote configured: run `mlflow-cv data remote URI` (writes {CONFIG_FILE}) or set ${ENV}, "
            "e.g. mlflow-artifacts://127.0.0.1:5000/snapshots"
        )
    return uri.rstrip("/")


def set_remote(project: Project, uri: str) -> Path:
    """Record ``uri`` as the project's remote in ``<project>/mlflow-cv.yaml`` (commit it)."""
    _repository(uri)  # refuses a scheme MLflow has no artifact repository for
    path = project.root / CONFIG_FILE
    doc = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}
    doc["remote"] = uri.rstrip("/")
    atomic_write_text(path, yaml.safe_dump(doc, sort_keys=True))
    return path


def _repository(uri: str) -> Any:
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    parsed = urllib.parse.urlparse(uri)
    # mlflow-artifacts://HOST:PORT/path names its server: use it rather than the current tracking URI
    tracking = f"http://{parsed.netloc}" if parsed.scheme == "mlflow-artifacts" and parsed.netloc else None
    try:
        return get_artifact_repository(uri, tracking_uri=tracking)
    except MlflowException as exc:
        raise ConfigError(f"remote {uri!r}: {exc.message}") from exc


def _check_reachable(uri: str) -> None:
    """Fail fast, before anything moves, when a server-backed remote does not answer."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme in ("mlflow-artifacts", "http", "https"):
        host = parsed.netloc
        base = f"http://{host}" if host else os.environ.get("MLFLOW_TRACKING_URI", "")
        if not base.startswith("http"):
            raise ConfigError(f"remote {uri!r} names no server: use mlflow-artifacts://HOST:PORT/path")
        problem = health_problem(base, what="its server")
        if problem:
            raise StoreError(f"remote {uri} is unreachable: {problem}; nothing was moved")


def _remote_sizes(repo: Any, prefixes: Iterable[str], workers: int) -> dict[str, int]:
    """sha256 → size of every object on the remote under the given two-letter prefixes."""

    def listing(prefix: str) -> list[tuple[str, int]]:
        return [
            (prefix + Path(f.path).name, int(f.file_size or 0))
            for f in repo.list_artifacts(f"objects/{prefix}")
            if not f.is_dir
        ]

    with ThreadPoolExecutor(workers) as pool:
        return {sha: size for chunk in pool.map(listing, sorted(set(prefixes))) for sha, size in chunk}


def push(
    project: Project,
    snapshot_ids: Sequence[str],
    *,
    remote: str | None = None,
    workers: int = WORKERS,
    progress: Progress | None = None,
) -> TransferResult:
    """Upload the snapshots' missing objects, then their manifests (see the module doc)."""
    started = time.monotonic()
    uri = remote_uri(project, remote)
    manifests = [load_manifest(project, s) for s in snapshot_ids]
    sizes = {f.sha256: f.size for m in manifests for f in m.files}
    store = ObjectStore(project.store_dir)
    absent = [sha for sha in sizes if not store.has(sha)]
    if absent:
        raise StoreError(
            f"{len(absent)} object(s) are missing from the local store; nothing to push them from", problems=absent[:20]
        )
    _check_reachable(uri)
    repo = _repository(uri)
    there = _remote_sizes(repo, (s[:2] for s in sizes), workers)
    todo = sorted(sha for sha, size in sizes.items() if there.get(sha) != size)
    if progress is not None:
        progress.start(len(todo))

    def upload(sha: str) -> int:
        repo.log_artifact(str(store.object_path(sha)), f"objects/{sha[:2]}")
        if progress is not None:
            progress.advance(1)
        return sizes[sha]

    with ThreadPoolExecutor(workers) as pool:
        moved_bytes = sum(pool.map(upload, todo))
    for manifest in manifests:  # last: a manifest on the remote means all its objects are there
        repo.log_artifact(str(project.manifest_path(manifest.snapshot_id)), "manifests")
    return TransferResult(tuple(snapshot_ids), len(sizes), len(todo), moved_bytes, time.monotonic() - started, "push")


def pull(
    project: Project,
    snapshot_ids: Sequence[str],
    *,
    remote: str | None = None,
    workers: int = WORKERS,
    progress: Progress | None = None,
) -> TransferResult:
    """Download the snapshots' manifests and missing objects into the local store; every object is
    verified against its hash first, and none is added unless all are."""
    started = time.monotonic()
    uri = remote_uri(project, remote)
    _check_reachable(uri)
    repo = _repository(uri)
    with tempfile.TemporaryDirectory(dir=_tmp_root(project)) as tmp:
        manifests = [_fetch_manifest(project, repo, sid, Path(tmp)) for sid in snapshot_ids]
        sizes = {f.sha256: f.size for m in manifests for f in m.files}
        store = ObjectStore(project.store_dir)
        todo = sorted(sha for sha in sizes if not store.has(sha))
        if progress is not None:
            progress.start(len(todo))
        moved = _download(project, repo, todo, Path(tmp), workers, progress)
        for manifest in manifests:
            install_manifest(project, manifest)
    return TransferResult(
        tuple(snapshot_ids), len(sizes), moved, sum(sizes[s] for s in todo), time.monotonic() - started, "pull"
    )


def _tmp_root(project: Project) -> str:
    root = project.store_dir / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return str(root)


def _fetch_manifest(project: Project, repo: Any, snapshot_id: str, tmp: Path) -> Manifest:
    from mlflow.exceptions import MlflowException

    local = project.manifest_path(snapshot_id)
    try:
        path = Path(repo.download_artifacts(f"manifests/{snapshot_id}.json", str(tmp)))
    except (MlflowException, OSError) as exc:
        if local.is_file():
            return load_manifest(project, snapshot_id)
        raise SnapshotError(f"{snapshot_id} is not on the remote ({exc}); push it from a project that has it") from None
    manifest = read_manifest(path)  # checks the stored hash: a corrupted manifest is refused here
    if manifest.snapshot_id != snapshot_id:
        raise SnapshotError(f"the remote's manifests/{snapshot_id}.json holds {manifest.snapshot_id}")
    if local.is_file() and load_manifest(project, snapshot_id).sha256 != manifest.sha256:
        raise SnapshotError(f"{snapshot_id} on the remote is not the {snapshot_id} of this project (hashes differ)")
    return manifest


def _download(project: Project, repo: Any, shas: list[str], tmp: Path, workers: int, progress: Progress | None) -> int:
    """Fetch and verify every object; publish them all, or none when one is missing or corrupt."""
    from mlflow.exceptions import MlflowException

    def fetch(sha: str) -> str | None:
        path = tmp / "objects" / sha[:2] / sha[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # the one-file download every artifact repository implements; the public download_artifacts
            # first asks whether the path is a folder, one more request per object
            download_file(repo, f"objects/{sha[:2]}/{sha[2:]}", str(path))
        except (MlflowException, OSError) as exc:
            return f"{sha}: cannot download ({exc})"
        with open(path, "rb") as f:
            actual = hashlib.file_digest(f, "sha256").hexdigest()
        if actual != sha:
            path.unlink()
            return f"{sha}: corrupt on the remote (its bytes hash to {actual[:16]}…)"
        if progress is not None:
            progress.advance(1)
        return None

    with ThreadPoolExecutor(workers) as pool:
        problems = [p for p in pool.map(fetch, shas) if p]
    if problems:
        raise StoreError(
            f"{len(problems)} object(s) could not be pulled; nothing was added to the store", problems=problems
        )
    with ObjectStore(project.store_dir).staging() as stage:
        for sha in shas:
            shutil.move(str(tmp / "objects" / sha[:2] / sha[2:]), str(stage.path / sha))
        return stage.commit()
