"""What users call a run: a run id, ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``, ``NAME@ALIAS`` or a
semver (with the model's name); and the plain MLflow registry reads that resolving needs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow_cv.errors import RegistryError, SnapshotError
from mlflow_cv.semver import Version
from mlflow_cv.tags import TAG_MANIFEST_SHA256, TAG_SEMVER, TAG_SNAPSHOT

__all__ = ["RunRef", "call", "find_version", "manifest_of", "resolve", "versions"]

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_SEMVER = re.compile(r"^v?\d+\.\d+\.\d+$")


@dataclass(frozen=True)
class RunRef:
    run_id: str
    label: str  # as the user named it, e.g. "models:/shapes@production (v1.1.0)"
    model: str | None = None  # registered model name, when the ref is a model version
    version: str | None = None  # its version number
    aliases: tuple[str, ...] = ()  # aliases the version holds now


def resolve(client: Any, ref: str, *, model: str | None = None) -> RunRef:
    """Turn ``ref`` into the run behind it; ``model`` names the registered model for bare semvers."""
    from mlflow.exceptions import MlflowException

    try:
        if _RUN_ID.match(ref):
            client.get_run(ref)
            return RunRef(run_id=ref, label=f"run {ref[:8]}")
        if ref.startswith("models:/"):
            body = ref[len("models:/") :]
            if "@" in body:
                name, alias = body.split("@", 1)
                version = client.get_model_version_by_alias(name, alias)
            elif "/" in body:
                name, number = body.rsplit("/", 1)
                version = client.get_model_version(name, number)
            else:
                raise RegistryError(f"{ref!r} names no version: use models:/NAME/VERSION or models:/NAME@ALIAS")
        elif re.fullmatch(r"[^/@\s]+@[\w.-]+", ref):  # NAME@ALIAS
            name, alias = ref.split("@", 1)
            version = client.get_model_version_by_alias(name, alias)
        elif _SEMVER.match(ref):
            if not model:
                raise RegistryError(f"{ref!r} is a semantic version: say of which model with --model NAME")
            name = model
            version = find_version(client, name, ref)
        else:
            raise RegistryError(
                f"{ref!r} is not a run id, models:/NAME/VERSION, models:/NAME@ALIAS, NAME@ALIAS or a semantic version"
            )
    except MlflowException as exc:
        raise RegistryError(f"cannot resolve {ref!r}: {exc.message}") from exc
    aliases = tuple(
        a for a, v in (client.get_registered_model(name).aliases or {}).items() if str(v) == str(version.version)
    )
    semver = version.tags.get(TAG_SEMVER)
    return RunRef(
        run_id=version.run_id,
        label=f"{ref}" + (f" (v{semver})" if semver and semver not in ref else ""),
        model=name,
        version=str(version.version),
        aliases=aliases,
    )


def call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a registry call; MLflow's errors (the guard's refusals among them) become RegistryError."""
    from mlflow.exceptions import MlflowException

    try:
        return fn(*args, **kwargs)
    except MlflowException as exc:
        raise RegistryError(f"{what}: {exc.message}") from exc


def versions(client: Any, name: str) -> list[Any]:
    """Every version of ``name``, page by page (MLflow answers at most one page per call)."""
    found: list[Any] = []
    token = None
    while True:
        page = call(
            f"cannot list versions of {name!r}",
            client.search_model_versions,
            f"name='{name}'",
            max_results=1000,
            page_token=token,
        )
        found.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return found


def find_version(client: Any, name: str, semver: str) -> Any:
    """The model version of ``name`` whose ``cv.semver`` is ``semver`` (``v1.2.0`` or ``1.2.0``)."""
    wanted = str(Version.parse(semver))
    known_versions = versions(client, name)
    for v in known_versions:
        if v.tags.get(TAG_SEMVER) == wanted:
            return v
    known = sorted((v.tags[TAG_SEMVER] for v in known_versions if TAG_SEMVER in v.tags), key=Version.parse)
    raise RegistryError(f"{name!r} has no version {semver} (known: {', '.join(known) or 'none'})")


def manifest_of(client: Any, run_id: str, tags: dict[str, str], *, project: Any) -> Any:
    """The run's frozen manifest: from the project if it holds the same one, else the run's artifact.

    Either way it is checked against the run's ``cv.data.manifest_sha256``.
    """
    import tempfile

    from mlflow_cv.data.manifest import read_manifest

    snapshot, expected = tags.get(TAG_SNAPSHOT), tags.get(TAG_MANIFEST_SHA256)
    if not snapshot or not expected:
        raise SnapshotError(f"run {run_id} has no snapshot lineage tags")
    local = project.manifest_path(snapshot)
    if local.is_file():
        manifest = read_manifest(local)
        if manifest.sha256 == expected:
            return manifest
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = Path(client.download_artifacts(run_id, f"data/{snapshot}.json", tmp))
        except Exception as exc:  # any artifact-store failure: the manifest cannot be had
            raise SnapshotError(
                f"run {run_id}: manifest of {snapshot} is neither in the project nor logged: {exc}"
            ) from exc
        manifest = read_manifest(path)
    if manifest.sha256 != expected:
        raise SnapshotError(f"run {run_id}: the logged manifest of {snapshot} does not match {TAG_MANIFEST_SHA256}")
    return manifest
