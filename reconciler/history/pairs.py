"""Traffic aggregated per 5-minute bucket at ingest, so edge queries need not re-scan records.

``write_flows`` stores, next to each flow file, the same records summed per (5-minute bucket
of ``start``, logging ENI, address pair, ``pkt-*-aws-service`` names): exactly the grouping
``query.pair_totals`` makes, before any address is resolved. Sums of these sums are the
sums of the records, so any bucket that is a whole number of 5-minute buckets, over a window
whose ends fall on 5-minute marks, is answered from them with the same result.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from providers.models import TimeWindow

__all__ = [
    "PAIR_BUCKET",
    "PAIR_KEYS",
    "PAIR_SCHEMA",
    "pair_frame",
    "pairs_answer",
    "total",
    "traffic",
]

#: The bucket pair aggregates are stored at.
PAIR_BUCKET = timedelta(minutes=5)
PAIR_KEYS = (
    "interface_id",
    "srcaddr",
    "dstaddr",
    "pkt_src_aws_service",
    "pkt_dst_aws_service",
)
PAIR_SCHEMA: dict[str, pl.DataType] = {
    "window_start": pl.Datetime("us", "UTC"),
    **{k: pl.String() for k in PAIR_KEYS},
    "bytes": pl.Int64(),
    "packets": pl.Int64(),
    "flows": pl.Int64(),
}


#: Totals saturate here instead of wrapping around to negative traffic.
INT64_MAX = 2**63 - 1


def total(values: pl.Expr) -> pl.Expr:
    """The sum of ``values`` as Int64, summed in 128 bits and capped at ``INT64_MAX``."""
    return values.cast(pl.Int128).sum().clip(upper_bound=INT64_MAX).cast(pl.Int64)


def traffic(action: pl.Expr, log_status: pl.Expr) -> pl.Expr:
    """Records that carry traffic: ``log_status`` OK and ``action`` ACCEPT or absent."""
    return (log_status == "OK") & (action.is_null() | (action == "ACCEPT"))


def _col(frame: pl.DataFrame, name: str, dtype: pl.DataType | None = None) -> pl.Expr:
    """A column of ``frame``, or nulls when a narrow (format-lacks-it) frame has none."""
    if name in frame.columns:
        return pl.col(name)
    return pl.lit(None, dtype=dtype or pl.String()).alias(name)


def _sum(records: pl.DataFrame, name: str) -> pl.Expr:
    """``total`` of column ``name``: summed in plain Int64 when no group's sum can overflow
    (a group sums at most ``height`` values no larger than the column's largest magnitude),
    which is the usual case and half the work of summing in 128 bits."""
    if name not in records.columns:
        return total(pl.lit(None, dtype=pl.Int64()))
    column = records.get_column(name)
    low, high = column.min(), column.max()
    if (
        isinstance(low, int)
        and isinstance(high, int)
        and records.height * max(-low, high) <= INT64_MAX
    ):
        return pl.col(name).sum().cast(pl.Int64)
    return total(pl.col(name))


def pair_frame(records: pl.DataFrame) -> pl.DataFrame:
    """``records`` (FLOW_SCHEMA, possibly without all-null columns) summed into PAIR_SCHEMA."""
    if records.height == 0:
        return pl.DataFrame(schema=PAIR_SCHEMA)
    keep = traffic(_col(records, "action"), _col(records, "log_status"))
    seconds = int(PAIR_BUCKET.total_seconds())
    return (
        records.lazy()
        .filter(keep)
        .group_by(
            pl.col("start").dt.truncate(f"{seconds}s").alias("window_start"),
            *(_col(records, k) for k in PAIR_KEYS),
        )
        .agg(
            _sum(records, "bytes").alias("bytes"),
            _sum(records, "packets").alias("packets"),
            pl.len().cast(pl.Int64).alias("flows"),
        )
        .select(list(PAIR_SCHEMA))
        .cast(PAIR_SCHEMA)  # type: ignore[arg-type]
        .collect()
    )


def pairs_answer(window: TimeWindow, bucket: timedelta) -> bool:
    """Whether stored 5-minute aggregates give the exact answer for this window and bucket."""
    step = PAIR_BUCKET.total_seconds()
    whole = bucket.total_seconds() % step == 0
    aligned = all(t.timestamp() % step == 0 for t in (window.start, window.end))
    return whole and aligned
