"""The HTTP API (FastAPI): groups, bandwidth overrides, metrics, health, Prometheus, tokens.

Names are imported lazily so ``reconciler.api.cli`` (registered in the root CLI) does not load
FastAPI and SQLAlchemy just to print ``headroom --help``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AllocationProvider",
    "ApiContext",
    "OverrideFn",
    "create_app",
    "issue_token",
    "verify_token",
]

_HOMES = {
    "create_app": "reconciler.api.app",
    "AllocationProvider": "reconciler.api.deps",
    "ApiContext": "reconciler.api.deps",
    "OverrideFn": "reconciler.api.deps",
    "issue_token": "reconciler.api.tokens",
    "verify_token": "reconciler.api.tokens",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'reconciler.api' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
