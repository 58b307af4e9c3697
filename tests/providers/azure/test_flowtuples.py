"""The flow tuples and the flow state machine: per-interval bytes, nothing counted twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from providers.azure.flowblobs import blob_hour, decode_blocks
from providers.azure.flowtuples import FlowState, mac_key, parse_records
from providers.models import FLOW_SCHEMA_FULL
from tests.providers.azure.flowlog_data import blocks, nsg_record, vnet_record

T0 = int(datetime(2026, 3, 4, 11, tzinfo=UTC).timestamp())
MAC = "000D3A000001"
NIC = "/subscriptions/x/resourcegroups/rg/providers/microsoft.network/networkinterfaces/web-1-nic"


def _parse(records, state=None):
    return parse_records(
        list(enumerate(records)),
        "test",
        nic_of_mac={MAC: NIC},
        account="sub",
        region="westeurope",
        state=state or FlowState(),
    )


def _vnet(offset_s: int, state: str, counts: str = "0,0,0,0", src_port: int = 44931) -> str:
    return f"{(T0 + offset_s) * 1000},10.0.1.4,13.67.143.118,{src_port},443,6,O,{state},NX,{counts}"


def test_begin_continue_end_become_intervals_since_the_last_update() -> None:
    tuples = [_vnet(0, "B"), _vnet(300, "C", "30,16978,24,14008"), _vnet(420, "E", "5,900,4,700")]
    chunk = _parse([vnet_record(T0 * 1000, MAC, tuples)])
    assert not chunk.rejected
    frame = chunk.records.sort("start", "srcaddr")
    assert frame.schema == FLOW_SCHEMA_FULL
    assert frame["bytes"].sum() == 16978 + 14008 + 900 + 700  # B carries no counts
    first = frame.filter(frame["bytes"] == 16978).row(0, named=True)
    assert first["start"] == datetime.fromtimestamp(T0, UTC)  # since the begin
    assert first["end"] == datetime.fromtimestamp(T0 + 300, UTC)
    assert (first["srcaddr"], first["dstaddr"], first["interface_id"]) == (
        "10.0.1.4",
        "13.67.143.118",
        NIC,
    )
    back = frame.filter(frame["bytes"] == 14008).row(0, named=True)
    assert (back["srcaddr"], back["srcport"], back["dstport"]) == ("13.67.143.118", 443, 44931)
    last = frame.filter(frame["bytes"] == 900).row(0, named=True)
    assert last["start"] == datetime.fromtimestamp(T0 + 300, UTC)  # since the C, not the B
    assert json.loads(last["extra_fields"])["flow_state"] == "E"


def test_state_carries_across_reads_and_duplicates_under_two_acls_count_once() -> None:
    state = FlowState()
    _parse([vnet_record(T0 * 1000, MAC, [_vnet(0, "B")])], state)
    later = _parse(
        [vnet_record(T0 * 1000 + 600_000, MAC, [_vnet(600, "C", "1,100,1,50")], acls=2)], state
    )
    assert later.records["bytes"].sum() == 150  # not 300
    assert later.records["start"].min() == datetime.fromtimestamp(T0, UTC)


def test_unknown_flow_start_is_one_reporting_interval_back_and_deny_is_reject() -> None:
    chunk = _parse(
        [
            vnet_record(
                T0 * 1000,
                "AABBCCDDEEFF",
                [_vnet(300, "C", "1,10,0,0"), _vnet(310, "D", "2,120,0,0", 5000)],
            )
        ]
    )
    rows = chunk.records.sort("start")
    assert rows["start"][0] == datetime.fromtimestamp(T0, UTC)
    assert rows["interface_id"][0] == "mac:AABBCCDDEEFF"
    assert sorted(rows["action"]) == ["ACCEPT", "REJECT"]


def test_nsg_v2_and_v1_tuples() -> None:
    v2 = nsg_record(T0, MAC, [f"{T0},10.0.1.4,13.67.143.118,44931,443,T,O,A,C,30,16978,24,14008"])
    v1 = nsg_record(T0, MAC, [f"{T0},10.0.1.4,13.67.143.118,44931,443,T,O,A"], version=1)
    chunk = _parse([v2, v1])
    assert not chunk.rejected
    assert chunk.records["bytes"].sum() == 16978 + 14008  # v1 has no counts
    assert set(chunk.records["protocol"]) == {6}


def test_bad_records_and_tuples_are_quarantined_with_reasons() -> None:
    records = [
        {"category": "Something"},
        "not an object",
        vnet_record(
            T0 * 1000,
            MAC,
            [
                "1,2,3",
                _vnet(0, "X"),
                f"{T0 * 1000},10.0.1.999,1.1.1.1,1,2,6,O,C,NX,1,1,1,1",
                f"{T0 * 1000},10.0.1.4,1.1.1.1,1,70000,6,O,C,NX,1,1,1,1",
                f"{T0 * 1000},10.0.1.4,1.1.1.1,1,2,6,O,C,NX,,,,",
                _vnet(0, "C", "1,100,1,100"),
            ],
        ),
    ]
    chunk = _parse(records)
    reasons = [r.reason for r in chunk.rejected]
    assert len(reasons) == 7
    assert any("neither a VNet" in r for r in reasons)
    assert any("JSON object" in r for r in reasons)
    assert any("has 3 fields" in r for r in reasons)
    assert any("unknown flow state 'X'" in r for r in reasons)
    assert any("not an IP address" in r for r in reasons)
    assert any("outside 0..65535" in r for r in reasons)
    assert any("without packet and byte counts" in r for r in reasons)
    assert chunk.records.height == 2


def test_blocks_decode_one_by_one_and_a_bad_block_costs_only_itself() -> None:
    recs = [vnet_record(T0 * 1000, MAC, [_vnet(0, "C", "1,1,1,1")]) for _ in range(2)]
    parts = blocks(recs, close=True)
    parts.insert(2, b',{"broken": ')
    data = b"".join(parts)
    out = list(decode_blocks(data, [len(p) for p in parts], 0))
    assert [n for n, _, reason in out if reason is None] == [1, 3]
    assert [(n, "not JSON" in reason) for n, _, reason in out if reason] == [(2, True)]


def test_blob_hour_and_mac_spelling() -> None:
    name = (
        "flowLogResourceID=/SUB/RG/NETWORKWATCHER_WESTEUROPE/FL/y=2026/m=03/d=04/h=11/m=00/"
        "macAddress=000D3A000001/PT1H.json"
    )
    assert blob_hour(name) == datetime(2026, 3, 4, 11, tzinfo=UTC)
    assert blob_hour("y=2026/m=03/d=04/h=11/m=00/other.json") is None
    assert mac_key("00-0d-3a-00-00-01") == MAC
    assert FlowState({"k": 0.0}).interval("k", 60.0, "C") == (0.0, 60.0)
    stale = FlowState({"k": 0.0})
    stale.expire(timedelta(hours=3).total_seconds())
    assert stale.last == {}
