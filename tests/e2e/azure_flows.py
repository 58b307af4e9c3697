"""VNet flow-log blobs for the recorded Azure fleet (tests/providers/azure/fixtures/fleet.json),
written to Azurite as Network Watcher writes them: one ``PT1H.json`` block blob per NIC and
hour, an opening block, one block per record (a record every five minutes) and the closing one.

The traffic: ``web-1`` and ``web-2`` (10.0.1.4, 10.0.1.5) call the ``api-ss`` scale set's VMs
(10.0.1.10, 10.0.1.11) on 443 all the time; each side's NIC logs the flow (egress at the web
VM, ingress at the API VM), as both NICs' flow logs do. ``eastus``' ``db-1`` is not read.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

from providers.azure.flowblobs import VNET_CONTAINER
from tests.providers.azure.flowlog_data import FLOW_LOG, blocks, vnet_record

__all__ = ["AZURE_FLOW_PAIRS", "write_flow_blobs"]

#: (client MAC, client IP, server MAC, server IP) of each logged conversation.
AZURE_FLOW_PAIRS = (
    ("000D3A000001", "10.0.1.4", "000D3A000010", "10.0.1.10"),
    ("000D3A000001", "10.0.1.4", "000D3A000011", "10.0.1.11"),
    ("000D3A000002", "10.0.1.5", "000D3A000010", "10.0.1.10"),
    ("000D3A000002", "10.0.1.5", "000D3A000011", "10.0.1.11"),
)
_STEP = timedelta(minutes=5)


def _tuple(t: datetime, pair: tuple[str, str, str, str], direction: str, state: str) -> str:
    _, src, _, dst = pair
    sport = 40000 + int(src.rsplit(".", 1)[1])
    # a begin carries no counts; an update the 5 minutes' 60 MB up and 240 MB back
    counts = ",,," if state == "B" else "4000,60000000,3000,240000000"
    return f"{int(t.timestamp() * 1000)},{src},{dst},{sport},443,6,{direction},{state},NX,{counts}"


def _records(hour: datetime, mac: str, first: bool) -> list[dict[str, Any]]:
    """The records of one NIC's hour: a tuple per flow it takes part in, every five minutes
    (``B`` at the very first, ``C`` with the bytes since the last update after it)."""
    out = []
    for k in range(12):
        t = hour + k * _STEP
        tuples = []
        for pair in AZURE_FLOW_PAIRS:
            if mac not in (pair[0], pair[2]):
                continue
            direction = "O" if mac == pair[0] else "I"
            state = "B" if first and k == 0 else "C"
            tuples.append(_tuple(t, pair, direction, state))
        out.append(vnet_record(int(t.timestamp() * 1000), mac, tuples))
    return out


def write_flow_blobs(service: Any, end: datetime, hours: int) -> int:
    """Write ``hours`` closed hour blobs per NIC ending at ``end`` (an hour boundary) into the
    VNet flow-log container of ``service`` (a ``BlobServiceClient``); the blobs written."""
    from azure.storage.blob import BlobBlock

    container = service.get_container_client(VNET_CONTAINER)
    if container.exists():
        container.delete_container()
    container.create_container()
    macs = sorted({p[0] for p in AZURE_FLOW_PAIRS} | {p[2] for p in AZURE_FLOW_PAIRS})
    written = 0
    for h in range(hours, 0, -1):
        hour = end - timedelta(hours=h)
        for mac in macs:
            name = (
                f"flowLogResourceID={FLOW_LOG}/y={hour:%Y}/m={hour:%m}/d={hour:%d}/h={hour:%H}/"
                f"m=00/macAddress={mac}/PT1H.json"
            )
            blob = container.get_blob_client(name)
            ids: list[str] = []
            for part in blocks(_records(hour, mac, h == hours), close=True):
                block_id = base64.b64encode(f"{len(ids):08d}".encode()).decode()
                blob.stage_block(block_id, part)
                ids.append(block_id)
            blob.commit_block_list([BlobBlock(block_id=i) for i in ids])
            written += 1
    return written
