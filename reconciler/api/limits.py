"""Request size limits: the body cap (413) and the group-create member cap (422).

A body is refused up front when its ``Content-Length`` is over the limit, and a streamed
(chunked) body is cut off as soon as the bytes received pass it, so no request can make the
server buffer more than the limit. Defaults: 1 MiB bodies, 5,000 members per group; ``headroom
serve`` reads ``HEADROOM_API_MAX_BODY_BYTES`` and ``HEADROOM_API_MAX_GROUP_MEMBERS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MEMBERS_CEILING", "ApiLimits", "BodyLimitMiddleware"]

#: The most members any configuration may allow (the request schema's own cap).
MEMBERS_CEILING = 100_000
_ENV = {
    "max_body_bytes": "HEADROOM_API_MAX_BODY_BYTES",
    "max_group_members": "HEADROOM_API_MAX_GROUP_MEMBERS",
}


@dataclass(frozen=True)
class ApiLimits:
    """How large a request may be. ``max_body_bytes``: any request body (413 past it);
    ``max_group_members``: members in one ``POST /groups/create`` (422 past it)."""

    max_body_bytes: int = 1024 * 1024
    max_group_members: int = 5000

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be at least 1, got {self.max_body_bytes}")
        if not 1 <= self.max_group_members <= MEMBERS_CEILING:
            raise ValueError(
                f"max_group_members must be 1 to {MEMBERS_CEILING}, got {self.max_group_members}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ApiLimits:
        """The defaults, overridden by ``HEADROOM_API_MAX_BODY_BYTES`` and
        ``HEADROOM_API_MAX_GROUP_MEMBERS`` when set."""
        given: dict[str, int] = {}
        for name, var in _ENV.items():
            raw = environ.get(var)
            if raw is None or not raw.strip():
                continue
            try:
                given[name] = int(raw)
            except ValueError:
                raise ValueError(f"{var} must be a whole number, got {raw!r}") from None
        return cls(**given)


class _TooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"request body over the limit of {limit} bytes")


class BodyLimitMiddleware:
    """Pure ASGI middleware refusing bodies over ``max_bytes`` with 413 without buffering them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.max_bytes:
            await _refuse(_TooLarge(self.max_bytes), scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except _TooLarge as exc:  # raised where no exception handler turned it into a response
            if started:
                raise
            await _refuse(exc, scope, receive, send)


def _declared_length(scope: Scope) -> int:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # the server refuses a malformed length; the byte count still applies
    return 0


async def _refuse(exc: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
    await response(scope, receive, send)
