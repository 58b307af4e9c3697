"""One VPC Flow Logs entry (``compute.googleapis.com/vpc_flows``) -> one flow record.

GCP writes a flow record as a Cloud Logging entry whose ``jsonPayload`` has the connection's
5-tuple, ``bytes_sent``/``packets_sent`` (int64 as JSON strings), ``start_time``/``end_time``,
``reporter`` (``SRC`` or ``DEST``: which end's VM logged it) and the two ends' ``*_instance``
and ``*_vpc`` when they are VMs of a logged VPC. The record lands in ``FLOW_SCHEMA_FULL`` as
AWS records do: ``interface_id`` is the reporting VM's NIC (``<instance id>/nic0``, the NIC
holding the reporter's address when the inventory knows it), ``flow_direction`` is
``egress`` for a SRC report and ``ingress`` for DEST, ``action`` is ``ACCEPT`` (flow logs
only see delivered traffic) and ``log_status`` ``OK``.

Sampling: a subnet logs a sample of its flows (``logConfig.flowSampling``); counts from a
subnet whose rate is known are divided by it (``rates``, keyed ``<project>/<subnetwork>``,
the subnetwork named by the entry's ``gce_subnetwork`` resource), and the rate used is kept
in ``extra_fields``. An entry that cannot be read raises ``BadEntry`` with the reason.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from datetime import UTC, datetime

__all__ = ["BadEntry", "FlowRow", "entry_record"]

FlowRow = dict[str, str | int | datetime | None]
_PROTOCOLS = range(0, 256)
_PORTS = range(0, 65536)


class BadEntry(ValueError):
    """An entry that cannot become a flow record; the message is the quarantine reason."""


def _obj(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise BadEntry(f"{what} is missing or not an object")
    return value


def _int(payload: Mapping[str, object], key: str, allowed: range | None = None) -> int:
    raw = payload.get(key)
    if isinstance(raw, bool) or raw is None:
        raise BadEntry(f"{key} is missing")
    try:
        value = int(str(raw))
    except ValueError as exc:
        raise BadEntry(f"{key} is not an integer: {raw!r}") from exc
    if value < 0 or (allowed is not None and value not in allowed):
        raise BadEntry(f"{key} out of range: {value}")
    return value


def _ip(conn: Mapping[str, object], key: str) -> str:
    raw = conn.get(key)
    try:
        return str(ipaddress.ip_address(str(raw)))
    except ValueError as exc:
        raise BadEntry(f"connection.{key} is not an IP address: {raw!r}") from exc


def _time(payload: Mapping[str, object], key: str) -> datetime:
    raw = payload.get(key)
    try:
        ts = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadEntry(f"{key} is not a timestamp: {raw!r}") from exc
    if ts.tzinfo is None:
        raise BadEntry(f"{key} has no timezone: {raw!r}")
    return ts.astimezone(UTC)


def _nic(instance: str, address: str, nics: Mapping[tuple[str, str], str]) -> str:
    return nics.get((instance, address), f"{instance}/nic0")


def entry_record(
    entry: object,
    *,
    rates: Mapping[str, float] | None = None,
    nics: Mapping[tuple[str, str], str] | None = None,
) -> FlowRow:
    """The flow record of one log entry (a decoded JSON object); raises ``BadEntry``."""
    body = _obj(entry, "entry")
    payload = _obj(body.get("jsonPayload"), "jsonPayload")
    conn = _obj(payload.get("connection"), "jsonPayload.connection")
    reporter = payload.get("reporter")
    if reporter not in ("SRC", "DEST"):
        raise BadEntry(f"reporter is {reporter!r}, not SRC or DEST")
    side = "src" if reporter == "SRC" else "dest"
    vm = _obj(payload.get(f"{side}_instance"), f"{side}_instance (the reporting VM)")
    project, zone, name = (str(vm.get(k) or "") for k in ("project_id", "zone", "vm_name"))
    if not (project and zone and name):
        raise BadEntry(f"{side}_instance lacks project_id, zone or vm_name")
    src, dst = _ip(conn, "src_ip"), _ip(conn, "dest_ip")
    start, end = _time(payload, "start_time"), _time(payload, "end_time")
    if start > end:
        raise BadEntry(f"start_time {start.isoformat()} is after end_time {end.isoformat()}")
    packets, sent = _int(payload, "packets_sent"), _int(payload, "bytes_sent")
    labels = body.get("resource", {})
    labels = labels.get("labels", {}) if isinstance(labels, dict) else {}
    subnet = str(labels.get("subnetwork_name", "")) if isinstance(labels, dict) else ""
    rate = (rates or {}).get(f"{project}/{subnet}", 1.0)
    if not 0 < rate <= 1:
        raise BadEntry(f"sampling rate {rate} of {project}/{subnet} is not in (0, 1]")
    instance = f"projects/{project}/zones/{zone}/instances/{name}"
    vpc = payload.get(f"{side}_vpc")
    vpc_name = str(vpc.get("vpc_name", "")) if isinstance(vpc, dict) else ""
    region = str(vm.get("region") or zone.rpartition("-")[0])
    return {
        "account_id": project,
        "interface_id": _nic(instance, src if side == "src" else dst, nics or {}),
        "srcaddr": src,
        "dstaddr": dst,
        "srcport": _int(conn, "src_port", _PORTS),
        "dstport": _int(conn, "dest_port", _PORTS),
        "protocol": _int(conn, "protocol", _PROTOCOLS),
        "packets": round(packets / rate),
        "bytes": round(sent / rate),
        "start": start,
        "end": end,
        "action": "ACCEPT",
        "log_status": "OK",
        "vpc_id": f"projects/{project}/global/networks/{vpc_name}" if vpc_name else None,
        "subnet_id": f"projects/{project}/regions/{region}/subnetworks/{subnet}"
        if subnet
        else None,
        "instance_id": instance,
        "region": region,
        "az_id": zone,
        "flow_direction": "egress" if side == "src" else "ingress",
        "extra_fields": json.dumps({"reporter": reporter, "sampling_rate": rate}),
    }
