"""Registry access over MLflow for the client side: the client factory, lookups and the model's policy.

No server plugin is imported here: the guard (:mod:`mlflow_cv.registry.guard`) is loaded by MLflow
itself, through its entry point, only when a ``cv-guard-…`` registry URI is used.
"""

from __future__ import annotations

import getpass
import socket
from pathlib import Path
from typing import Any

from mlflow_cv.errors import RegistryError
from mlflow_cv.registry.history import PolicyEvent, PolicyRequest, parse_history
from mlflow_cv.registry.policy import Policy
from mlflow_cv.semver import Version
from mlflow_cv.tags import TAG_POLICY, TAG_POLICY_REQUEST, TAG_SEMVER

__all__ = [
    "call",
    "find_version",
    "holder_of",
    "policy",
    "registry_client",
    "set_policy",
    "versions",
    "who_am_i",
]


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
    """Every version of ``name``, page by page (MLflow answers at most one page per call)."""
    found: list[Any] = []
    token = None
    while True:
        page = call(f"cannot list versions of {name!r}", client.search_model_versions, f"name='{name}'",
                    max_results=1000, page_token=token)  # fmt: skip
        found.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return found


def who_am_i() -> str:
    """The mover's own claim of who they are (the server records it as a claim unless it authenticated them)."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


def policy(client: Any, name: str) -> Policy:
    """The registered model's policy (its ``cv.policy`` tag, else the defaults)."""
    model = call(f"no registered model {name!r}", client.get_registered_model, name)
    return Policy.from_json(dict(model.tags).get(TAG_POLICY))


def set_policy(client: Any, name: str, text: str, *, allow_loosen: bool = False, why: str = "") -> Policy:
    """Validate ``text`` (JSON) and store it as the model's policy; a policy looser than the current one
    (:meth:`Policy.loosened_by`) is refused unless ``allow_loosen``. The change is an event of the history."""
    chosen = Policy.from_json(text)
    tags = dict(call(f"no registered model {name!r}", client.get_registered_model, name).tags)
    old = Policy.from_json(tags.get(TAG_POLICY))
    loosened = old.loosened_by(chosen)
    if loosened and not allow_loosen:
        raise RegistryError(f"the new policy of {name} loosens the rules; pass --allow-loosen if that is meant",
                            problems=loosened)  # fmt: skip
    if chosen == old and TAG_POLICY in tags:
        return chosen
    request = PolicyRequest(policy=chosen.to_json(), who=who_am_i(), why=why, allow_loosen=allow_loosen)
    call("cannot state the policy change", client.set_registered_model_tag, name, TAG_POLICY_REQUEST,
         request.to_json())  # fmt: skip
    call("the registry refused the policy", client.set_registered_model_tag, name, TAG_POLICY, chosen.to_json())
    tags = dict(call("", client.get_registered_model, name).tags)
    if not any(e.nonce == request.nonce for e in parse_history(tags)):  # no guard on this registry: record it here
        event = PolicyEvent.now(who=request.who, old=old.to_json(), new=chosen.to_json(), loosened=tuple(loosened),
                                why=why, nonce=request.nonce)  # fmt: skip
        call("cannot record the policy change", client.set_registered_model_tag, name, event.key, event.to_json())
        call("", client.delete_registered_model_tag, name, TAG_POLICY_REQUEST)
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
