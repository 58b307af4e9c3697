"""Bearer-token authentication and scope checks for the HTTP API.

401 when the token is missing, malformed, unknown or revoked; 403 when it is valid but its scope
is too small (``write`` implies ``read``). A verified token is remembered for ``cache_for``
(default 2 s, so a revocation takes effect within that) to keep the database and the thread
pool out of most requests; ``last_used_at`` is written at most once a minute per token.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from reconciler.api.tokens import verify_token
from reconciler.clock import Clock
from reconciler.state import StateStore, TokenRecord

__all__ = ["Authenticator", "require_scope"]

_RANK = {"read": 1, "write": 2}
_bearer = HTTPBearer(auto_error=False, description="A token from `headroom token create`.")


class Authenticator:
    """Checks bearer tokens against the store, with a short cache of verified tokens."""

    def __init__(
        self,
        store: StateStore,
        clock: Clock,
        *,
        cache_for: timedelta = timedelta(seconds=2),
        touch_every: timedelta = timedelta(minutes=1),
    ) -> None:
        self._store = store
        self._clock = clock
        self._cache_for = cache_for
        self._touch_every = touch_every
        self._cache: dict[str, tuple[TokenRecord, datetime]] = {}
        self._touched: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def cached(self, token: str) -> TokenRecord | None:
        """A token verified less than ``cache_for`` ago, else None (no database access)."""
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            hit = self._cache.get(key)
        if hit is None or self._clock.now() >= hit[1]:
            return None
        return hit[0]

    def authenticate(self, token: str | None) -> TokenRecord:
        """Verify against the store (blocking: call it from a worker thread)."""
        if not token:
            raise _unauthorised("missing bearer token (Authorization: Bearer <token>)")
        record = verify_token(self._store, token)
        if record is None:
            raise _unauthorised("invalid or revoked token")
        now = self._clock.now()
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            if self._cache_for > timedelta(0):
                key = hashlib.sha256(token.encode()).hexdigest()
                self._cache[key] = (record, now + self._cache_for)
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


def require_scope(scope: str) -> Callable[..., Awaitable[TokenRecord]]:
    """A FastAPI dependency allowing tokens whose scope is ``scope`` or wider."""
    if scope not in _RANK:
        raise ValueError(f"unknown scope {scope!r}")

    async def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> TokenRecord:
        auth: Authenticator = request.app.state.authenticator
        token = credentials.credentials if credentials else None
        record = auth.cached(token) if token else None
        if record is None:
            record = await run_in_threadpool(auth.authenticate, token)
        if _RANK[record.scope] < _RANK[scope]:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"token {record.id} has scope {record.scope!r}; this needs {scope!r}",
            )
        return record

    return dependency
