"""Identity from the server, not the client: the guard under MLflow's own authentication app
(``mlflow server --app-name basic-auth``). Moving a protected alias or changing a policy needs MANAGE on
the registered model; the history's ``who`` is the user the server authenticated."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_cv import history, promote
from mlflow_cv.errors import RegistryError
from mlflow_cv.project import Project
from mlflow_cv.registry.client import set_policy
from tests.helpers.registry import make_run, register_evaluated
from tests.helpers.servers import Server, guarded_mlflow_server

pytestmark = pytest.mark.slow  # starts a server

ADMIN = ("admin", "admin-password-1234")
USERS = {"alice": "alice-password-1234", "bob": "bob-password-12345", "carol": "carol-password-1234"}


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("auth")
    ini = root / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{root / 'auth.db'}\n"
        f"admin_username = {ADMIN[0]}\nadmin_password = {ADMIN[1]}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "auth_cache_ttl_seconds = 300\n"  # PBKDF2 once per user, not once per request
    )
    env = {"MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_FLASK_SERVER_SECRET_KEY": uuid.uuid4().hex}
    with guarded_mlflow_server(
        f"sqlite:///{root / 'mlflow.db'}", root, args=("--app-name", "basic-auth"), env=env
    ) as server:
        for user, password in USERS.items():
            call(server, "2.0/mlflow/users/create", {"username": user, "password": password})
        yield server


def call(server: Server, path: str, body: dict[str, Any], user: tuple[str, str] = ADMIN) -> dict[str, Any]:
    """Raw REST as ``user``: ``POST /api/<path>``."""
    token = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
    request = urllib.request.Request(
        f"{server.url}/api/{path}",
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read() or b"{}"))


@pytest.fixture
def as_user(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Switch the credentials every MlflowClient call sends (MLflow reads them per request)."""

    def switch(user: str) -> None:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN[1] if user == ADMIN[0] else USERS[user])

    return switch


def test_only_a_manager_moves_production_and_the_history_names_them(
    auth_server: Server, as_user: Any, project: Project
) -> None:
    client = MlflowClient(auth_server.url)
    name = f"auth-{uuid.uuid4().hex[:8]}"
    as_user("admin")
    register_evaluated(client, make_run(client), name=name, project=project)
    better = {"val/mAP50-95": 0.6, "val/mAP50": 0.8, "val/AP50-95/circle": 0.65, "val/AP50-95/square": 0.55}
    register_evaluated(
        client, make_run(client, metrics=better, **{"cv.config.sha256": "9" * 64}), name=name, project=project
    )
    grant = {"resource_type": "registered_model", "resource_id": name}
    call(auth_server, "3.0/mlflow/users/permissions/grant", {**grant, "username": "alice", "permission": "MANAGE"})
    call(auth_server, "3.0/mlflow/users/permissions/grant", {**grant, "username": "carol", "permission": "EDIT"})

    as_user("bob")  # READ: MLflow's own auth refuses him before the guard is asked
    with pytest.raises(MlflowException, match="Permission denied|PERMISSION_DENIED"):
        client.set_registered_model_alias(name, "production", "1")
    as_user("carol")  # EDIT: MLflow would let her set an alias; a protected one needs MANAGE
    with pytest.raises(RegistryError, match="mlflow-cv guard: carol may not move 'production' of .* needs MANAGE"):
        promote(client, name, "1.0.0", alias="production", why="carol's try", project=project)
    with pytest.raises(RegistryError, match="mlflow-cv guard: carol may not change the policy"):
        set_policy(client, name, '{"tolerance": 0.005}')
    client.set_registered_model_alias(name, "candidate", "1")  # an alias nobody protects: EDIT is enough
    assert "production" not in client.get_registered_model(name).aliases

    as_user("alice")
    assert promote(client, name, "1.0.0", alias="production", why="first release", project=project).moved
    set_policy(client, name, '{"tolerance": 0.005}', why="tighter")
    assert promote(client, name, "1.1.0", alias="production", project=project).moved
    events = history(client, name)
    assert [(e.kind, e.who) for e in events] == [
        ("direct", "carol"),
        ("promote", "alice"),
        ("policy", "alice"),
        ("promote", "alice"),
    ]
    assert events[1].why == "first release"


def test_a_claimed_identity_is_not_an_identity(
    auth_server: Server, as_user: Any, tmp_path: Path, project: Project
) -> None:
    """Without credentials nothing moves; with them, the request's ``who`` claim is ignored."""
    client = MlflowClient(auth_server.url)
    name = f"claim-{uuid.uuid4().hex[:8]}"
    as_user("admin")
    register_evaluated(client, make_run(client), name=name, project=project)
    request = urllib.request.Request(
        f"{auth_server.url}/api/2.0/mlflow/registered-models/alias",
        json.dumps({"name": name, "alias": "production", "version": "1"}).encode(),
        {"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(request, timeout=30)
    assert anonymous.value.code == 401
    claim = {
        "alias": "production",
        "version": "1",
        "who": "ceo@corp",
        "why": "trust me",
        "kind": "promote",
        "nonce": "abcd1234",
    }
    client.set_registered_model_tag(name, "cv.move.request", json.dumps(claim))
    client.set_registered_model_alias(name, "production", "1")
    (event,) = history(client, name)
    assert (event.who, event.why) == ("admin", "trust me")
