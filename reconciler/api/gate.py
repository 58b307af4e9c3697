"""Authenticate from the headers before anything reads the request body.

FastAPI reads and parses a body before it solves a route's dependencies, so a token checked by a
dependency alone lets any client without one make the server read (and hold) its whole body.
This pure ASGI middleware matches the request to its route first, and when the route declares a
scope (``reconciler.api.auth.require_scope``) it checks the bearer token and answers 401 or 403
without reading a byte of the body. It also leaves the matched route in the scope, so request
metrics carry the route template even for refused requests.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from reconciler.api.auth import SCOPE_RANK, TOKEN_KEY, Authenticator, required_scope

__all__ = ["AuthGate", "route_scope"]


def route_scope(route: BaseRoute) -> str | None:
    """The widest token scope a route's dependencies ask for (None: no token needed)."""
    if not isinstance(route, APIRoute):
        return None
    found: list[str] = []
    pending = list(route.dependant.dependencies)
    while pending:
        dep = pending.pop()
        scope = required_scope(dep.call)
        if scope is not None:
            found.append(scope)
        pending.extend(dep.dependencies)
    return max(found, key=SCOPE_RANK.__getitem__, default=None)


class AuthGate:
    """Checks the token of requests to ``routes`` (the routers' own routes, as included without
    a prefix) that need one, before the body is read."""

    def __init__(
        self, app: ASGIApp, routes: Sequence[BaseRoute], authenticator: Authenticator
    ) -> None:
        self.app = app
        self.routes = tuple(routes)
        self.authenticator = authenticator
        self._scopes: dict[int, str | None] = {}

    def _match(self, scope: Scope) -> BaseRoute | None:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route
        return None

    def _needs(self, route: BaseRoute) -> str | None:
        key = id(route)  # one entry per route of the app: bounded
        if key not in self._scopes:
            self._scopes[key] = route_scope(route)
        return self._scopes[key]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self._match(scope)
        needed = self._needs(route) if route is not None else None
        if route is not None:
            scope["route"] = route
        if needed is not None:
            try:
                scope[TOKEN_KEY] = await self.authenticator.check(_bearer(scope), needed)
            except HTTPException as exc:
                body = {"detail": exc.detail}
                response = JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _bearer(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            scheme, credentials = get_authorization_scheme_param(value.decode("latin-1"))
            return credentials if scheme.lower() == "bearer" and credentials else None
    return None
