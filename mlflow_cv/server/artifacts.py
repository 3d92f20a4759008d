"""The guard re-hashes a candidate's artifacts itself, where it can read them (DESIGN §4b).

A protected move's artifacts gate is evidence only if the side that enforces it read the bytes: the
run's artifacts against its write-once index (``cv.artifacts.sha256``), and the served model
(``models:/<id>``) against the version's write-once weight tags. The server reads them when it serves
the artifacts itself (``--artifacts-destination``: ``mlflow-artifacts:/`` URIs resolve to that
destination) or when the artifact root is a location it can reach (a shared folder, a bucket it has
credentials for). Where it cannot, :class:`Unreadable` says why, and the policy decides
(``artifacts: server`` refuses the move; ``artifacts: client`` leaves the check to ``mlflow-cv``).
"""

from __future__ import annotations

import os
import posixpath
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from mlflow_cv.tracking.artifacts import verify_tree

__all__ = ["Unreadable", "artifact_problems"]


class Unreadable(Exception):
    """The server cannot read these artifacts (the message says why)."""


def _readable(uri: str) -> str:
    """Where this server reads ``uri`` from: a proxied URI resolves to its ``--artifacts-destination``."""
    if urllib.parse.urlparse(uri).scheme not in ("mlflow-artifacts", "http", "https"):
        return uri
    from mlflow.server import ARTIFACTS_DESTINATION_ENV_VAR  # type: ignore[attr-defined]

    from mlflow_cv._mlflow import is_serving_proxied_artifacts, proxied_artifact_path

    if not (is_serving_proxied_artifacts() and os.environ.get(ARTIFACTS_DESTINATION_ENV_VAR)):
        raise Unreadable(f"{uri} is proxied, and this server does not serve artifacts (--artifacts-destination)")
    path = proxied_artifact_path(uri) or ""
    return posixpath.join(os.environ[ARTIFACTS_DESTINATION_ENV_VAR], path)


def _download(uri: str, dest: str) -> Path:
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    try:
        os.makedirs(dest, exist_ok=True)
        return Path(get_artifact_repository(_readable(uri)).download_artifacts("", dst_path=dest))
    except Unreadable:
        raise
    except Exception as exc:  # any artifact-store failure: the bytes cannot be vouched for by this server
        raise Unreadable(f"cannot read {uri}: {type(exc).__name__}: {exc}") from None


def artifact_problems(tracking_store: Any, version: Any, tags: dict[str, str]) -> list[str]:
    """Every mismatch the server finds in ``version``'s artifacts (empty: all verify); raises
    :class:`Unreadable` when it cannot read them."""
    run = tracking_store.get_run(version.run_id)
    with tempfile.TemporaryDirectory(prefix="cv-rehash-") as tmp:
        problems = verify_tree(_download(run.info.artifact_uri, f"{tmp}/run"), tags)
        source = str(version.source)
        if source.startswith("models:/"):
            model_id = source[len("models:/") :].strip("/")
            location = tracking_store.get_logged_model(model_id).artifact_location
            from mlflow_cv.serving.model import weights_problems

            if found := weights_problems(_download(location, f"{tmp}/model"), tags):
                problems.append(f"the served model {source} is not the run's: {'; '.join(found)}")
    return problems
