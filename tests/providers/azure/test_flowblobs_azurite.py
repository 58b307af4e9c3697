"""Flow-log blobs on Azurite (the real emulator on loopback): an hour's blob read block by
block across cycles, a re-created blob read again, a damaged block quarantined."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from providers.azure.flowblobs import VNET_CONTAINER, BlockCursor, FlowLogContainer
from providers.azure.provider import AzureProvider
from providers.azure.session import AzureSession
from providers.models import NetworkInterface, ProviderName, Resource, TimeWindow
from tests.providers.azure.azurite import ACCOUNT, KEY
from tests.providers.azure.flowlog_data import FLOW_LOG, blocks, vnet_record
from tests.providers.azure.recorded import SUB, FakeCredential

HOUR = datetime(2026, 3, 4, 11, tzinfo=UTC)
MAC = "000D3A000001"
NAME = f"flowLogResourceID={FLOW_LOG}/y=2026/m=03/d=04/h=11/m=00/macAddress={MAC}/PT1H.json"
WINDOW = TimeWindow(start=HOUR, end=HOUR + timedelta(hours=1))
NIC = NetworkInterface(
    id="/subscriptions/s/resourcegroups/rg/providers/microsoft.network/networkinterfaces/web-1-nic",
    private_ips=("10.0.1.4",),
    interface_type="nic",
    description="00-0D-3A-00-00-01",
)


def _tuple(minute: int, state: str, counts: str) -> str:
    ts = int((HOUR + timedelta(minutes=minute)).timestamp() * 1000)
    return f"{ts},10.0.1.4,10.0.2.9,50000,5432,6,O,{state},NX,{counts}"


def _record(minute: int, state: str, counts: str = "0,0,0,0") -> dict:
    ts = int((HOUR + timedelta(minutes=minute)).timestamp() * 1000)
    return vnet_record(ts, MAC, [_tuple(minute, state, counts)])


class _Blob:
    """Appends blocks as Network Watcher does: stage, then commit the whole list."""

    def __init__(self, service, name: str) -> None:
        self.client = service.get_blob_client(VNET_CONTAINER, name)
        self.ids: list[str] = []

    def append(self, parts: list[bytes]) -> None:
        from azure.storage.blob import BlobBlock

        for part in parts:
            block_id = base64.b64encode(f"{len(self.ids):08d}".encode()).decode()
            self.client.stage_block(block_id, part)
            self.ids.append(block_id)
        self.client.commit_block_list([BlobBlock(block_id=i) for i in self.ids])


@pytest.fixture
def provider(azurite: str, tmp_path: Path):
    session = AzureSession(credential=FakeCredential(), subscriptions=[SUB])
    logs = FlowLogContainer(
        account_url=azurite,
        region="westeurope",
        credential={"account_name": ACCOUNT, "account_key": KEY},
    )
    service = session.blob_service(azurite, logs.credential)
    container = service.get_container_client(VNET_CONTAINER)
    if container.exists():
        container.delete_container()
    container.create_container()
    made = AzureProvider(
        session=session,
        regions=["westeurope"],
        flow_logs=[logs],
        cursor=BlockCursor(tmp_path / "cursor.json"),
    )
    made._last = [
        Resource(
            id="vm-web-1",
            provider=ProviderName.AZURE,
            account=SUB,
            region="westeurope",
            interfaces=(NIC,),
        )
    ]
    return made, service


def test_an_hour_blob_is_read_block_by_block_across_cycles(provider, tmp_path: Path) -> None:
    made, service = provider
    blob = _Blob(service, NAME)
    blob.append(blocks([_record(0, "B"), _record(5, "C", "10,1000,8,800")], close=False))
    (first,) = list(made.flow_records(WINDOW))
    assert first.records["bytes"].sum() == 1800
    assert set(first.records["interface_id"]) == {NIC.id}
    assert first.source.endswith("#blocks=0-3@" + blob.ids[0])

    assert list(made.flow_records(WINDOW)) == []  # nothing new: nothing downloaded

    rest = blocks([_record(0, "B"), _record(5, "C"), _record(10, "E", "2,200,1,100")], close=True)
    blob.append(rest[3:])  # the E record and the closing block
    (second,) = list(made.flow_records(WINDOW))
    assert second.source.endswith("#blocks=3-5@" + blob.ids[0])
    assert second.records["bytes"].sum() == 300
    # the interval starts at the C read in the first cycle: the flow state was kept
    assert second.records["start"].min() == HOUR + timedelta(minutes=5)

    # a new process reads the cursor file and downloads nothing again
    again = AzureProvider(
        session=made.session,
        regions=["westeurope"],
        flow_logs=made.flow_logs,
        cursor=BlockCursor(tmp_path / "cursor.json"),
    )
    again._last = made._last
    assert list(again.flow_records(WINDOW)) == []


def test_recreated_blob_is_read_again_and_a_damaged_block_is_quarantined(provider) -> None:
    made, service = provider
    blob = _Blob(service, NAME)
    blob.append(blocks([_record(5, "C", "1,100,1,100")], close=False))
    assert len(list(made.flow_records(WINDOW))) == 1
    service.get_blob_client(VNET_CONTAINER, NAME).delete_blob()
    fresh = _Blob(service, NAME)
    fresh.ids = ["cmVjcmVhdGVk"]  # a different first block id, as a new blob has
    fresh.client.stage_block(fresh.ids[0], b'{"records":[')
    fresh.append(
        [b',{"flowRecords": [', b",", *blocks([_record(20, "C", "1,7,1,7")], close=True)[1:]]
    )
    (chunk,) = list(made.flow_records(WINDOW))
    assert chunk.source.split("#blocks=")[1].startswith("0-")
    assert chunk.records["bytes"].sum() == 14
    assert len(chunk.rejected) == 1 and "not JSON" in chunk.rejected[0].reason


def test_blobs_outside_the_window_are_not_read(provider) -> None:
    made, service = provider
    _Blob(service, NAME.replace("h=11", "h=09")).append(
        blocks([_record(0, "C", "1,1,1,1")], close=True)
    )
    assert list(made.flow_records(WINDOW)) == []
