"""VPC flow-log field names, formats and the checks one record must pass.

AWS names fields with hyphens (``${log-status}``); our schema (``providers.models.FLOW_SCHEMA``)
uses underscores. The per-record checker here explains *why* a record is rejected; the
vectorised parser in ``flowlogs`` only calls it for the few records that fail.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import polars as pl

from providers.models import FLOW_FIELDS_V2, FLOW_SCHEMA

__all__ = [
    "ACTIONS",
    "INT_FIELDS",
    "IP_FIELDS",
    "KNOWN_VERSIONS",
    "LOG_STATUSES",
    "MAX_EPOCH",
    "MIN_EPOCH",
    "UnknownFieldError",
    "check_record",
    "field_from_aws",
    "field_to_aws",
    "format_string",
    "parse_format",
    "polars_dtype",
]

#: Flow-log versions whose fields we understand.
KNOWN_VERSIONS = frozenset({2, 3, 4, 5})
#: Timestamps outside [2015-01-01, 2100-01-01) are impossible for a flow log.
MIN_EPOCH = int(datetime(2015, 1, 1, tzinfo=UTC).timestamp())
MAX_EPOCH = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp())

INT_FIELDS: dict[str, tuple[int, int]] = {
    "version": (0, 127),
    "srcport": (0, 65535),
    "dstport": (0, 65535),
    "protocol": (0, 255),
    "packets": (0, 2**62),
    "bytes": (0, 2**62),
    "start": (MIN_EPOCH, MAX_EPOCH - 1),
    "end": (MIN_EPOCH, MAX_EPOCH - 1),
    "tcp_flags": (0, 2**16),
    "traffic_path": (0, 127),
}
IP_FIELDS = ("srcaddr", "dstaddr", "pkt_srcaddr", "pkt_dstaddr")
ACTIONS = frozenset({"ACCEPT", "REJECT"})
LOG_STATUSES = frozenset({"OK", "NODATA", "SKIPDATA"})

_FORMAT_TOKEN = re.compile(r"\$\{([a-z0-9-]+)\}")


class UnknownFieldError(ValueError):
    """A format or header names a field that is not a v2-v5 flow-log field."""


def field_from_aws(name: str) -> str:
    """``log-status`` -> ``log_status``; raises UnknownFieldError for names not in v2-v5."""
    ours = name.strip().replace("-", "_")
    if ours not in FLOW_SCHEMA:
        raise UnknownFieldError(f"unknown flow-log field {name!r} (supported: v2-v5 fields)")
    return ours


def field_to_aws(name: str) -> str:
    return name.replace("_", "-")


def parse_format(log_format: str | None) -> list[str]:
    """Field list of a ``LogFormat`` (``${version} ${srcaddr} ...``); None -> the v2 default."""
    if not log_format:
        return list(FLOW_FIELDS_V2)
    tokens = log_format.split()
    fields: list[str] = []
    for token in tokens:
        match = _FORMAT_TOKEN.fullmatch(token)
        if match is None:
            raise UnknownFieldError(f"LogFormat token {token!r} is not of the form ${{field}}")
        fields.append(field_from_aws(match.group(1)))
    if len(set(fields)) != len(fields):
        raise UnknownFieldError(f"LogFormat names a field twice: {log_format!r}")
    return fields


def format_string(fields: Sequence[str]) -> str:
    """The ``LogFormat`` string for ``fields`` (inverse of ``parse_format``)."""
    return " ".join("${" + field_to_aws(f) + "}" for f in fields)


def check_record(values: Mapping[str, str | None]) -> str | None:
    """Why this record (field -> raw text, ``-`` meaning absent) is unusable, or None if fine."""
    for name, raw in values.items():
        if raw is None or raw == "":
            return f"empty field: {field_to_aws(name)!r}"
        if raw == "-":
            continue
        if name in INT_FIELDS:
            try:
                number = int(raw)
            except ValueError:
                return f"non-numeric: field {field_to_aws(name)!r} = {raw[:40]!r}"
            low, high = INT_FIELDS[name]
            if name in {"start", "end"} and not low <= number <= high:
                return f"impossible timestamp: {field_to_aws(name)}={number}"
            if not low <= number <= high:
                aws = field_to_aws(name)
                return f"out of range: field {aws!r} = {number} not in [{low}, {high}]"
            if name == "version" and number not in KNOWN_VERSIONS:
                return f"unknown version: {number} (supported: 2-5)"
        elif name in IP_FIELDS:
            try:
                ipaddress.ip_address(raw)
            except ValueError:
                return f"not an IP address: field {field_to_aws(name)!r} = {raw[:40]!r}"
        elif name == "action" and raw not in ACTIONS:
            return f"unknown action: {raw[:20]!r}"
        elif name == "log_status" and raw not in LOG_STATUSES:
            return f"unknown log-status: {raw[:20]!r}"
    start, end = values.get("start"), values.get("end")
    if start not in (None, "-") and end not in (None, "-") and int(end or 0) < int(start or 0):
        return f"impossible timestamp: end {end} is before start {start}"
    return None


def polars_dtype(name: str) -> pl.DataType:
    """Our dtype for ``name`` while parsing (timestamps stay epoch Int64 until validated)."""
    if name in {"start", "end"}:
        return pl.Int64()
    return FLOW_SCHEMA[name]
