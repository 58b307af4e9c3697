"""Call the ASGI app directly with a body streamed lazily, counting what the app pulled.

The test client reads a request body before the app sees it; here each chunk is made only when
the app asks for it, so a test can tell whether a 300 MB body was read, and how much of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import anyio
from starlette.types import ASGIApp, Message

__all__ = ["Answer", "call", "zeros"]


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    pulled: int = 0  # request body bytes the app received

    def json(self) -> Any:
        return json.loads(self.body)


def zeros(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """``total`` bytes of a JSON-looking body, made one chunk at a time."""
    sent = 0
    while sent < total:
        size = min(chunk, total - sent)
        yield b" " * size
        sent += size


def call(
    app: ASGIApp,
    method: str,
    path: str,
    chunks: Iterator[bytes],
    headers: dict[str, str] | None = None,
) -> Answer:
    """One HTTP request through ``app``; ``chunks`` is pulled only as the app reads. ``path``
    is as on the wire: percent-encoded, with any query string."""
    answer = Answer()
    pending = iter(chunks)
    done = False

    async def receive() -> Message:
        nonlocal done
        if done:
            return {"type": "http.disconnect"}
        piece = next(pending, None)
        if piece is None:
            done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        answer.pulled += len(piece)
        return {"type": "http.request", "body": piece, "more_body": True}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    target, _, query = path.partition("?")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(target),
        "raw_path": target.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    anyio.run(app, scope, receive, send)
    return answer
