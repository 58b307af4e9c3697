"""Bearer-token authentication and scope checks for the HTTP API.

401 when the token is missing, malformed, unknown or revoked; 403 when it is valid but its scope
is too small (``write`` implies ``read``). ``reconciler.api.gate`` checks the token from the
headers before the body is read, using the scope :func:`require_scope` declares on the route;
the dependency then finds the token already verified (and documents the security scheme).
A verified token is remembered for ``cache_for`` (default 2 s, so a revocation takes effect
within that) to keep the database and the thread pool out of most requests; ``last_used_at``
is written at most once a minute per token.
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

__all__ = ["SCOPE_RANK", "TOKEN_KEY", "Authenticator", "require_scope", "required_scope"]

SCOPE_RANK = {"read": 1, "write": 2}
#: Where the gate leaves the verified token in the ASGI scope.
TOKEN_KEY = "headroom.token"
_SCOPE_ATTR = "headroom_scope"
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

    async def check(self, token: str | None, scope: str) -> TokenRecord:
        """The token's record if it allows ``scope``; HTTPException 401 or 403 otherwise."""
        record = self.cached(token) if token else None
        if record is None:
            record = await run_in_threadpool(self.authenticate, token)
        if SCOPE_RANK[record.scope] < SCOPE_RANK[scope]:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"token {record.id} has scope {record.scope!r}; this needs {scope!r}",
            )
        return record


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def require_scope(scope: str) -> Callable[..., Awaitable[TokenRecord]]:
    """A FastAPI dependency allowing tokens whose scope is ``scope`` or wider."""
    if scope not in SCOPE_RANK:
        raise ValueError(f"unknown scope {scope!r}")

    async def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> TokenRecord:
        verified = request.scope.get(TOKEN_KEY)
        if isinstance(verified, TokenRecord) and SCOPE_RANK[verified.scope] >= SCOPE_RANK[scope]:
            return verified
        auth: Authenticator = request.app.state.authenticator
        return await auth.check(credentials.credentials if credentials else None, scope)

    setattr(dependency, _SCOPE_ATTR, scope)
    return dependency


def required_scope(call: object) -> str | None:
    """The scope a dependency made by :func:`require_scope` asks for, else None."""
    found = getattr(call, _SCOPE_ATTR, None)
    return found if isinstance(found, str) else None
