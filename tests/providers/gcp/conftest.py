"""Recorded REST exchanges for the GCP provider: the real client libraries (google-cloud-compute
on its REST transport, google-auth's AuthorizedSession) talk to ``responses``, which serves
fixtures written in the public API's shapes (``fixtures/``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from google.auth.credentials import AnonymousCredentials

from providers.gcp import GcpProvider, GcpSessionFactory

FIXTURES = Path(__file__).with_name("fixtures")
PROJECT = "demo-proj"
COMPUTE = f"https://compute.googleapis.com/compute/v1/projects/{PROJECT}"


def fixture(name: str) -> dict[str, object]:
    loaded = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def page_token(token: str | None) -> list[object]:
    """A matcher on the ``pageToken`` query parameter (absent on a first page)."""

    def match(request: object) -> tuple[bool, str]:
        from urllib.parse import parse_qs, urlparse

        got = parse_qs(urlparse(str(getattr(request, "url", ""))).query).get("pageToken")
        ok = got == ([token] if token else None)
        return ok, "" if ok else f"pageToken {got} != {token}"

    return [match]


def serve_instances(rsps: responses.RequestsMock) -> None:
    url = f"{COMPUTE}/aggregated/instances"
    rsps.get(url, json=fixture("instances_page1.json"), match=page_token(None))
    rsps.get(url, json=fixture("instances_page2.json"), match=page_token("page-2"))


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def factory() -> GcpSessionFactory:
    """Anonymous credentials and millisecond backoff bounded by a short retry deadline."""
    return GcpSessionFactory(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        retry_initial_s=0.001,
        retry_maximum_s=0.002,
        retry_timeout_s=0.5,
    )


@pytest.fixture
def provider(factory: GcpSessionFactory) -> GcpProvider:
    return GcpProvider(factory=factory)
