"""The one health probe of an MLflow server (tracking server, artifact proxy): ``GET /health``."""

from __future__ import annotations

import urllib.error
import urllib.request

__all__ = ["HEALTH_TIMEOUT_S", "health_problem"]

HEALTH_TIMEOUT_S = 5.0


def health_problem(base_url: str, *, what: str = "the server") -> str | None:
    """Why an MLflow server at ``base_url`` does not answer its ``/health`` probe, or None when it does."""
    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}/health", timeout=HEALTH_TIMEOUT_S):
            return None
    except urllib.error.HTTPError as exc:  # it answered, with an error
        return f"{what} at {base_url} answered /health with HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return f"cannot reach {what} at {base_url} ({getattr(exc, 'reason', exc)})"
