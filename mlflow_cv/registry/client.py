"""Registry access over MLflow for the client side: the client factory, lookups and the model's policy.

No server plugin is imported here: the guard (:mod:`mlflow_cv.server.registry_store`) is loaded by MLflow
itself, through its entry point, only when a ``cv-guard-…`` registry URI is used.
"""

from __future__ import annotations

import getpass
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow_cv.errors import RegistryError
from mlflow_cv.registry.history import PolicyEvent, PolicyRequest, parse_history
from mlflow_cv.registry.policy import Policy
from mlflow_cv.tags import TAG_POLICY, TAG_POLICY_REQUEST, guarded_uri
from mlflow_cv.tracking.refs import call

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

__all__ = [
    "holder_of",
    "policy",
    "registry_client",
    "set_policy",
    "who_am_i",
]


def registry_client(tracking_uri: str | None = None, *, project_root: Path | None = None) -> MlflowClient:
    """An ``MlflowClient`` for ``tracking_uri``, else ``$MLFLOW_TRACKING_URI``, else the project's
    ``sqlite:///<project_root>/mlflow.db`` (:func:`~mlflow_cv.tracking.store.resolve_tracking_uri`);
    with the embedded SQLite store its registry goes through the guard too."""
    from mlflow.tracking import MlflowClient

    from mlflow_cv.tracking.store import resolve_tracking_uri

    tracking_uri = resolve_tracking_uri(tracking_uri, project_root=project_root or Path.cwd())
    registry = guarded_uri(tracking_uri) if tracking_uri.startswith("sqlite:") else tracking_uri
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry)


def who_am_i() -> str:
    """The mover's own claim of who they are (the server records it as a claim unless it authenticated them)."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


def policy(client: MlflowClient, name: str) -> Policy:
    """The registered model's policy (its ``cv.policy`` tag, else the defaults)."""
    model = call(f"no registered model {name!r}", client.get_registered_model, name)
    return Policy.from_json(dict(model.tags).get(TAG_POLICY))


def set_policy(client: MlflowClient, name: str, text: str, *, allow_loosen: bool = False, why: str = "") -> Policy:
    """Validate ``text`` (JSON) and store it as the model's policy; a policy looser than the current one
    (:meth:`Policy.loosened_by`) is refused unless ``allow_loosen``. The change is an event of the history."""
    chosen = Policy.from_json(text)
    tags = dict(call(f"no registered model {name!r}", client.get_registered_model, name).tags)
    old = Policy.from_json(tags.get(TAG_POLICY))
    loosened = old.loosened_by(chosen)
    if loosened and not allow_loosen:
        raise RegistryError(
            f"the new policy of {name} loosens the rules; pass --allow-loosen if that is meant", problems=loosened
        )
    if chosen == old and TAG_POLICY in tags:
        return chosen
    request = PolicyRequest(policy=chosen.to_json(), who=who_am_i(), why=why, allow_loosen=allow_loosen)
    call("cannot state the policy change", client.set_registered_model_tag, name, TAG_POLICY_REQUEST, request.to_json())
    call("the registry refused the policy", client.set_registered_model_tag, name, TAG_POLICY, chosen.to_json())
    tags = dict(call("", client.get_registered_model, name).tags)
    if not any(e.nonce == request.nonce for e in parse_history(tags)):  # no guard on this registry: record it here
        event = PolicyEvent.now(
            who=request.who,
            old=old.to_json(),
            new=chosen.to_json(),
            loosened=tuple(loosened),
            why=why,
            nonce=request.nonce,
        )
        call("cannot record the policy change", client.set_registered_model_tag, name, event.key, event.to_json())
        call("", client.delete_registered_model_tag, name, TAG_POLICY_REQUEST)
    return chosen


def holder_of(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    model = call(f"no registered model {name!r}", client.get_registered_model, name)
    number = (model.aliases or {}).get(alias)
    return None if number is None else client.get_model_version(name, number)
