"""The artifact-hash index of a run: written once when training ends, checked before anything trusts it.

``lineage/artifacts.json`` maps every artifact the run logged to its SHA-256; the run's
``cv.artifacts.sha256`` tag is the hash of the index itself, so changing an artifact, or the index,
shows. Promotion and reproduction verify through :func:`verify_artifacts`.

While a training runs, :class:`RunFiles` collects its files from staging to logging: each one's name in
the run, local file and SHA-256 (hashed once, in the training process), which the index is made of.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlflow_cv.data.hashing import sha256_file
from mlflow_cv.errors import TrackingError
from mlflow_cv.tags import TAG_ARTIFACTS_SHA256, TAG_WEIGHTS_SHA256
from mlflow_cv.tracking.store import using_tracking_uri

__all__ = [
    "ARTIFACT_INDEX",
    "RunFile",
    "RunFiles",
    "index_text",
    "served_weights_problems",
    "verify_artifacts",
    "verify_tree",
]

ARTIFACT_INDEX = "lineage/artifacts.json"


@dataclass(frozen=True)
class RunFile:
    name: str  # its path among the run's artifacts
    path: Path  # the local file
    sha256: str


@dataclass(frozen=True)
class RunFiles:
    """A run's files and their hashes, from staging to logging. Adding a file gives a new value;
    :meth:`stage` writes one under ``folder`` first (the training's output folder)."""

    folder: Path
    files: tuple[RunFile, ...] = ()

    def stage(self, name: str, data: bytes) -> RunFiles:
        """With ``data`` written to ``folder/name`` as the artifact ``name``."""
        local = self.folder / name
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data)
        return self._with(RunFile(name, local, hashlib.sha256(data).hexdigest()))

    def add(self, name: str, path: Path, *, sha256: str | None = None) -> RunFiles:
        """With the local file ``path`` as the artifact ``name`` (hashed here unless ``sha256`` is known)."""
        return self._with(RunFile(name, path, sha256 or sha256_file(path)))

    @property
    def names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.files)

    @property
    def paths(self) -> dict[str, Path]:
        """``name in the run → local file``, in the order they were added."""
        return {f.name: f.path for f in self.files}

    @property
    def hashes(self) -> dict[str, str]:
        """``name in the run → SHA-256``: what the index records."""
        return {f.name: f.sha256 for f in self.files}

    def sha256(self, name: str) -> str:
        return self.hashes[name]

    def _with(self, file: RunFile) -> RunFiles:
        if file.name in self.names:
            raise TrackingError(f"{file.name} is already among the run's files (from {self.paths[file.name]})")
        return replace(self, files=(*self.files, file))


def index_text(hashes: Mapping[str, str]) -> str:
    """The index as logged: sorted paths, one per line (readable in the MLflow UI)."""
    return json.dumps(dict(sorted(hashes.items())), indent=2) + "\n"


def verify_artifacts(client: Any, run_id: str, tags: Mapping[str, str]) -> list[str]:
    """Every mismatch between the run's artifacts and the hashes it recorded (empty: all verify)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            root = Path(client.download_artifacts(run_id, "", tmp))
        except Exception as exc:  # any artifact-store failure means the hashes cannot be vouched for
            return [f"cannot download the artifacts: {exc}"]
        return verify_tree(root, tags)


def verify_tree(root: Path, tags: Mapping[str, str]) -> list[str]:
    """Every mismatch between a downloaded run artifact tree and the hashes the run recorded."""
    index_path = root / ARTIFACT_INDEX
    if not index_path.is_file():
        return [f"{ARTIFACT_INDEX} is missing"]
    text = index_path.read_bytes()
    problems = []
    if hashlib.sha256(text).hexdigest() != tags.get(TAG_ARTIFACTS_SHA256):
        problems.append(f"{ARTIFACT_INDEX} does not match {TAG_ARTIFACTS_SHA256}")
    try:
        index = json.loads(text)
        if not isinstance(index, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        return [*problems, f"{ARTIFACT_INDEX} is not a JSON object of hashes: {exc}"]
    if index.get("weights/best.pt") != tags.get(TAG_WEIGHTS_SHA256):
        problems.append(f"weights/best.pt in the index does not match {TAG_WEIGHTS_SHA256}")
    for rel, expected in sorted(index.items()):
        path = root / rel
        if not path.resolve().is_relative_to(root.resolve()) or not path.is_file():
            problems.append(f"{rel}: missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            problems.append(f"{rel}: content changed since the run logged it")
    return problems


def served_weights_problems(client: Any, version: Any) -> list[str]:
    """What ``models:/NAME@ALIAS`` would serve must be the weights the run recorded."""
    import mlflow

    if not str(version.source).startswith("models:/"):
        return []
    with tempfile.TemporaryDirectory() as tmp, using_tracking_uri(client.tracking_uri):
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=version.source, dst_path=tmp))
        except Exception as exc:  # any artifact-store failure means the served weights cannot be vouched for
            return [f"cannot download the served model {version.source}: {exc}"]
        from mlflow_cv.serving.model import weights_problems

        if problems := weights_problems(local, version.tags):
            return [f"the served model {version.source} is not the run's: {'; '.join(problems)}"]
    return []
