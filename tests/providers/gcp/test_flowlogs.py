"""VPC flow logs from Cloud Logging entries and from a sink export, into the AWS schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import fsspec
import polars as pl
import responses
from requests import PreparedRequest

from providers.gcp import GcpProvider
from providers.gcp.flowentry import BadEntry, entry_record
from providers.gcp.flowlogs import LOGGING_URL, hours
from providers.models import FLOW_SCHEMA_FULL, TimeWindow
from tests.providers.gcp.conftest import fixture, serve_instances

WINDOW = TimeWindow(
    start=datetime(2025, 3, 3, 12, tzinfo=UTC), end=datetime(2025, 3, 3, 13, tzinfo=UTC)
)
WEB1 = "projects/demo-proj/zones/us-central1-a/instances/web-1"
DB1 = "projects/demo-proj/zones/europe-west1-b/instances/db-1"


def _body_token(token: str | None) -> list[object]:
    def match(request: PreparedRequest) -> tuple[bool, str]:
        body = json.loads(request.body or b"{}")
        return body.get("pageToken") == token, ""

    return [match]


def test_entries_become_flow_records_and_bad_ones_are_quarantined(
    rsps: responses.RequestsMock, factory: object
) -> None:
    serve_instances(rsps)
    rsps.post(LOGGING_URL, json=fixture("entries_page1.json"), match=_body_token(None))
    rsps.post(LOGGING_URL, json=fixture("entries_page2.json"), match=_body_token("entries-2"))
    provider = GcpProvider(factory=factory, sample_rates={"demo-proj/prod-eu": 0.5})  # type: ignore[arg-type]
    (chunk,) = list(provider.flow_records(WINDOW))
    assert chunk.source == "gcl://demo-proj/vpc_flows@1741003200000-1741006800000"
    assert dict(chunk.records.schema) == FLOW_SCHEMA_FULL
    rows = chunk.records.sort("flow_direction").to_dicts()
    egress, ingress = rows[0], rows[1]
    assert (egress["interface_id"], egress["flow_direction"]) == (f"{WEB1}/nic0", "egress")
    assert (egress["srcaddr"], egress["dstaddr"], egress["srcport"], egress["dstport"]) == (
        "10.128.0.2",
        "10.132.0.7",
        443,
        5432,
    )
    assert (egress["protocol"], egress["bytes"], egress["packets"]) == (6, 500000, 400)
    assert (egress["action"], egress["log_status"], egress["region"]) == (
        "ACCEPT",
        "OK",
        "us-central1",
    )
    assert egress["start"] == datetime(2025, 3, 3, 12, 0, 5, tzinfo=UTC)
    assert egress["vpc_id"] == "projects/demo-proj/global/networks/prod"
    assert egress["subnet_id"] == "projects/demo-proj/regions/us-central1/subnetworks/prod-us"
    # the DEST report of db-1's subnet, sampled at 0.5: counts scaled back up
    assert (ingress["interface_id"], ingress["instance_id"]) == (f"{DB1}/nic0", DB1)
    assert (ingress["bytes"], ingress["packets"]) == (500000, 400)
    assert json.loads(ingress["extra_fields"]) == {"reporter": "DEST", "sampling_rate": 0.5}
    reasons = {r.line: r.reason for r in chunk.rejected}
    assert reasons == {
        2: "connection.dest_ip is not an IP address: 'not-an-ip'",
        4: "dest_instance (the reporting VM) is missing or not an object",
    }
    assert all("insertId" in r.raw for r in chunk.rejected)


def test_the_nic_holding_the_reporters_address_is_named() -> None:
    entry = fixture("entries_page1.json")["entries"][0]  # type: ignore[index]
    nics = {(WEB1, "10.128.0.2"): f"{WEB1}/nic3"}
    assert entry_record(entry, nics=nics)["interface_id"] == f"{WEB1}/nic3"


def test_reasons_for_bad_entries() -> None:
    good = fixture("entries_page1.json")["entries"][0]  # type: ignore[index]
    cases = {
        "reporter is 'BOTH', not SRC or DEST": {"reporter": "BOTH"},
        "bytes_sent is not an integer: 'lots'": {"bytes_sent": "lots"},
        "packets_sent out of range: -1": {"packets_sent": "-1"},
        "start_time is not a timestamp: 'yesterday'": {"start_time": "yesterday"},
    }
    for reason, change in cases.items():
        bad = json.loads(json.dumps(good))
        bad["jsonPayload"].update(change)
        try:
            entry_record(bad)
        except BadEntry as exc:
            assert str(exc) == reason
        else:
            raise AssertionError(f"accepted {change}")
    late = json.loads(json.dumps(good))
    late["jsonPayload"]["start_time"] = "2025-03-03T13:00:00Z"
    try:
        entry_record(late)
    except BadEntry as exc:
        assert "is after end_time" in str(exc)
    bad_rate = entry_record
    try:
        bad_rate(good, rates={"demo-proj/prod-us": 0.0})
    except BadEntry as exc:
        assert "not in (0, 1]" in str(exc)


def test_window_is_read_hour_by_hour() -> None:
    window = TimeWindow(
        start=datetime(2025, 3, 3, 11, 30, tzinfo=UTC), end=datetime(2025, 3, 3, 13, 10, tzinfo=UTC)
    )
    assert [(h.start.hour, h.start.minute, h.end.hour, h.end.minute) for h in hours(window)] == [
        (11, 30, 12, 0),
        (12, 0, 13, 0),
        (13, 0, 13, 10),
    ]


def test_sink_export_in_cloud_storage(rsps: responses.RequestsMock, factory: object) -> None:
    """JSON lines under compute.googleapis.com/vpc_flows/YYYY/MM/DD/, through fsspec."""
    serve_instances(rsps)
    fs = fsspec.filesystem("memory")
    entries = fixture("entries_page1.json")["entries"]  # type: ignore[index]
    base = "/flows-bucket/exports/compute.googleapis.com/vpc_flows/2025/03/03"
    lines = [json.dumps(e) for e in entries] + ["", "{truncated"]  # type: ignore[union-attr]
    fs.pipe_file(f"{base}/12:00:00_12:59:59_S0.json", "\n".join(lines).encode())
    fs.pipe_file(f"{base}/09:00:00_09:59:59_S0.json", b"{}")  # outside the window: not read
    provider = GcpProvider(
        factory=factory,  # type: ignore[arg-type]
        export_root="/flows-bucket/exports",
        export_fs=fs,
    )
    (chunk,) = list(provider.flow_records(WINDOW))
    assert chunk.source.startswith("gs://flows-bucket/exports/compute.googleapis.com/vpc_flows/")
    assert chunk.records.height == 1
    assert chunk.records.get_column("bytes").to_list() == [500000]
    assert [(r.line, r.reason.split(":")[0]) for r in chunk.rejected] == [
        (2, "connection.dest_ip is not an IP address"),
        (4, "not JSON"),
    ]
    assert isinstance(chunk.records, pl.DataFrame)
