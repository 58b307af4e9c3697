"""Recorded ARM and Azure Monitor exchanges served through azure-core's requests transport.

A fixture file is a JSON list of exchanges ``{method, url, status, headers, body}`` in the
documented REST shapes. Each is registered with ``responses`` on its path and the query
parameters it names besides ``api-version`` (so a ``nextLink`` page is told from the first;
``any_query`` drops that check, for Monitor's time-span queries, and ``match_aggregation``
checks only Monitor's ``aggregation``);
exchanges of one request are served in order (a 429 before the 200). ``RecordingTransport``
records the retry policy's sleeps instead of sleeping.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import responses
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport

FIXTURES = Path(__file__).parent / "fixtures"
SUB = "00000000-0000-0000-0000-000000000001"


class FakeCredential:
    """A token credential that never talks to Entra ID."""

    def __init__(self) -> None:
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        expires = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
        return AccessToken("fake-token", expires)


class RecordingTransport(RequestsTransport):
    """The real requests transport; ``sleep`` records the retry policy's waits."""

    def __init__(self) -> None:
        super().__init__()
        self.slept: list[float] = []

    def sleep(self, duration: float) -> None:
        self.slept.append(duration)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def register(mock: responses.RequestsMock, exchanges: list[dict[str, Any]]) -> None:
    for ex in exchanges:
        parts = urlsplit(ex["url"])
        params = {k: v for k, v in parse_qsl(parts.query) if k != "api-version"}
        mock.add(
            ex.get("method", "GET"),
            f"{parts.scheme}://{parts.netloc}{parts.path}",
            json=ex.get("body"),
            status=ex.get("status", 200),
            headers=ex.get("headers", {}),
            match=_matchers(ex, params),
        )


def _matchers(ex: dict[str, Any], params: dict[str, str]) -> list[Any]:
    if ex.get("match_aggregation"):
        want = ex["match_aggregation"]

        def aggregation(request: Any) -> tuple[bool, str]:
            got = dict(parse_qsl(urlsplit(request.url).query)).get("aggregation", "")
            return got.lower() == want, f"aggregation {got!r} is not {want!r}"

        return [aggregation]
    return [] if ex.get("any_query") else [_query(params)]


def _query(expected: dict[str, str]) -> Any:
    """A matcher: the request's query, ``api-version`` and ``statusOnly`` aside, is exactly
    ``expected`` (a ``nextLink``'s ``$skiptoken`` tells its page from the first)."""

    def match(request: Any) -> tuple[bool, str]:
        got = {
            k: v
            for k, v in parse_qsl(urlsplit(request.url).query)
            if k not in ("api-version", "statusOnly")
        }
        return got == expected, f"query {got} is not {expected}"

    return match


@contextmanager
def served(
    *names: str, extra: list[dict[str, Any]] | None = None
) -> Iterator[responses.RequestsMock]:
    """``responses`` serving the named fixture files (and ``extra`` exchanges)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for name in names:
            register(mock, load(name))
        register(mock, extra or [])
        yield mock


#: The subscription-wide VM list, the first call of an inventory.
ARM_VMS = (
    f"https://management.azure.com/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines"
)
