"""Registry access over MLflow for the client side: the client factory, lookups and the model's policy.

No server plugin is imported here: the guard (:mod:`mlflow_cv.registry.guard`) is loaded by MLflow
itself, through its entry point, only when a ``cv-guard-…`` registry URI is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlflow_cv.errors import RegistryError
from mlflow_cv.registry.policy import Policy
from mlflow_cv.semver import Version
from mlflow_cv.tags import TAG_POLICY, TAG_SEMVER

__all__ = ["call", "find_version", "holder_of", "policy", "registry_client", "set_policy", "versions"]


def registry_client(tracking_uri: str | None = None, *, project_root: Path | None = None) -> Any:
    """An ``MlflowClient`` for ``tracking_uri``, else ``$MLFLOW_TRACKING_URI``, else the project's
    ``sqlite:///<project_root>/mlflow.db`` (:func:`~mlflow_cv.tracking.server.resolve_tracking_uri`);
    with the embedded SQLite store its registry goes through the guard too."""
    from mlflow.tracking import MlflowClient

    from mlflow_cv.tracking.server import resolve_tracking_uri

    tracking_uri = resolve_tracking_uri(tracking_uri, project_root=project_root or Path.cwd())
    registry = f"cv-guard-{tracking_uri}" if tracking_uri.startswith("sqlite:") else tracking_uri
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry)


def call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a registry call; MLflow's errors (the guard's refusals among them) become RegistryError."""
    from mlflow.exceptions import MlflowException

    try:
        return fn(*args, **kwargs)
    except MlflowException as exc:
        raise RegistryError(f"{what}: {exc.message}") from exc


def versions(client: Any, name: str) -> list[Any]:
    return list(call(f"cannot list versions of {name!r}", client.search_model_versions, f"name='{name}'"))


def policy(client: Any, name: str) -> Policy:
    """The registered model's policy (its ``cv.policy`` tag, else the defaults)."""
    model = call(f"no registered model {name!r}", client.get_registered_model, name)
    return Policy.from_json(dict(model.tags).get(TAG_POLICY))


def set_policy(client: Any, name: str, text: str) -> Policy:
    """Validate ``text`` (JSON) and store it as the model's policy."""
    chosen = Policy.from_json(text)
    call(f"no registered model {name!r}", client.get_registered_model, name)
    call("cannot store the policy", client.set_registered_model_tag, name, TAG_POLICY, chosen.to_json())
    return chosen


def find_version(client: Any, name: str, semver: str) -> Any:
    """The model version of ``name`` whose ``cv.semver`` is ``semver`` (``v1.2.0`` or ``1.2.0``)."""
    wanted = str(Version.parse(semver))
    known_versions = versions(client, name)
    for v in known_versions:
        if v.tags.get(TAG_SEMVER) == wanted:
            return v
    known = sorted((v.tags[TAG_SEMVER] for v in known_versions if TAG_SEMVER in v.tags), key=Version.parse)
    raise RegistryError(f"{name!r} has no version {semver} (known: {', '.join(known) or 'none'})")


def holder_of(client: Any, name: str, alias: str) -> Any | None:
    model = call(f"no registered model {name!r}", client.get_registered_model, name)
    number = (model.aliases or {}).get(alias)
    return None if number is None else client.get_model_version(name, number)
