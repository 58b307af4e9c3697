"""VPC flow-log field names, formats and the checks one record must pass.

AWS names fields with hyphens (``${log-status}``); our schema (``models.FLOW_SCHEMA_FULL``)
uses underscores. The per-record checker here explains *why* a record is rejected; the
vectorised parser in ``flowlogs`` only calls it for the few records that fail.

Every field AWS documents is known (v2-v5, the v7 ECS fields, v8 ``reject-reason``); a field
named in a format or header that we do not know yet is kept as a pass-through string.
Timestamps are judged against the object's delivery time (``TimeBounds.around``), never a
fixed date; without one, only a plausible range of Unix seconds is asked for.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from providers.models import FLOW_FIELDS_V2, FLOW_PASS_THROUGH, FLOW_SCHEMA_FULL

__all__ = [
    "ACTIONS",
    "INT_FIELDS",
    "IP_FIELDS",
    "IP_PATTERN",
    "KNOWN_VERSIONS",
    "LOG_STATUSES",
    "MAX_EPOCH",
    "MAX_FLOW_BYTES",
    "MAX_FLOW_PACKETS",
    "MIN_EPOCH",
    "PLAUSIBLE",
    "HeaderError",
    "TimeBounds",
    "UnknownFieldError",
    "check_record",
    "field_from_aws",
    "field_to_aws",
    "format_string",
    "int_ranges",
    "is_known",
    "parse_format",
    "polars_dtype",
]

#: Flow-log versions AWS documents (2-5, 7 for the ECS fields, 8 for ``reject-reason``).
#: A custom format's version is the highest among its fields, so a later version is a future
#: field's: accepted, like the field itself.
KNOWN_VERSIONS = frozenset({2, 3, 4, 5, 7, 8})
#: Without a delivery time, a timestamp must at least be plausible Unix seconds (10 digits,
#: 2001-09-09 to 2106-02-07). With one, ``TimeBounds.around`` judges it (see there).
MIN_EPOCH = 1_000_000_000
MAX_EPOCH = 2**32

#: The most one flow record can carry: the largest EC2 network bandwidth (3,200 Gbit/s,
#: 4e11 bytes/s) over the longest aggregation interval (600 s) is 2.4e14 bytes, and at the
#: 64-byte minimum frame 3.75e12 packets. Bounds above those with headroom, far below the
#: 2**63 that 32,000 such records summed would overflow.
MAX_FLOW_BYTES = 2**48
MAX_FLOW_PACKETS = 2**42

INT_FIELDS: dict[str, tuple[int, int]] = {
    "version": (2, 127),
    "srcport": (0, 65535),
    "dstport": (0, 65535),
    "protocol": (0, 255),
    "packets": (0, MAX_FLOW_PACKETS),
    "bytes": (0, MAX_FLOW_BYTES),
    "start": (MIN_EPOCH, MAX_EPOCH - 1),
    "end": (MIN_EPOCH, MAX_EPOCH - 1),
    "tcp_flags": (0, 2**16),
    "traffic_path": (0, 127),
}
IP_FIELDS = ("srcaddr", "dstaddr", "pkt_srcaddr", "pkt_dstaddr")
ACTIONS = frozenset({"ACCEPT", "REJECT"})
LOG_STATUSES = frozenset({"OK", "NODATA", "SKIPDATA"})

_FORMAT_TOKEN = re.compile(r"\$\{([a-z0-9-]+)\}")
#: What a field name looks like (AWS's hyphens, or Parquet's underscores).
FIELD_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")


def _ip_pattern() -> str:
    """An anchored regex matching exactly what ``ipaddress.ip_address`` accepts (no scope)."""
    octet = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    v4 = rf"{octet}(?:\.{octet}){{3}}"
    h = "[0-9A-Fa-f]{1,4}"

    def groups(n: int, lo: int = 0) -> str:  # lo..n groups joined by ':'
        if n <= 0:
            return ""
        return f"(?:{h}(?::{h}){{{max(lo - 1, 0)},{n - 1}}})" + ("?" if lo == 0 else "")

    forms = [rf"(?:{h}:){{7}}{h}", rf"(?:{h}:){{6}}{v4}"]
    for left in range(8):  # '::' with ``left`` groups before it and up to 7-left after
        before = "" if left == 0 else rf"{h}(?::{h}){{{left - 1}}}"
        forms.append(rf"{before}::{groups(7 - left)}")
        if left <= 5:  # ... or up to 5-left groups then an IPv4 tail
            after = rf"(?:{h}:){{0,{5 - left}}}"
            forms.append(rf"{before}::{after}{v4}")
    return rf"^(?:{v4}|{'|'.join(forms)})$"


#: Matches a valid IPv4 or IPv6 address (vectorised with ``str.contains``).
IP_PATTERN = _ip_pattern()


class UnknownFieldError(ValueError):
    """A format or header token is not a field name at all."""


class HeaderError(ValueError):
    """A header or Parquet schema that cannot describe records (a field named twice)."""


def is_known(name: str) -> bool:
    """Whether ``name`` (our spelling) is a field AWS documents."""
    return name in FLOW_SCHEMA_FULL and name not in FLOW_PASS_THROUGH


def field_from_aws(name: str) -> str:
    """``log-status`` -> ``log_status``. A well-formed name we do not know passes through
    (a future field); a token that is not a field name raises UnknownFieldError."""
    raw = name.strip()
    if len(raw) > 64 or FIELD_NAME.fullmatch(raw) is None:
        raise UnknownFieldError(f"not a flow-log field name: {raw[:64]!r}")
    ours = raw.replace("-", "_")
    if ours in FLOW_PASS_THROUGH:
        raise UnknownFieldError(f"{raw!r} is a name Headroom reserves, not a flow-log field")
    return ours


def unique_fields(names: Sequence[str], spelled: Sequence[str]) -> None:
    """Raise HeaderError if two names (``log-status`` and ``log_status``) are one field."""
    seen: dict[str, str] = {}
    for ours, theirs in zip(names, spelled, strict=True):
        if ours in seen:
            raise HeaderError(
                f"field {field_to_aws(ours)!r} named twice ({seen[ours]!r} and {theirs!r})"
            )
        seen[ours] = theirs


@dataclass(frozen=True)
class TimeBounds:
    """The epoch seconds a record's ``start``/``end`` may take, and why."""

    earliest: int = MIN_EPOCH
    latest: int = MAX_EPOCH - 1
    basis: str = "plausible Unix seconds"

    @classmethod
    def around(
        cls,
        delivered: datetime,
        *,
        max_age: timedelta = timedelta(days=1),
        max_ahead: timedelta = timedelta(minutes=15),
    ) -> TimeBounds:
        """Records of an object delivered at ``delivered``: their flows happened before it
        (delivery is best effort, so up to ``max_age``) and not after it (``max_ahead``
        allows for the key's minute precision and clock skew)."""
        at = delivered.astimezone(UTC)
        return cls(
            int((at - max_age).timestamp()),
            int((at + max_ahead).timestamp()),
            f"delivery {at:%Y-%m-%dT%H:%MZ} -{_span(max_age)}/+{_span(max_ahead)}",
        )

    def describe(self) -> str:
        return f"[{self.earliest}, {self.latest}] ({self.basis})"


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


#: Bounds used when nothing says when the records were delivered.
PLAUSIBLE = TimeBounds()


def int_ranges(bounds: TimeBounds = PLAUSIBLE) -> dict[str, tuple[int, int]]:
    """``INT_FIELDS`` with the timestamps bounded by ``bounds``."""
    span = (bounds.earliest, bounds.latest)
    return INT_FIELDS | {"start": span, "end": span}


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


def check_record(values: Mapping[str, str | None], bounds: TimeBounds = PLAUSIBLE) -> str | None:
    """Why this record (field -> raw text, ``-`` meaning absent) is unusable, or None if fine."""
    ranges = int_ranges(bounds)
    for name, raw in values.items():
        if raw is None or raw == "":
            return f"empty field: {field_to_aws(name)!r}"
        if raw == "-":
            continue
        if name in INT_FIELDS:
            try:
                number = int(raw) if len(raw) <= 40 else int("x")
            except ValueError:
                return f"non-numeric: field {field_to_aws(name)!r} = {raw[:40]!r}"
            low, high = ranges[name]
            if name in {"start", "end"} and not low <= number <= high:
                where = bounds.describe()
                return f"impossible timestamp: {field_to_aws(name)}={number} outside {where}"
            if name == "version" and number < low:
                return f"unknown version: {number} (versions start at 2)"
            if not low <= number <= high:
                aws = field_to_aws(name)
                return f"out of range: field {aws!r} = {number} not in [{low}, {high}]"
        elif name in IP_FIELDS:
            try:
                if "%" in raw:  # a scope id: never in a flow log
                    raise ValueError(raw)
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
    """Our dtype for ``name`` while parsing (timestamps stay epoch Int64 until validated);
    a pass-through field is text."""
    if name in {"start", "end"}:
        return pl.Int64()
    return FLOW_SCHEMA_FULL.get(name, pl.String())
