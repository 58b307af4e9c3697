"""A moto server on loopback seeded once per module with a small sandbox fleet."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from reconciler.sandbox import SandboxSpec

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class Seeded:
    endpoint: str
    regions: list[str]
    now: datetime  # an hour before the sandbox's data ends
    #: where the sandbox's (log-only) ALBs and its CloudFront distribution write request logs
    request_sources: list[Any] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


@contextmanager
def moto_fleet(spec: SandboxSpec) -> Iterator[Seeded]:
    """A moto server on loopback seeded with ``spec``'s fleet up to today's midnight."""
    from moto.server import ThreadedMotoServer

    from providers.aws.session import AwsSessionFactory
    from reconciler.sandbox import seed_sandbox

    with pytest.MonkeyPatch.context() as mp:
        for name, value in CREDENTIALS.items():
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
        try:
            # moto keeps its backends per process: another module's fleet may still be there
            _reset_moto(endpoint)
            # moto keeps CloudWatch points only for recent times: seed up to today's midnight
            today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            start = today - timedelta(days=spec.days)
            info = seed_sandbox(spec, start, AwsSessionFactory(endpoint_url=endpoint))
            yield Seeded(
                endpoint, info.regions, info.end - timedelta(hours=1), info.request_sources
            )
        finally:
            server.stop()


@pytest.fixture(scope="module")
def seeded() -> Iterator[Seeded]:
    from reconciler.sandbox import SandboxSpec

    with moto_fleet(SandboxSpec(days=1.6, metric_hours=1.0, surge=None)) as fleet:
        yield fleet
