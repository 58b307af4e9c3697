"""VPC Flow Logs from Cloud Logging (``entries.list``) and from sink exports in Cloud Storage.

Both read the same entries (``providers.gcp.flowentry``) into ``FLOW_SCHEMA_FULL``, so the
history store, grouping, forecasting and allocation need no GCP branch. Nothing raises for a
bad entry: it is kept in ``FlowChunk.rejected`` with its reason.

Cloud Logging is read hour by hour: one chunk per hour of the window, named by the hour
(``gcl://<project>/vpc_flows@<start ms>-<end ms>``) so the history store refuses the same hour
twice, each following ``nextPageToken``. A sink export is read object by object (JSON lines,
one entry a line, ``compute.googleapis.com/vpc_flows/YYYY/MM/DD/...``) through fsspec
(``gcsfs`` for ``gs://``), each named by its path and size.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import polars as pl

from providers.gcp.flowentry import BadEntry, FlowRow, entry_record
from providers.gcp.session import JsonObject, gcp_errors
from providers.models import FLOW_SCHEMA_FULL, FlowChunk, RejectedRecord, TimeWindow

__all__ = [
    "LOGGING_URL",
    "VPC_FLOWS",
    "ExportSource",
    "LoggingSource",
    "chunk_of",
    "hours",
]

LOGGING_URL = "https://logging.googleapis.com/v2/entries:list"
VPC_FLOWS = "compute.googleapis.com%2Fvpc_flows"
PAGE_SIZE = 1000
#: Where a sink writes the ``vpc_flows`` log under its bucket (``YYYY/MM/DD/HH:00:00_...json``).
_EXPORT_DIR = "compute.googleapis.com/vpc_flows/"
Post = Callable[[str, Mapping[str, str | int | list[str]]], JsonObject]


@dataclass(frozen=True)
class Unreadable:
    """A line that is not an entry at all, and why."""

    reason: str


def hours(window: TimeWindow) -> list[TimeWindow]:
    """``window`` cut at whole hours (the first and last pieces may be shorter)."""
    out: list[TimeWindow] = []
    start = window.start
    while start < window.end:
        nxt = min(start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1), window.end)
        out.append(TimeWindow(start=start, end=nxt))
        start = nxt
    return out


def chunk_of(
    entries: Sequence[tuple[int, str, object]],
    source: str,
    rates: Mapping[str, float] | None,
    nics: Mapping[tuple[str, str], str] | None,
) -> FlowChunk:
    """A chunk from (line, raw text, decoded entry) triples; bad ones are quarantined."""
    rows: list[FlowRow] = []
    rejected: list[RejectedRecord] = []
    for line, raw, entry in entries:
        if isinstance(entry, Unreadable):
            rejected.append(RejectedRecord(source, line, raw[:2000], entry.reason))
            continue
        try:
            rows.append(entry_record(entry, rates=rates, nics=nics))
        except BadEntry as exc:
            rejected.append(RejectedRecord(source, line, raw[:2000], str(exc)))
    frame = pl.DataFrame(rows, schema=FLOW_SCHEMA_FULL) if rows else None
    return FlowChunk(
        source, frame if frame is not None else pl.DataFrame(schema=FLOW_SCHEMA_FULL), rejected
    )


@dataclass(frozen=True)
class LoggingSource:
    """The ``vpc_flows`` log of one project, read through the Logging API."""

    project: str
    rates: Mapping[str, float] = field(default_factory=dict)

    def chunks(
        self, post: Post, window: TimeWindow, nics: Mapping[tuple[str, str], str]
    ) -> Iterator[FlowChunk]:
        log = f"projects/{self.project}/logs/{VPC_FLOWS}"
        for hour in hours(window):
            start, end = (t.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for t in (hour.start, hour.end))
            body: dict[str, str | int | list[str]] = {
                "resourceNames": [f"projects/{self.project}"],
                "filter": f'logName="{log}" AND timestamp>="{start}" AND timestamp<"{end}"',
                "orderBy": "timestamp asc",
                "pageSize": PAGE_SIZE,
            }
            entries: list[tuple[int, str, object]] = []
            while True:
                with gcp_errors(f"entries.list {log}"):
                    page = post(LOGGING_URL, body)
                listed = page.get("entries", [])
                for entry in listed if isinstance(listed, list) else [listed]:
                    entries.append((len(entries) + 1, json.dumps(entry), entry))
                token = page.get("nextPageToken")
                if not token:
                    break
                body["pageToken"] = str(token)
            ms = (int(t.timestamp() * 1000) for t in (hour.start, hour.end))
            source = f"gcl://{self.project}/vpc_flows@{next(ms)}-{next(ms)}"
            yield chunk_of(entries, source, self.rates, nics)


class ExportFileSystem(Protocol):
    """What is read of an fsspec filesystem (``gcsfs.GCSFileSystem`` for ``gs://``)."""

    def find(self, path: str) -> list[str]: ...

    def size(self, path: str) -> int: ...

    def cat_file(self, path: str) -> bytes: ...


@dataclass(frozen=True)
class ExportSource:
    """A Cloud Logging sink exporting ``vpc_flows`` to Cloud Storage as JSON lines, under
    ``root`` (``bucket/prefix``); objects are read when their ``YYYY/MM/DD/HH`` hour meets the
    window."""

    root: str
    rates: Mapping[str, float] = field(default_factory=dict)

    def chunks(
        self, fs: ExportFileSystem, window: TimeWindow, nics: Mapping[tuple[str, str], str]
    ) -> Iterator[FlowChunk]:
        base = f"{self.root.rstrip('/')}/{_EXPORT_DIR}"
        wanted = {h.start.strftime("%Y/%m/%d/%H") for h in hours(window)}
        with gcp_errors(f"objects.list {base}"):
            paths = sorted(fs.find(base))
        for path in paths:
            parts = path.partition(_EXPORT_DIR)[2].split("/")
            if len(parts) < 4 or "/".join([*parts[:3], parts[3][:2]]) not in wanted:
                continue
            with gcp_errors(f"objects.get {path}"):
                data, size = fs.cat_file(path), fs.size(path)
            yield chunk_of(
                _lines(data),
                f"gs://{path.removeprefix('gs://').lstrip('/')}#{size}",
                self.rates,
                nics,
            )


def _lines(data: bytes) -> list[tuple[int, str, object]]:
    out: list[tuple[int, str, object]] = []
    for number, raw in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            entry: object = json.loads(raw)
        except ValueError as exc:
            entry = Unreadable(f"not JSON: {exc}")
        out.append((number, raw, entry))
    return out
