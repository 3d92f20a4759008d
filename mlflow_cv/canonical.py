"""Canonical JSON: the one serialization every hash in mlflow-cv is taken over.

Sorted keys, no whitespace, UTF-8 (not ASCII-escaped), so equal data gives equal bytes whatever the
order it was built in (DESIGN §2: the manifest hash; §3: the config id; the architecture hash).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["canonical_bytes", "canonical_json", "canonical_sha256"]


def canonical_json(doc: Any) -> str:
    """``doc`` as canonical JSON text; values JSON cannot hold are refused (``TypeError``), not guessed."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_bytes(doc: Any) -> bytes:
    return canonical_json(doc).encode("utf-8")


def canonical_sha256(doc: Any) -> str:
    """Hex SHA-256 of ``doc``'s canonical bytes."""
    return hashlib.sha256(canonical_bytes(doc)).hexdigest()
