"""User groups' demand series, measured latency per region pair, and who serves each group.

A request behind CloudFront is logged twice: at the edge (client region = the edge's region,
serving region = the origin's) and at the origin ALB (client and serving region = the ALB's).
``one_tier`` keeps each request once: a user's origin rows are dropped for a serving region
where the same user has edge rows (or everywhere, when the user's edge rows do not say which
origin served them). Matching on the serving region rather than the client region is what
catches the usual case, an edge in one region fetching from an origin in another; a user's
direct traffic to an origin no distribution fronts is still counted.

- ``user_demand``: the forecaster's long frame (``group_id, metric, ts, y``), one series per
  user group and client region (``user_series_id``), metrics ``UserMetric``. Missing steps are
  0 for requests and bytes (no request is a measured 0) and absent for latency (no request, no
  latency). A row without a client region counts in its serving region.
- ``latency_matrix``: median latency (ms) per (client region, serving region) from the merged
  histograms, edge rows where the pair has any, else origin rows.
- ``group_shares``: per user group, the share of its origin requests each resource served.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from providers.models import RequestLogKind
from reconciler.users.models import LATENCY_EDGES_MS, UserGroup, UserMetric, user_series_id

__all__ = [
    "DEMAND_SCHEMA",
    "group_members",
    "group_shares",
    "histogram_quantile",
    "latency_matrix",
    "one_tier",
    "user_demand",
]

_TS = pl.Datetime("us", "UTC")
#: The forecaster's long format (``forecasting.demand`` group frames).
DEMAND_SCHEMA: dict[str, pl.DataType] = {
    "group_id": pl.String(),
    "metric": pl.String(),
    "ts": _TS,
    "y": pl.Float64(),
}
_BUCKET_S = 300
_EDGE = pl.col("log_kind") == str(RequestLogKind.CLOUDFRONT)
_ORIGIN = pl.col("log_kind") == str(RequestLogKind.ALB)


def one_tier(requests: pl.DataFrame) -> pl.DataFrame:
    """``requests`` with each request counted at one tier (see the module)."""
    edges = requests.filter(_EDGE)
    others = requests.filter(~_EDGE)
    if edges.height == 0 or others.height == 0:
        return requests
    fronted = edges.select("user", "serving_region").unique().drop_nulls()
    blind = edges.filter(pl.col("serving_region").is_null()).select("user").unique()
    others = others.join(fronted, on=["user", "serving_region"], how="anti")
    others = others.join(blind, on="user", how="anti")
    return pl.concat([edges, others], how="vertical_relaxed")


def group_members(groups: Sequence[UserGroup]) -> pl.DataFrame:
    """``user, group_id``: each user in the first group that lists it."""
    seen: dict[str, str] = {}
    for g in groups:
        for u in g.users:
            seen.setdefault(u, g.id)
    return pl.DataFrame(
        {"user": list(seen), "group_id": list(seen.values())},
        schema={"user": pl.String, "group_id": pl.String},
    )


def user_demand(
    requests: pl.DataFrame, groups: Sequence[UserGroup], step: timedelta
) -> pl.DataFrame:
    """Per user group and client region: requests/s, response Gbps and request-weighted mean
    latency (ms) per ``step`` (a multiple of the 5-minute buckets), ``DEMAND_SCHEMA``."""
    seconds = int(step.total_seconds())
    if seconds <= 0 or seconds % _BUCKET_S:
        raise ValueError(f"user demand step must be a multiple of 5 minutes, got {step}")
    rows = one_tier(requests).join(group_members(groups), on="user", how="inner")
    region = pl.coalesce("client_region", "serving_region")
    rows = rows.filter(region.is_not_null())
    if rows.height == 0:
        return pl.DataFrame(schema=DEMAND_SCHEMA)
    sums = rows.group_by(
        "group_id",
        region.alias("region"),
        pl.col("ts").cast(_TS).dt.truncate(f"{seconds}s").alias("ts"),
    ).agg(
        pl.col("requests").sum(),
        pl.col("bytes_out").sum(),
        pl.col("latency_sum_ms").sum(),
        pl.col("latency_count").sum(),
    )
    keys = sums.select("group_id", "region").unique()
    names = [user_series_id(g, r) for g, r in keys.iter_rows()]
    sums = sums.join(
        keys.with_columns(pl.Series("series", names, pl.String)), on=["group_id", "region"]
    )
    first, last = sums.get_column("ts").min(), sums.get_column("ts").max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    grid = pl.datetime_range(first, last, interval=f"{seconds}s", eager=True, time_zone="UTC")
    full = (
        sums.select("series")
        .unique()
        .join(pl.DataFrame({"ts": grid.cast(_TS)}), how="cross")
        .join(sums.drop("group_id", "region"), on=["series", "ts"], how="left")
        .with_columns(pl.col("requests", "bytes_out").fill_null(0))
    )
    latency = pl.col("latency_sum_ms") / pl.col("latency_count")
    parts = [
        full.select("series", "ts", pl.lit(str(UserMetric.REQUESTS_PER_S)).alias("metric"),
                    (pl.col("requests") / seconds).alias("y")),
        full.select("series", "ts", pl.lit(str(UserMetric.BYTES_OUT_GBPS)).alias("metric"),
                    (pl.col("bytes_out") * 8 / seconds / 1e9).alias("y")),
        full.filter(pl.col("latency_count") > 0).select(
            "series", "ts", pl.lit(str(UserMetric.LATENCY_MS)).alias("metric"), latency.alias("y")
        ),
    ]  # fmt: skip
    return (
        pl.concat(parts)
        .select(pl.col("series").alias("group_id"), "metric", "ts", "y")
        .cast(DEMAND_SCHEMA)  # type: ignore[arg-type]
        .sort("group_id", "metric", "ts")
    )


def histogram_quantile(counts: Sequence[int] | np.ndarray, q: float) -> float | None:
    """The ``q`` quantile (ms) of a ``LATENCY_EDGES_MS`` histogram, linear within its bucket
    (0 below the first edge; the open bucket answers its lower edge). None when empty."""
    hist = np.asarray(counts, dtype=np.float64)
    total = float(hist.sum())
    if total <= 0:
        return None
    cum = np.cumsum(hist)
    target = q * total
    i = int(np.searchsorted(cum, target, side="left"))
    edges = LATENCY_EDGES_MS
    if i >= len(edges):
        return float(edges[-1])
    lower = float(edges[i - 1]) if i > 0 else 0.0
    before = float(cum[i - 1]) if i > 0 else 0.0
    inside = float(hist[i])
    fraction = (target - before) / inside if inside > 0 else 1.0
    return lower + (float(edges[i]) - lower) * fraction


def latency_matrix(requests: pl.DataFrame) -> dict[tuple[str, str], float]:
    """Median latency (ms) per (client region, serving region) with any measured latency."""
    pair = ("client_region", "serving_region")
    rows = requests.filter(pl.col("client_region").is_not_null())
    rows = rows.filter(pl.col("serving_region").is_not_null() & (pl.col("latency_count") > 0))
    if rows.height == 0:
        return {}
    edge_pairs = rows.filter(_EDGE).select(pair).unique()
    rows = pl.concat(
        [rows.filter(_EDGE), rows.filter(~_EDGE).join(edge_pairs, on=list(pair), how="anti")]
    )
    keys = rows.select(pl.struct(*pair).rank("dense").cast(pl.Int64) - 1).to_series().to_numpy()
    width = len(LATENCY_EDGES_MS) + 1
    hists = rows.get_column("latency_hist").list.to_array(width).to_numpy()
    merged = np.zeros((int(keys.max()) + 1, width))
    np.add.at(merged, keys, hists)
    names = rows.select(*pair).with_columns(pl.Series("k", keys)).unique("k").sort("k")
    out: dict[tuple[str, str], float] = {}
    for client, serving, k in names.iter_rows():
        median = histogram_quantile(merged[k], 0.5)
        if median is not None:
            out[(client, serving)] = median
    return out


def group_shares(
    requests: pl.DataFrame, groups: Sequence[UserGroup]
) -> dict[str, dict[str, float]]:
    """Per user group id: resource id -> share of the group's origin (ALB) requests it served
    (resolved targets only; a group with none is absent)."""
    rows = requests.filter(_ORIGIN & pl.col("resource_id").is_not_null())
    rows = rows.join(group_members(groups), on="user", how="inner")
    if rows.height == 0:
        return {}
    served = (
        rows.group_by("group_id", "resource_id")
        .agg(pl.col("requests").sum())
        .with_columns(
            (pl.col("requests") / pl.col("requests").sum().over("group_id")).alias("share")
        )
        .sort("group_id", "resource_id")
    )
    out: dict[str, dict[str, float]] = {}
    for gid, rid, share in served.select("group_id", "resource_id", "share").iter_rows():
        out.setdefault(gid, {})[rid] = float(share)
    return out
