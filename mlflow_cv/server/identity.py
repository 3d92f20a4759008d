"""Who is asking, as the server knows it, and whether they may: MLflow's own authentication app.

With ``mlflow server --app-name basic-auth``, MLflow's auth app authenticates every request before a
handler (and so a store method) runs, and leaves the user in ``flask.g.mlflow_authenticated_user``; a
client's ``Authorization`` header alone is never trusted (without the app it is nobody's word but the
client's). Permissions are MLflow's: moving a protected alias or changing a policy needs MANAGE on the
registered model (admins have it everywhere).
"""

from __future__ import annotations

import sys
from typing import Any

from mlflow_cv._mlflow import user_permission
from mlflow_cv.server.refusal import refuse

__all__ = ["authenticated_user", "require_manage", "who"]


def _auth() -> Any:
    """MLflow's auth module when its app runs in this process, else None. Never imported here: importing
    it reads the auth config and opens the auth database (MLflow checks it the same way)."""
    module = sys.modules.get("mlflow.server.auth")
    return module if module is not None and module.is_auth_enabled() else None


def authenticated_user() -> str | None:
    """The user MLflow's auth app authenticated for the current request; None without the app, or outside
    a request (the in-process guard of the embedded store, the server's own job runner)."""
    if _auth() is None:
        return None
    from flask import g, has_request_context

    user = g.get("mlflow_authenticated_user") if has_request_context() else None
    return str(user) if user else None


def who(claim: str | None) -> str:
    """``who`` for the history: the authenticated user, else ``unauthenticated`` plus the client's claim."""
    user = authenticated_user()
    if user:
        return user
    return "unauthenticated" + (f" (claims {claim})" if claim else "")


def require_manage(name: str, action: str) -> None:
    """Refuse (HTTP 403) unless the authenticated user may MANAGE registered model ``name``; nothing to
    check without authentication (then the history says ``unauthenticated``)."""
    user, auth = authenticated_user(), _auth()
    if user is None or auth is None:
        return
    if auth.store.get_user(user).is_admin:
        return
    if user_permission(auth, user, "registered_model", name).can_manage:
        return
    raise refuse(
        f"{user} may not {action} {name}: that needs MANAGE permission on the registered model "
        "(ask its owner or an admin to grant it)",
        code="PERMISSION_DENIED",
    )
