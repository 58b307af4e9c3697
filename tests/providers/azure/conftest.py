"""Fixtures of the Azure provider tests: a session on recorded exchanges, Azurite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from providers.azure.session import AzureSession
from tests.providers.azure.azurite import azurite_server
from tests.providers.azure.recorded import SUB, FakeCredential, RecordingTransport


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def session(transport: RecordingTransport) -> AzureSession:
    return AzureSession(
        credential=FakeCredential(), subscriptions=[SUB], transport=transport, retry_total=2
    )


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """The blob endpoint of Azurite on loopback (skipped without it outside CI)."""
    with azurite_server() as url:
        yield url
