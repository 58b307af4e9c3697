"""A flow-log container Network Watcher has not created yet reads as no flows; another
missing thing (the storage account) is still an error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError

from providers.azure.flowblobs import BlockCursor, FlowLogContainer
from providers.base import NotFoundError
from providers.models import TimeWindow

HOUR = datetime(2026, 3, 4, 11, tzinfo=UTC)
WINDOW = TimeWindow(start=HOUR, end=HOUR + timedelta(hours=1))


class _Container:
    def __init__(self, code: str) -> None:
        self.code = code

    def list_blobs(self) -> Any:
        exc = ResourceNotFoundError(f"{self.code}: not there")
        exc.error_code = self.code  # type: ignore[attr-defined]
        raise exc


class _Service:
    def __init__(self, code: str) -> None:
        self.code = code

    def get_container_client(self, name: str) -> _Container:
        return _Container(self.code)


def _chunks(code: str) -> list[Any]:
    logs = FlowLogContainer(account_url="https://acct.blob.core.windows.net", region="westeurope")
    return list(logs.chunks(_Service(code), WINDOW, BlockCursor(), account="sub", nic_of_mac={}))


def test_a_container_not_created_yet_has_no_flows() -> None:
    assert _chunks("ContainerNotFound") == []


def test_another_not_found_is_still_an_error() -> None:
    with pytest.raises(NotFoundError, match="ListBlobs insights-logs-flowlogflowevent"):
        _chunks("ResourceNotFound")
