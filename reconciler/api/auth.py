"""Bearer-token authentication and scope checks for the HTTP API.

401 when the token is missing, malformed, unknown or revoked; 403 when it is valid but its scope
is too small (``write`` implies ``read``). ``last_used_at`` is written at most once a minute per
token so reads stay cheap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from reconciler.api.tokens import verify_token
from reconciler.clock import Clock
from reconciler.state import StateStore, TokenRecord

__all__ = ["Authenticator", "require_scope"]

_RANK = {"read": 1, "write": 2}
_bearer = HTTPBearer(auto_error=False, description="A token from `headroom token create`.")


class Authenticator:
    """Checks bearer tokens against the store; remembers when each token was last recorded."""

    def __init__(
        self, store: StateStore, clock: Clock, touch_every: timedelta = timedelta(minutes=1)
    ) -> None:
        self._store = store
        self._clock = clock
        self._touch_every = touch_every
        self._touched: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def authenticate(self, token: str | None) -> TokenRecord:
        if not token:
            raise _unauthorised("missing bearer token (Authorization: Bearer <token>)")
        record = verify_token(self._store, token)
        if record is None:
            raise _unauthorised("invalid or revoked token")
        now = self._clock.now()
        with self._lock:
            last = self._touched.get(record.id)
            due = last is None or now - last >= self._touch_every
            if due:
                self._touched[record.id] = now
        if due:
            self._store.touch_token(record.id, now)
        return record


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def require_scope(scope: str) -> Callable[..., TokenRecord]:
    """A FastAPI dependency allowing tokens whose scope is ``scope`` or wider."""
    if scope not in _RANK:
        raise ValueError(f"unknown scope {scope!r}")

    def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> TokenRecord:
        auth: Authenticator = request.app.state.authenticator
        record = auth.authenticate(credentials.credentials if credentials else None)
        if _RANK[record.scope] < _RANK[scope]:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"token {record.id} has scope {record.scope!r}; this needs {scope!r}",
            )
        return record

    return dependency
