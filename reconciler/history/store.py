"""The behavioural history store: flows, metric points and inventory snapshots as Parquet.

Layout under ``root`` (a local directory or any fsspec URL such as ``s3://bucket/headroom``)::

    flows/date=YYYY-MM-DD/hour=HH/<source-hash>.parquet     FLOW_SCHEMA_FULL rows, by start
    requests/date=YYYY-MM-DD/hour=HH/<source-hash>.parquet  REQUEST_BUCKET_SCHEMA, by bucket
    accesses/date=YYYY-MM-DD/hour=HH/<source-hash>.parquet  ACCESS_SCHEMA (sampled), by ts
    metrics/date=YYYY-MM-DD/hour=HH/<content-hash>.parquet  resource_id, metric, stat, ts, value
    inventory/<YYYYmmddTHHMMSSffffffZ>.jsonl                 one Resource per line
    quarantine/<source-hash>.jsonl                           rejected records with their reason
    quarantine/files/<path>[.reason.json]                    unreadable history files, moved aside
    ingested/<source-hash>.json                              one marker per ingested source

Request logs (``write_requests``) follow the flows' rules: one marker per log object, its
rejected lines in quarantine, every hour of it written or none.

A source is marked ingested only after its data is written, and file names derive from the
source, so a crash between the two and a retry rewrite the same files: nothing is counted twice.
Every file appears whole under its final name or not at all (``atomic``); a damaged file found
later is quarantined and the query goes on without it (``health``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import fsspec
import polars as pl
import pyarrow as pa
from fsspec.implementations.local import LocalFileSystem

from providers.models import (
    FLOW_SCHEMA_FULL,
    FlowChunk,
    MetricSeries,
    RejectedRecord,
    Resource,
    TimeWindow,
)
from reconciler.history.atomic import write_atomic, write_local
from reconciler.history.health import FileGuard
from reconciler.history.pairs import PAIR_SCHEMA, pair_frame
from reconciler.users.models import ACCESS_SCHEMA, REQUEST_BUCKET_SCHEMA

__all__ = ["HistoryStore", "IngestResult", "reason_category"]

METRIC_SCHEMA: dict[str, pl.DataType] = {
    "resource_id": pl.String(),
    "metric": pl.String(),
    "stat": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "value": pl.Float64(),
    "unit": pl.String(),
    "period_s": pl.Int32(),
}
_HIVE = {"date": pl.String(), "hour": pl.Int32()}
_PARQUET: dict[str, Any] = {"compression": "lz4", "statistics": True}


def reason_category(reason: str) -> str:
    """The kind of a rejection reason (the text before its first colon)."""
    return reason.split(":", 1)[0].strip()


def _hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class IngestResult:
    """What happened to one source object."""

    source: str
    skipped: bool
    accepted: int
    rejected: int
    rejected_by_reason: dict[str, int] = field(default_factory=dict)


def _conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """``frame`` as exactly ``schema``'s columns and types (a missing column is an error)."""
    if list(frame.schema.items()) == list(schema.items()):
        return frame  # already the table's columns and types (what the collect step writes)
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"history: frame lacks columns {missing} of its table")
    return frame.select(list(schema)).cast(schema)  # type: ignore[arg-type]


def _by_hour(frame: pl.DataFrame, column: str) -> list[tuple[datetime, pl.DataFrame]]:
    """Split rows by the UTC hour of ``column`` (a single-hour frame is not copied)."""
    if frame.height == 0:
        return []
    hours = frame.get_column(column).dt.truncate("1h")
    first, last = hours.min(), hours.max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    if first == last:
        return [(first, frame)]
    keyed = frame.with_columns(hours.alias("__hour"))
    return [
        (part.get_column("__hour")[0], part.drop("__hour"))
        for part in keyed.partition_by("__hour", maintain_order=True)
    ]


class HistoryStore:
    """Parquet history on a local directory or fsspec URL; queried lazily with Polars."""

    def __init__(self, root: str, *, fs: fsspec.AbstractFileSystem | None = None) -> None:
        if fs is None:
            fs, path = fsspec.core.url_to_fs(root)
        else:
            path = root
        self.fs: fsspec.AbstractFileSystem = fs
        self.root = str(path).rstrip("/")
        self._local = isinstance(fs, LocalFileSystem)
        self._inventory_cache: dict[str, list[Resource]] = {}
        self._guard = FileGuard(fs, self.root)

    def _path(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def _write_bytes(self, path: str, payload: bytes) -> None:
        write_atomic(self.fs, path, payload)

    def _write_parquet(self, path: str, frame: pl.DataFrame) -> None:
        if self._local:  # polars writes the temporary file itself: no copy in memory
            write_local(path, lambda tmp: frame.write_parquet(tmp, **_PARQUET))
            self._guard.written(path, os.path.getsize(path))
            return
        buf = io.BytesIO()
        frame.write_parquet(buf, **_PARQUET)
        self._write_bytes(path, buf.getvalue())
        self._guard.written(path, buf.getbuffer().nbytes)

    # --- flows --------------------------------------------------------------------------

    def is_ingested(self, source: str) -> bool:
        return bool(self.fs.exists(self._path("ingested", _hash(source) + ".json")))

    def write_flows(self, chunk: FlowChunk) -> IngestResult:
        """Store one source's records and rejects; a source already ingested is skipped."""
        key = _hash(chunk.source)
        if self.is_ingested(chunk.source):
            return IngestResult(chunk.source, True, 0, 0)
        records = chunk.records
        rejected = list(chunk.rejected)
        if records.height and records.get_column("start").null_count():
            for row in records.filter(pl.col("start").is_null()).iter_rows(named=True):
                raw = json.dumps(row, default=str)[:2000]
                rejected.append(RejectedRecord(chunk.source, None, raw, "no start timestamp"))
            records = records.filter(pl.col("start").is_not_null())
        try:
            self._write_hours(key, records)
        except BaseException:
            self._forget_source(key)  # no hour of a source is stored unless all are
            raise
        return self._finish(chunk.source, records.height, rejected)

    def _finish(self, source: str, accepted: int, rejected: list[RejectedRecord]) -> IngestResult:
        """Quarantine ``rejected`` and mark ``source`` ingested (after its data is written)."""
        key = _hash(source)
        if rejected:
            lines = (
                json.dumps({"source": r.source, "line": r.line, "raw": r.raw, "reason": r.reason})
                for r in rejected
            )
            self._write_bytes(self._path("quarantine", f"{key}.jsonl"), "\n".join(lines).encode())
        by_reason = Counter(reason_category(r.reason) for r in rejected)
        marker = {"source": source, "accepted": accepted, "rejected": len(rejected)}
        self._write_bytes(self._path("ingested", f"{key}.json"), json.dumps(marker).encode())
        return IngestResult(source, False, accepted, len(rejected), dict(by_reason))

    def _write_hours(self, key: str, records: pl.DataFrame) -> None:
        for hour, part in _by_hour(records, "start"):
            where = (f"date={hour:%Y-%m-%d}", f"hour={hour:%H}", f"{key}.parquet")
            if self._local:  # columns the format lacks are not written; the scan fills them
                part = part.select(c for c in part.columns if part[c].null_count() < part.height)
            self._write_parquet(self._path("flows", *where), part)
            self._write_parquet(self._path("pairs", *where), pair_frame(part))

    def _forget_source(self, key: str, kinds: Sequence[str] = ("flows", "pairs")) -> None:
        """Remove the files of a source whose write did not finish (they hold nothing that was
        counted: the source is marked ingested only after all are written)."""
        for kind in kinds:
            for path in self.fs.glob(self._path(kind, "*", "*", f"{key}.parquet")):
                self.fs.rm_file(path)

    def scan_flows(self) -> pl.LazyFrame:
        """All stored flow records (FLOW_SCHEMA_FULL plus ``date``/``hour`` partition columns)."""
        return self._scan("flows")

    def scan_pairs(self) -> pl.LazyFrame:
        """Traffic pre-aggregated at ingest per 5-minute bucket (``PAIR_SCHEMA``, see query)."""
        return self._scan("pairs")

    # --- request logs -------------------------------------------------------------------

    def write_requests(
        self,
        source: str,
        buckets: pl.DataFrame,
        accesses: pl.DataFrame,
        rejected: Sequence[RejectedRecord],
    ) -> IngestResult:
        """Store one request-log object's buckets (``REQUEST_BUCKET_SCHEMA``), sampled accesses
        (``ACCESS_SCHEMA``) and rejects; a source already ingested is skipped. ``accepted``
        counts requests (the buckets' ``requests``); a bucket without a time is rejected."""
        if self.is_ingested(source):
            return IngestResult(source, True, 0, 0)
        kept_aside = list(rejected)
        buckets, accesses = (
            _conform(buckets, REQUEST_BUCKET_SCHEMA),
            _conform(accesses, ACCESS_SCHEMA),
        )
        if buckets.get_column("ts").null_count():
            untimed = buckets.filter(pl.col("ts").is_null())
            for row in untimed.iter_rows(named=True):
                raw = json.dumps(row, default=str)[:2000]
                kept_aside.append(RejectedRecord(source, None, raw, "no timestamp"))
            buckets = buckets.filter(pl.col("ts").is_not_null())
        if accesses.get_column("ts").null_count():
            accesses = accesses.filter(pl.col("ts").is_not_null())
        key = _hash(source)
        try:
            for kind, frame in (("requests", buckets), ("accesses", accesses)):
                for hour, part in _by_hour(frame, "ts"):
                    where = (f"date={hour:%Y-%m-%d}", f"hour={hour:%H}", f"{key}.parquet")
                    self._write_parquet(self._path(kind, *where), part)
        except BaseException:
            self._forget_source(key, ("requests", "accesses"))
            raise
        accepted = int(buckets.get_column("requests").sum() or 0)
        return self._finish(source, accepted, kept_aside)

    def scan_requests(self) -> pl.LazyFrame:
        """Request buckets (``REQUEST_BUCKET_SCHEMA`` plus ``date``/``hour``)."""
        return self._scan("requests")

    def scan_accesses(self) -> pl.LazyFrame:
        """The sampled access stream (``ACCESS_SCHEMA`` plus ``date``/``hour``)."""
        return self._scan("accesses")

    def pairs_complete(self) -> bool:
        """True when every stored flow file has its pair aggregate (stores from before the
        aggregates existed, or a crash between the two writes, make this False)."""

        def names(kind: str) -> set[str]:
            files = self._guard.files(kind, *self.TABLES[kind])
            return {p.split(f"/{kind}/", 1)[-1] for p in files}

        return names("flows") <= names("pairs")

    def quarantine(self) -> pl.DataFrame:
        """Every rejected record: ``source``, ``line``, ``raw``, ``reason``."""
        schema = {"source": pl.String, "line": pl.Int64, "raw": pl.String, "reason": pl.String}
        rows: list[dict[str, Any]] = []
        for path in sorted(self.fs.glob(self._path("quarantine", "*.jsonl"))):
            with self.fs.open(path, "rb") as fh:
                rows.extend(json.loads(line) for line in fh.read().splitlines() if line.strip())
        return pl.DataFrame(rows, schema=schema)

    def quarantine_counts(self) -> dict[str, int]:
        """Rejected records by reason category."""
        frame = self.quarantine()
        return dict(Counter(reason_category(r) for r in frame.get_column("reason").to_list()))

    # --- metrics ------------------------------------------------------------------------

    def write_metrics(self, series: Sequence[MetricSeries]) -> int:
        """Store metric points; returns how many. Rewriting the same points is harmless."""
        rows = {k: [] for k in METRIC_SCHEMA}  # type: dict[str, list[Any]]
        for s in series:
            n = len(s.values)
            rows["resource_id"] += [s.resource_id] * n
            rows["metric"] += [str(s.metric)] * n
            rows["stat"] += [s.stat] * n
            rows["ts"] += list(s.timestamps)
            rows["value"] += [float(v) for v in s.values]
            rows["unit"] += [s.unit] * n
            rows["period_s"] += [s.period_s] * n
        frame = pl.DataFrame(rows, schema=METRIC_SCHEMA)
        if frame.height == 0:
            return 0
        for hour, part in _by_hour(frame, "ts"):
            body = part.sort("resource_id", "metric", "ts")
            digest = f"{body.hash_rows().sum()}-{body.height}"
            path = self._path(
                "metrics", f"date={hour:%Y-%m-%d}", f"hour={hour:%H}", f"{digest}.parquet"
            )
            self._write_parquet(path, body)
        return frame.height

    def scan_metrics(self) -> pl.LazyFrame:
        return self._scan("metrics")

    def compact_metrics(self, before: datetime) -> int:
        """Merge each hour of metric points that ended by ``before`` and is held in more than
        one file (a cycle writes one file per hour it collects into: a 5-minute schedule leaves
        twelve an hour, and every query opens them all) into one, points deduplicated as the
        metric queries do; returns how many files were merged away. The merged file is written
        before the old ones are removed, so a scan in between, or after a crash in between,
        sees points twice, which ``metric_points`` absorbs."""
        from reconciler.history.query import METRIC_KEYS

        schema, required = self.TABLES["metrics"]
        by_hour: dict[tuple[str, int], list[str]] = {}
        cutoff = before.astimezone(UTC)
        for path in self._guard.files("metrics", schema, required):
            day_dir, hour_dir = path.rsplit("/", 3)[-3:-1]
            key = (day_dir.removeprefix("date="), int(hour_dir.removeprefix("hour=")))
            start = datetime.strptime(f"{key[0]} {key[1]:02d}", "%Y-%m-%d %H")
            if start.replace(tzinfo=UTC) + timedelta(hours=1) <= cutoff:
                by_hour.setdefault(key, []).append(path)
        merge = {key: paths for key, paths in by_hour.items() if len(paths) > 1}
        if not merge:
            return 0
        wanted = pl.DataFrame(
            {"date": [k[0] for k in merge], "hour": [k[1] for k in merge]}, schema=_HIVE
        )
        frame = self._scan("metrics").join(wanted.lazy(), on=["date", "hour"]).collect()
        removed = 0
        for key, part in frame.partition_by(["date", "hour"], as_dict=True).items():
            date, hour = str(key[0]), int(str(key[1]))
            paths = merge[(date, hour)]
            body = (
                part.select(list(schema))
                .unique(subset=METRIC_KEYS, keep="last")
                .sort("resource_id", "metric", "ts")
            )
            digest = f"{body.hash_rows().sum()}-{body.height}"
            merged = self._path("metrics", f"date={date}", f"hour={hour:02d}", f"{digest}.parquet")
            self._write_parquet(merged, body)
            for path in paths:
                if path != merged:
                    self.fs.rm(path)
                    self._guard.forget(path)
                    removed += 1
        return removed

    # --- inventory ----------------------------------------------------------------------

    def write_inventory(self, resources: Sequence[Resource], at: datetime) -> None:
        """Store a snapshot of the inventory as it was at ``at``."""
        stamp = f"{at.astimezone(UTC):%Y%m%dT%H%M%S%fZ}"
        body = "\n".join(r.model_dump_json() for r in resources)
        self._write_bytes(self._path("inventory", f"{stamp}.jsonl"), body.encode())
        self._inventory_cache.pop(stamp, None)

    def snapshot_times(self) -> list[datetime]:
        paths = self.fs.glob(self._path("inventory", "*.jsonl"))
        stamps = sorted(p.rsplit("/", 1)[-1].removesuffix(".jsonl") for p in paths)
        return [datetime.strptime(s, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC) for s in stamps]

    def snapshot(self, at: datetime) -> list[Resource]:
        """The snapshot taken exactly at ``at`` (one of ``snapshot_times()``)."""
        stamp = f"{at.astimezone(UTC):%Y%m%dT%H%M%S%fZ}"
        if stamp not in self._inventory_cache:
            with self.fs.open(self._path("inventory", f"{stamp}.jsonl"), "rb") as fh:
                lines = fh.read().decode().splitlines()
            self._inventory_cache[stamp] = [Resource.model_validate_json(x) for x in lines if x]
        return list(self._inventory_cache[stamp])

    def inventory_at(self, at: datetime) -> list[Resource]:
        """The latest snapshot taken at or before ``at`` (empty if none was)."""
        times = [t for t in self.snapshot_times() if t <= at]
        return self.snapshot(times[-1]) if times else []

    # --- queries (see reconciler.history.query) -----------------------------------------

    def edges(self, window: TimeWindow, bucket: timedelta = timedelta(minutes=5)) -> pl.DataFrame:
        """Traffic per (window_start, src, dst); see ``query.edges`` for the rules."""
        from reconciler.history.query import edges

        return edges(self, window, bucket)

    def resource_series(
        self, window: TimeWindow, bucket: timedelta = timedelta(minutes=5)
    ) -> pl.DataFrame:
        """Per-resource bytes/packets in and out per bucket."""
        from reconciler.history.query import resource_series

        return resource_series(self, window, bucket)

    def latest(self, kind: str) -> datetime | None:
        """Newest stored time of table ``kind`` (None when empty); see ``query``."""
        from reconciler.history.query import latest

        return latest(self, kind)

    def metric_points(
        self, window: TimeWindow, metrics: Sequence[str] | None = None
    ) -> pl.DataFrame:
        """Stored metric points in ``window``: ``resource_id``, ``metric``, ``ts``, ``value``."""
        from reconciler.history.query import metric_points

        return metric_points(self, window, metrics)

    # --- scanning -----------------------------------------------------------------------

    #: Each table's schema and the column every one of its files must have.
    TABLES: dict[str, tuple[dict[str, pl.DataType], str]] = {
        "flows": (FLOW_SCHEMA_FULL, "start"),
        "pairs": (PAIR_SCHEMA, "window_start"),
        "metrics": (METRIC_SCHEMA, "ts"),
        "requests": (REQUEST_BUCKET_SCHEMA, "ts"),
        "accesses": (ACCESS_SCHEMA, "ts"),
    }

    def verify(self, kind: str) -> int:
        """Read every file of table ``kind`` through; quarantine the damaged ones (how many)."""
        return self._guard.verify(kind, *self.TABLES[kind])

    def quarantined_files(self) -> pl.DataFrame:
        """History files moved aside as unreadable: ``kind``, ``path``, ``moved_to``, ``reason``."""
        return self._guard.quarantined()

    def file_quarantine_counts(self) -> dict[str, int]:
        """Quarantined history files by reason category."""
        return self._guard.counts()

    def _scan(self, kind: str) -> pl.LazyFrame:
        schema, required = self.TABLES[kind]
        files = self._guard.files(kind, schema, required)
        if not files:
            return pl.DataFrame(schema=schema | _HIVE).lazy()
        base = self._path(kind)
        if self._local:
            return pl.scan_parquet(
                files,
                hive_partitioning=True,
                hive_schema=_HIVE,
                schema=schema,
                missing_columns="insert",
                extra_columns="ignore",
            )
        import pyarrow.dataset as ds  # imports pandas: only when not on a local disk
        import pyarrow.fs as pafs

        hive = pl.DataFrame(schema=_HIVE).to_arrow().schema
        full = pl.DataFrame(schema=schema).to_arrow().schema
        dataset = ds.dataset(
            files,
            schema=pa.unify_schemas([full, hive]),
            filesystem=pafs.PyFileSystem(pafs.FSSpecHandler(self.fs)),
            format="parquet",
            partitioning=ds.partitioning(hive, flavor="hive"),
            partition_base_dir=base,
        )
        return pl.scan_pyarrow_dataset(dataset)
