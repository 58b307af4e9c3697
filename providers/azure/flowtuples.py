"""Network Watcher flow-log records -> ``FLOW_SCHEMA_FULL`` rows, one per direction with bytes.

Two record shapes are read, as Network Watcher writes them into ``PT1H.json`` blobs:

- VNet flow logs (``category: FlowLogFlowEvent``, ``flowLogVersion`` 4): ``flowRecords.flows[]
  .flowGroups[].flowTuples``, each ``ts_ms,src,dst,sport,dport,proto,dir,state,encryption,
  pkts_sd,bytes_sd,pkts_ds,bytes_ds``; protocol an IANA number, state B/C/E/D.
- NSG flow logs (``category: NetworkSecurityGroupFlowEvent``), the legacy format still in use:
  ``properties.flows[].flows[].flowTuples``, version 2 ``ts_s,src,dst,sport,dport,T|U,I|O,A|D,
  state,pkts_sd,bytes_sd,pkts_ds,bytes_ds``; version 1 stops after the decision (no counts).

The flow state machine: a ``B`` (begin) tuple carries no counts and opens the flow; ``C``
(continuing) and ``E`` (end) carry what was sent *since the last update* of that flow, each
way, so each becomes the interval ``[last update, this tuple)`` (the flow's begin, or one
reporting interval back, when this reader has not seen an earlier update); ``E`` closes the
flow. ``D`` (and an NSG ``D`` decision) is denied traffic: kept, as ``REJECT``. The same tuple
listed under two rules or ACLs of one NIC (NSG and Virtual Network Manager both evaluate it) is
counted once. Every unusable record or tuple becomes a ``RejectedRecord`` with its reason.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from providers.models import FLOW_SCHEMA_FULL, FlowChunk, RejectedRecord

__all__ = ["REPORT_INTERVAL", "FlowState", "mac_key", "parse_records"]

#: How often Network Watcher reports a continuing flow (documented: five minutes).
REPORT_INTERVAL = timedelta(minutes=5)
#: A flow not updated for this long is forgotten by the state machine.
STATE_TTL = timedelta(hours=2)
_PROTOCOLS = {"T": 6, "U": 17}
_DIRECTION = {"I": "ingress", "O": "egress"}


def mac_key(mac: str) -> str:
    """A MAC address in one spelling (hex digits, upper case): ``00-0D-3A..`` = ``000d3a..``."""
    return "".join(c for c in mac if c.isalnum()).upper()


@dataclass
class FlowState:
    """Last update time of each open flow, by (NIC MAC, 5-tuple); kept between reads."""

    last: MutableMapping[str, float] = field(default_factory=dict)

    def interval(self, key: str, ts: float, state: str) -> tuple[float, float]:
        """``[start, end)`` seconds covered by a tuple of ``state`` at ``ts``, updating state."""
        before = self.last.get(key)
        if state == "B":
            self.last[key] = ts
            return ts, ts
        start = before if before is not None and before <= ts else ts - REPORT_INTERVAL.seconds
        if state == "E":
            self.last.pop(key, None)
        else:
            self.last[key] = ts
        return start, ts

    def expire(self, now: float) -> None:
        """Forget flows with no update in ``STATE_TTL`` (their end was never logged)."""
        cutoff = now - STATE_TTL.total_seconds()
        for key in [k for k, t in self.last.items() if t < cutoff]:
            del self.last[key]


@dataclass(frozen=True)
class _Tuple:
    ts: float
    src: str
    dst: str
    sport: int
    dport: int
    protocol: int
    direction: str
    state: str
    accepted: bool
    counts: tuple[int, int, int, int] | None
    encryption: str | None


class _Bad(ValueError):
    pass


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError as exc:
        raise _Bad(f"not an IP address: {text!r}") from exc


def _int(text: str, what: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise _Bad(f"{what} is not a number: {text!r}") from exc
    if not low <= value <= high:
        raise _Bad(f"{what} {value} is outside {low}..{high}")
    return value


def _counts(fields: list[str], state: str) -> tuple[int, int, int, int] | None:
    if all(f == "" for f in fields):
        if state in ("C", "E"):
            raise _Bad(f"state {state} without packet and byte counts")
        return None
    values = tuple(_int(f or "0", "count", 0, 2**62) for f in fields)
    return values[0], values[1], values[2], values[3]


def _vnet_tuple(text: str) -> _Tuple:
    f = text.split(",")
    if len(f) != 13:
        raise _Bad(f"VNet flow tuple has {len(f)} fields, expected 13")
    state = f[7]
    if state not in ("B", "C", "E", "D"):
        raise _Bad(f"unknown flow state {state!r}")
    if f[6] not in _DIRECTION:
        raise _Bad(f"unknown direction {f[6]!r}")
    return _Tuple(
        ts=_int(f[0], "timestamp", 0, 2**53) / 1000.0,
        src=_ip(f[1]),
        dst=_ip(f[2]),
        sport=_int(f[3] or "0", "source port", 0, 65535),
        dport=_int(f[4] or "0", "destination port", 0, 65535),
        protocol=_int(f[5], "protocol", 0, 255),
        direction=f[6],
        state=state,
        accepted=state != "D",
        counts=_counts(f[9:13], state),
        encryption=f[8] or None,
    )


def _nsg_tuple(text: str, version: int) -> _Tuple:
    f = text.split(",")
    want = 13 if version >= 2 else 8
    if len(f) != want:
        raise _Bad(f"NSG v{version} flow tuple has {len(f)} fields, expected {want}")
    if f[5] not in _PROTOCOLS:
        raise _Bad(f"unknown protocol {f[5]!r} (T or U)")
    if f[6] not in _DIRECTION or f[7] not in ("A", "D"):
        raise _Bad(f"unknown direction or decision {f[6]!r}/{f[7]!r}")
    state = f[8] if version >= 2 else "E"
    if state not in ("B", "C", "E"):
        raise _Bad(f"unknown flow state {state!r}")
    return _Tuple(
        ts=float(_int(f[0], "timestamp", 0, 2**40)),
        src=_ip(f[1]),
        dst=_ip(f[2]),
        sport=_int(f[3] or "0", "source port", 0, 65535),
        dport=_int(f[4] or "0", "destination port", 0, 65535),
        protocol=_PROTOCOLS[f[5]],
        direction=f[6],
        state=state,
        accepted=f[7] == "A",
        counts=_counts(f[9:13], state) if version >= 2 else None,
        encryption=None,
    )


def _tuples(record: Mapping[str, Any]) -> tuple[int, list[tuple[str, str, str, bool]]]:
    """(version, [(mac, rule, tuple text, vnet?)]) of one record; raises _Bad for its shape."""
    if "flowRecords" in record:
        mac = mac_key(str(record.get("macAddress") or ""))
        out = [
            (mac, str(group.get("rule") or ""), str(t), True)
            for flow in (record["flowRecords"] or {}).get("flows") or []
            for group in flow.get("flowGroups") or []
            for t in group.get("flowTuples") or []
        ]
        return int(record.get("flowLogVersion") or 4), out
    props = record.get("properties")
    if isinstance(props, Mapping) and "flows" in props:
        version = int(props.get("Version") or 1)
        out = [
            (
                mac_key(str(inner.get("mac") or record.get("macAddress") or "")),
                str(rule.get("rule") or ""),
                str(t),
                False,
            )
            for rule in props.get("flows") or []
            for inner in rule.get("flows") or []
            for t in inner.get("flowTuples") or []
        ]
        return version, out
    raise _Bad("neither a VNet flow log record (flowRecords) nor an NSG one (properties.flows)")


def parse_records(
    records: Iterable[tuple[int, Any]],
    source: str,
    *,
    nic_of_mac: Mapping[str, str],
    account: str,
    region: str | None,
    state: FlowState,
) -> FlowChunk:
    """One chunk from ``(position, record)`` pairs read from ``source``.

    ``nic_of_mac`` (``mac_key`` -> NIC id) names the logging interface; an unknown MAC is
    kept as ``mac:<MAC>``. ``state`` carries open flows from earlier reads of the same logs.
    """
    rows: list[dict[str, Any]] = []
    rejected: list[RejectedRecord] = []
    seen: set[tuple[str, str]] = set()
    latest = 0.0
    parsed: list[tuple[str, str, int, _Tuple]] = []
    for position, record in records:
        try:
            if not isinstance(record, Mapping):
                raise _Bad(f"a record is a JSON object, got {type(record).__name__}")
            version, tuples = _tuples(record)
        except (_Bad, TypeError, ValueError, AttributeError) as exc:
            rejected.append(RejectedRecord(source, position, _raw(record), str(exc)))
            continue
        for mac, rule, text, vnet in tuples:
            if (mac, text) in seen:
                continue  # the same tuple under another rule or ACL of this NIC
            seen.add((mac, text))
            try:
                parsed.append(
                    (mac, rule, version, _vnet_tuple(text) if vnet else _nsg_tuple(text, version))
                )
            except _Bad as exc:
                rejected.append(RejectedRecord(source, position, text, str(exc)))
    parsed.sort(key=lambda p: p[3].ts)  # the state machine runs in time order
    for mac, rule, version, t in parsed:
        latest = max(latest, t.ts)
        key = f"{mac}|{t.src}|{t.dst}|{t.sport}|{t.dport}|{t.protocol}"
        start, end = state.interval(key, t.ts, t.state)
        if t.counts is not None:
            rows.extend(
                _rows(
                    t,
                    start,
                    end,
                    version=version,
                    rule=rule,
                    account=account,
                    interface=nic_of_mac.get(mac, f"mac:{mac}"),
                    region=region,
                )
            )
    if latest:
        state.expire(latest)
    frame = (
        pl.DataFrame(rows, schema=FLOW_SCHEMA_FULL)
        if rows
        else pl.DataFrame(schema=FLOW_SCHEMA_FULL)
    )
    return FlowChunk(source, frame, rejected)


def _rows(
    t: _Tuple,
    start: float,
    end: float,
    *,
    version: int,
    rule: str,
    account: str,
    interface: str,
    region: str | None,
) -> list[dict[str, Any]]:
    """A row for each way of ``t`` that moved packets or bytes."""
    assert t.counts is not None
    pkts_sd, bytes_sd, pkts_ds, bytes_ds = t.counts
    base = {
        "version": version,
        "account_id": account,
        "interface_id": interface,
        "protocol": t.protocol,
        "start": datetime.fromtimestamp(start, UTC),
        "end": datetime.fromtimestamp(end, UTC),
        "action": "ACCEPT" if t.accepted else "REJECT",
        "log_status": "OK",
        "region": region,
        "flow_direction": _DIRECTION[t.direction],
        "type": "IPv6" if ":" in t.src else "IPv4",
        "extra_fields": json.dumps(
            {"flow_state": t.state, "rule": rule, "encryption": t.encryption}, sort_keys=True
        ),
    }
    ways = (
        (t.src, t.dst, t.sport, t.dport, pkts_sd, bytes_sd),
        (t.dst, t.src, t.dport, t.sport, pkts_ds, bytes_ds),
    )
    return [
        base
        | {
            "srcaddr": src,
            "dstaddr": dst,
            "srcport": sport,
            "dstport": dport,
            "packets": pkts,
            "bytes": nbytes,
        }
        for src, dst, sport, dport, pkts, nbytes in ways
        if pkts or nbytes
    ]


def _raw(record: Any) -> str:
    try:
        return json.dumps(record, default=str)[:2000]
    except (TypeError, ValueError):
        return repr(record)[:2000]
