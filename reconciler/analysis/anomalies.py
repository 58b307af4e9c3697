"""Anomalies on group traffic and group membership, scored for remediation to consume.

Traffic: a robust seasonal residual test. For each group the expected value of a window is the
median of the group's history at the same time of day (``anomaly_slot`` wide); the residuals of
the history give a robust scale (1.4826 * MAD); a window whose residual is more than
``anomaly_zscore`` scales away is an anomaly. A slot with too little history falls back to the
group's overall median, and says so. Windows in the evaluation period where a group had no
traffic at all count as zero (a group going silent is an anomaly too).
Resources: the same test on each inventory resource's own traffic (bytes sent plus received per
window), the newest window left out (flow logs arrive minutes late: it is still filling); each
event names the resource and the group it was in (``resource_anomalies``).
Membership: the share of a group's resources that changed between two cycles.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Literal

import polars as pl
from pydantic import BaseModel

from reconciler.analysis.config import AnalysisConfig

__all__ = [
    "AnomalyEvent",
    "group_traffic",
    "membership_anomalies",
    "resource_anomalies",
    "traffic_anomalies",
]


class AnomalyEvent(BaseModel):
    """One anomaly. ``resource_id`` is set for a resource's own traffic; ``group_id`` is then the
    group it was in (None when it was in none), else the group the event is about."""

    kind: Literal["traffic_high", "traffic_low", "membership"]
    group_id: str | None
    at: datetime
    score: float
    value: float
    expected: float
    reason: str
    resource_id: str | None = None


def group_traffic(edges: pl.DataFrame, membership: Mapping[str, str]) -> pl.DataFrame:
    """Bytes per ``group_id`` and ``window_start`` sent or received by the group's resources.

    Traffic between two members counts once; resources without a group are left out.
    """
    memb = pl.DataFrame(
        {"node": list(membership), "group_id": list(membership.values())},
        schema={"node": pl.String, "group_id": pl.String},
    )
    e = (
        edges.select("window_start", "src", "dst", pl.col("bytes").cast(pl.Float64))
        .join(memb.rename({"node": "src", "group_id": "gs"}), on="src", how="left")
        .join(memb.rename({"node": "dst", "group_id": "gd"}), on="dst", how="left")
    )
    sides = pl.concat(
        [
            e.filter(pl.col("gs").is_not_null()).select(
                "window_start", pl.col("gs").alias("group_id"), "bytes"
            ),
            e.filter(
                pl.col("gd").is_not_null() & (pl.col("gd") != pl.col("gs").fill_null(""))
            ).select("window_start", pl.col("gd").alias("group_id"), "bytes"),
        ]
    )
    return (
        sides.group_by("group_id", "window_start")
        .agg(pl.col("bytes").sum())
        .sort("group_id", "window_start")
    )


def traffic_anomalies(
    series: pl.DataFrame, *, since: datetime, config: AnalysisConfig
) -> list[AnomalyEvent]:
    """Score windows at or after ``since`` against the history before it (chronological)."""
    missing = {"group_id", "window_start", "bytes"} - set(series.columns)
    if missing:
        raise ValueError(f"traffic series is missing column(s) {sorted(missing)}")
    if series.height == 0:
        return []
    slot_s = int(config.anomaly_slot.total_seconds())
    ws = pl.col("window_start")
    tod = ws.dt.hour().cast(pl.Int64) * 3600 + ws.dt.minute() * 60 + ws.dt.second()
    frame = series.with_columns((tod // slot_s).alias("slot"), pl.col("bytes").cast(pl.Float64))
    hist = frame.filter(ws < pl.lit(since))
    windows = frame.filter(ws >= pl.lit(since)).select("window_start", "slot").unique()
    groups = hist.select("group_id").unique()
    # every evaluation window for every group with history: absent traffic is zero traffic
    grid = groups.join(windows, how="cross")
    now = grid.join(
        frame.filter(ws >= pl.lit(since)).select("group_id", "window_start", "bytes"),
        on=["group_id", "window_start"],
        how="left",
    ).with_columns(pl.col("bytes").fill_null(0.0))
    by_slot = hist.group_by("group_id", "slot").agg(
        pl.col("bytes").median().alias("slot_median"), pl.len().alias("slot_points")
    )
    overall = hist.group_by("group_id").agg(pl.col("bytes").median().alias("overall_median"))

    def expected(frame: pl.DataFrame) -> pl.DataFrame:
        enough = pl.col("slot_points").fill_null(0) >= config.anomaly_min_points
        return (
            frame.join(by_slot, on=["group_id", "slot"], how="left")
            .join(overall, on="group_id", how="left")
            .with_columns(
                pl.when(enough)
                .then(pl.col("slot_median"))
                .otherwise(pl.col("overall_median"))
                .alias("expected"),
                enough.alias("seasonal"),
            )
        )

    resid = expected(hist).with_columns((pl.col("bytes") - pl.col("expected")).alias("r"))
    scale = resid.group_by("group_id").agg(
        ((pl.col("r") - pl.col("r").median()).abs().median() * 1.4826).alias("scale")
    )
    scored = (
        expected(now)
        .join(scale, on="group_id", how="left")
        .with_columns(
            pl.max_horizontal(pl.col("scale"), pl.col("expected").abs() * 0.05, pl.lit(1.0)).alias(
                "scale"
            )
        )
        .with_columns(((pl.col("bytes") - pl.col("expected")) / pl.col("scale")).alias("score"))
        .filter(pl.col("score").abs() >= config.anomaly_zscore)
        .sort("group_id", "window_start")
    )
    events: list[AnomalyEvent] = []
    for gid, at, value, exp, score, seasonal in scored.select(
        "group_id", "window_start", "bytes", "expected", "score", "seasonal"
    ).iter_rows():
        basis = "same time of day" if seasonal else "overall median (too little seasonal history)"
        events.append(
            AnomalyEvent(
                kind="traffic_high" if score > 0 else "traffic_low",
                group_id=gid,
                at=at,
                score=float(score),
                value=float(value),
                expected=float(exp),
                reason=(
                    f"{value:,.0f} bytes vs {exp:,.0f} expected from the {basis}: "
                    f"robust z {score:+.1f} (threshold {config.anomaly_zscore})"
                ),
            )
        )
    return events


def resource_anomalies(
    edges: pl.DataFrame,
    resources: Collection[str],
    *,
    now: datetime,
    config: AnalysisConfig,
    group_of: Mapping[str, str] | None = None,
) -> list[AnomalyEvent]:
    """Each of ``resources``' traffic in ``edges`` (``window_start, src, dst, bytes``) over the
    last ``anomaly_recent`` before ``now``, scored against its history before that.

    The newest window in ``edges`` is left out: flow logs are delivered minutes late, so it is
    still filling and would read as every resource going quiet; it is scored next cycle.
    One event per resource and direction: its strongest window, the reason counting the others.
    ``group_of`` (resource -> group id, e.g. the previous cycle's groups) names the group."""
    if edges.height == 0 or not resources:
        return []
    newest = edges["window_start"].max()
    complete = edges.filter(pl.col("window_start") < newest)
    series = group_traffic(complete, {r: r for r in resources})
    events = traffic_anomalies(series, since=now - config.anomaly_recent, config=config)
    groups = group_of or {}
    by_resource: dict[tuple[str, str], list[AnomalyEvent]] = {}
    for e in events:
        by_resource.setdefault((str(e.group_id), e.kind), []).append(e)
    out = []
    for (rid, _kind), found in sorted(by_resource.items()):
        top = max(found, key=lambda e: abs(e.score))
        group = groups.get(rid)
        where = f" (group {group})" if group else ""
        also = f"; {len(found)} windows since {found[0].at:%H:%M}" if len(found) > 1 else ""
        reason = f"resource {rid}{where}: {top.reason}{also}"
        out.append(top.model_copy(update={"resource_id": rid, "group_id": group, "reason": reason}))
    return out


def membership_anomalies(
    previous: Mapping[str, Collection[str]],
    current: Mapping[str, Collection[str]],
    *,
    at: datetime,
    config: AnalysisConfig,
) -> list[AnomalyEvent]:
    """Groups present in both cycles whose membership changed by at least the configured share."""
    events: list[AnomalyEvent] = []
    for gid in sorted(set(previous) & set(current)):
        old, new = set(previous[gid]), set(current[gid])
        union = old | new
        if not union:
            continue
        changed = len(old ^ new) / len(union)
        if changed >= config.membership_change_share:
            events.append(
                AnomalyEvent(
                    kind="membership",
                    group_id=gid,
                    at=at,
                    score=changed,
                    value=float(len(new)),
                    expected=float(len(old)),
                    reason=(
                        f"{changed:.0%} of its resources changed ({len(new - old)} joined, "
                        f"{len(old - new)} left; threshold {config.membership_change_share:.0%})"
                    ),
                )
            )
    return events
