"""Flow-log records in Network Watcher's documented shapes, for the tests."""

from __future__ import annotations

import json
from typing import Any

SUB = "00000000-0000-0000-0000-000000000001"
FLOW_LOG = (
    f"/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/"
    "NETWORKWATCHERS/NETWORKWATCHER_WESTEUROPE/FLOWLOGS/SHOP-VNET-FLOWLOG"
)


def vnet_record(ts_ms: int, mac: str, tuples: list[str], *, acls: int = 1) -> dict[str, Any]:
    """A VNet flow log record (flowLogVersion 4); ``acls`` > 1 repeats the tuples under more
    ACLs, as when an NSG and Virtual Network Manager both evaluate the traffic."""
    from datetime import UTC, datetime

    return {
        "time": datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat().replace("+00:00", "Z"),
        "flowLogVersion": 4,
        "flowLogGUID": "66aa66aa-bb77-cc88-dd99-00ee00ee00ee",
        "macAddress": mac,
        "category": "FlowLogFlowEvent",
        "flowLogResourceID": FLOW_LOG,
        "targetResourceID": f"/subscriptions/{SUB}/resourceGroups/shop-rg/providers/"
        "Microsoft.Network/virtualNetworks/shop-vnet",
        "operationName": "FlowLogFlowEvent",
        "flowRecords": {
            "flows": [
                {
                    "aclID": f"acl-{n}",
                    "flowGroups": [
                        {"rule": "DefaultRule_AllowInternetOutBound", "flowTuples": tuples}
                    ],
                }
                for n in range(acls)
            ]
        },
    }


def nsg_record(ts_s: int, mac: str, tuples: list[str], version: int = 2) -> dict[str, Any]:
    """A (legacy) NSG flow log record."""
    return {
        "time": "2026-03-04T11:00:00.000Z",
        "systemId": "11111111-2222-3333-4444-555555555555",
        "macAddress": mac,
        "category": "NetworkSecurityGroupFlowEvent",
        "resourceId": f"/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/SHOP-RG/PROVIDERS/"
        "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SHOP-NSG",
        "operationName": "NetworkSecurityGroupFlowEvents",
        "properties": {
            "Version": version,
            "flows": [
                {"rule": "UserRule_allow-https", "flows": [{"mac": mac, "flowTuples": tuples}]}
            ],
        },
    }


def blocks(records: list[dict[str, Any]], *, close: bool) -> list[bytes]:
    """The blocks Network Watcher appends: an opening one, one per record, maybe the close."""
    out = [b'{"records":[']
    out += [(b"," if i else b"") + json.dumps(r).encode() for i, r in enumerate(records)]
    if close:
        out.append(b"]}")
    return out
