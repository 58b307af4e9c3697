"""Aggregations over the history store: traffic edges, per-resource series, metric points.

Counting rule for edges: a flow between two monitored ENIs is logged twice, once by each
ENI. We keep the record logged by the *source-side* ENI (the one whose resource owns
``srcaddr``) and drop the destination-side copy, unless the source resource logged nothing in
that bucket (then the destination-side record is the only evidence and is kept). Records
from an ENI whose owner is neither end (e.g. a NAT gateway forwarding) are kept.

Only ``log_status == OK`` records with ``action`` ACCEPT (or no action field) carry traffic.
Records are placed in a bucket by their ``start`` time; addresses are resolved at the
bucket's start.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from providers.models import TimeWindow
from reconciler.history.health import READ_ERRORS
from reconciler.history.pairs import PAIR_KEYS, pairs_answer, total, traffic
from reconciler.history.resolve import Snapshot, address_intervals, eni_owners, resolve

if TYPE_CHECKING:
    from reconciler.history.store import HistoryStore

__all__ = [
    "EDGE_SCHEMA",
    "METRIC_KEYS",
    "SERIES_SCHEMA",
    "bucket_expr",
    "edges",
    "edges_from_pairs",
    "latest",
    "metric_points",
    "pair_totals",
    "resource_series",
    "series_from_edges",
    "spans",
    "stored_pair_totals",
]

#: What identifies a metric point: duplicates of it (a window collected twice, files being
#: merged) are one point to every reader.
METRIC_KEYS = ["resource_id", "metric", "stat", "ts"]

_TS = pl.Datetime("us", "UTC")
EDGE_SCHEMA: dict[str, pl.DataType] = {
    "window_start": _TS,
    "src": pl.String(),
    "dst": pl.String(),
    "bytes": pl.Int64(),
    "packets": pl.Int64(),
    "flows": pl.Int64(),
}
SERIES_SCHEMA: dict[str, pl.DataType] = {
    "resource": pl.String(),
    "window_start": _TS,
    "bytes_in": pl.Int64(),
    "bytes_out": pl.Int64(),
    "packets_in": pl.Int64(),
    "packets_out": pl.Int64(),
}


def _window_filter(window: TimeWindow, ts: str) -> pl.Expr:
    first, last = f"{window.start:%Y-%m-%d}", f"{window.end:%Y-%m-%d}"
    in_dates = (pl.col("date") >= first) & (pl.col("date") <= last)
    return in_dates & (pl.col(ts) >= window.start) & (pl.col(ts) < window.end)


def bucket_expr(column: str, bucket: timedelta) -> pl.Expr:
    seconds = int(bucket.total_seconds())
    if seconds <= 0:
        raise ValueError(f"bucket must be at least one second, got {bucket}")
    return pl.col(column).dt.truncate(f"{seconds}s")


def pair_totals(flows: pl.LazyFrame, window: TimeWindow, bucket: timedelta) -> pl.DataFrame:
    """Traffic records summed per (bucket, logging ENI, address pair, service names)."""
    keep = traffic(pl.col("action"), pl.col("log_status"))
    return (
        flows.filter(_window_filter(window, "start") & keep)
        .group_by(
            bucket_expr("start", bucket).alias("window_start"),
            "interface_id",
            "srcaddr",
            "dstaddr",
            "pkt_src_aws_service",
            "pkt_dst_aws_service",
        )
        .agg(
            total(pl.col("bytes")).alias("bytes"),
            total(pl.col("packets")).alias("packets"),
            pl.len().cast(pl.Int64).alias("flows"),
        )
        .collect(engine="streaming")  # bounded memory however much history is scanned
    )


def stored_pair_totals(pairs: pl.LazyFrame, window: TimeWindow, bucket: timedelta) -> pl.DataFrame:
    """``pair_totals`` from the 5-minute aggregates written at ingest (``pairs_answer`` only)."""
    return (
        pairs.filter(_window_filter(window, "window_start"))
        .group_by(bucket_expr("window_start", bucket).alias("window_start"), *PAIR_KEYS)
        .agg(
            total(pl.col("bytes")).alias("bytes"),
            total(pl.col("packets")).alias("packets"),
            total(pl.col("flows")).alias("flows"),
        )
        .collect(engine="streaming")
    )


#: Edges are computed over spans of about this length, so memory stays bounded by one span.
EDGE_SPAN = timedelta(hours=6)


def spans(window: TimeWindow, bucket: timedelta, span: timedelta = EDGE_SPAN) -> list[TimeWindow]:
    """``window`` cut at epoch-aligned multiples of ``bucket`` about ``span`` apart.

    Every bucket falls wholly inside one piece, so per-bucket rules give the same answer.
    """
    step = max(int(span / bucket), 1) * bucket.total_seconds()
    cuts = [window.start]
    k = int(window.start.timestamp() // step) + 1
    while (cut := datetime.fromtimestamp(k * step, UTC)) < window.end:
        cuts.append(cut)
        k += 1
    cuts.append(window.end)
    return [TimeWindow(start=a, end=b) for a, b in itertools.pairwise(cuts)]


def edges(store: HistoryStore, window: TimeWindow, bucket: timedelta) -> pl.DataFrame:
    """``window_start, src, dst, bytes, packets, flows`` for every bucket of ``window``."""
    bucket_expr("start", bucket)  # validates the bucket
    snaps = [(t, store.snapshot(t)) for t in store.snapshot_times()]

    def run() -> pl.DataFrame:
        # Aggregates written at ingest answer aligned windows without re-scanning every record.
        totals: Callable[[pl.LazyFrame, TimeWindow, timedelta], pl.DataFrame] = pair_totals
        source = store.scan_flows
        if pairs_answer(window, bucket) and store.pairs_complete():
            totals, source = stored_pair_totals, store.scan_pairs
        parts = [
            edges_from_pairs(totals(source(), piece, bucket), snaps)
            for piece in spans(window, bucket)
        ]
        return pl.concat(parts) if parts else pl.DataFrame(schema=EDGE_SCHEMA)

    return _despite_damage(store, ("pairs", "flows"), run)


def _despite_damage(
    store: HistoryStore, kinds: Sequence[str], run: Callable[[], pl.DataFrame]
) -> pl.DataFrame:
    """``run()``; if reading fails, quarantine the damaged files of ``kinds`` and run again.

    The footer check before each scan misses a damaged data page; only a failed read finds
    it, so only then is every file read through (``HistoryStore.verify``).
    """
    try:
        return run()
    except READ_ERRORS:
        if not sum(store.verify(kind) for kind in kinds):
            raise
    return run()


def edges_from_pairs(pairs: pl.DataFrame, snapshots: Sequence[Snapshot]) -> pl.DataFrame:
    """Resolve and deduplicate pre-aggregated pairs (see the module's counting rule)."""
    if pairs.height == 0:
        return pl.DataFrame(schema=EDGE_SCHEMA)
    intervals = address_intervals(snapshots)
    owners = eni_owners(snapshots)
    named = resolve(
        pairs.join(owners, on="interface_id", how="left"),
        intervals,
        address="srcaddr",
        at="window_start",
        service="pkt_src_aws_service",
        out="src",
    )
    named = resolve(
        named,
        intervals,
        address="dstaddr",
        at="window_start",
        service="pkt_dst_aws_service",
        out="dst",
    )
    logged = named.select("window_start", pl.col("owner").alias("src")).unique().drop_nulls()
    logged = logged.with_columns(pl.lit(True).alias("__src_logged"))
    named = named.join(logged, on=["window_start", "src"], how="left")
    keep = (
        (pl.col("owner") == pl.col("src")).fill_null(False)
        | pl.col("__src_logged").is_null()
        | ((pl.col("owner") != pl.col("dst")) & (pl.col("owner") != pl.col("src"))).fill_null(True)
    )
    return (
        named.filter(keep)
        .group_by("window_start", "src", "dst")
        .agg(
            total(pl.col("bytes")).alias("bytes"),
            total(pl.col("packets")).alias("packets"),
            total(pl.col("flows")).alias("flows"),
        )
        .select(list(EDGE_SCHEMA))
        .cast(EDGE_SCHEMA)  # type: ignore[arg-type]
        .sort("window_start", "src", "dst")
    )


def resource_series(store: HistoryStore, window: TimeWindow, bucket: timedelta) -> pl.DataFrame:
    """Per-node bytes/packets in and out per bucket, from the deduplicated edges."""
    return series_from_edges(edges(store, window, bucket))


def series_from_edges(e: pl.DataFrame) -> pl.DataFrame:
    """``resource_series`` from ``edges``' answer (SERIES_SCHEMA, sorted)."""
    out = e.group_by(pl.col("src").alias("resource"), "window_start").agg(
        total(pl.col("bytes")).alias("bytes_out"), total(pl.col("packets")).alias("packets_out")
    )
    into = e.group_by(pl.col("dst").alias("resource"), "window_start").agg(
        total(pl.col("bytes")).alias("bytes_in"), total(pl.col("packets")).alias("packets_in")
    )
    joined = out.join(into, on=["resource", "window_start"], how="full", coalesce=True)
    return (
        joined.with_columns(pl.col(c).fill_null(0) for c in ("bytes_in", "bytes_out"))
        .with_columns(pl.col(c).fill_null(0) for c in ("packets_in", "packets_out"))
        .select(list(SERIES_SCHEMA))
        .cast(SERIES_SCHEMA)  # type: ignore[arg-type]
        .sort("resource", "window_start")
    )


def metric_points(
    store: HistoryStore, window: TimeWindow, metrics: Sequence[str] | None
) -> pl.DataFrame:
    """``resource_id, metric, ts, value`` (plus ``stat``) in ``window``, duplicates removed."""

    def run() -> pl.DataFrame:
        frame = store.scan_metrics().filter(_window_filter(window, "ts"))
        if metrics is not None:
            frame = frame.filter(pl.col("metric").is_in([str(m) for m in metrics]))
        return (
            frame.select("resource_id", "metric", "ts", "value", "stat")
            .unique(subset=METRIC_KEYS, keep="last")
            .sort("resource_id", "metric", "ts")
            .collect()
        )

    return _despite_damage(store, ("metrics",), run)


def latest(store: HistoryStore, kind: str) -> datetime | None:
    """Newest stored time of table ``kind`` (``flows``: a record's start; ``metrics``: a point's
    time; ``requests``: a bucket's start; ``accesses``: a sampled access), UTC, or None when it
    is empty: where the collect step resumes. A damaged file is quarantined and the question
    asked again, as for every other query."""
    column = store.TABLES[kind][1]
    scan = {
        "flows": store.scan_flows,
        "pairs": store.scan_pairs,
        "metrics": store.scan_metrics,
        "requests": store.scan_requests,
        "accesses": store.scan_accesses,
    }[kind]

    def run() -> pl.DataFrame:
        return scan().select(pl.col(column).max()).collect()

    last = _despite_damage(store, (kind,), run).item()
    if last is None:
        return None
    return last if last.tzinfo else last.replace(tzinfo=UTC)
