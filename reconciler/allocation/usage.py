"""Measured use next to the allocation: what each group and member actually carried.

The measured side comes from the same demand series the forecast step builds (per member and per
group, Gbps on the forecast grid). A cycle measures the *latest complete grid step* (the newest
step whose end is at or before now: a step still filling would read low). From it:

* a group's ``used_gbps`` is its demand at that step (0 when it had none there);
* a pool's ``used_gbps`` is the sum over its groups (the global pool: over its regions);
* utilisation is ``used / allocated``;
* a member's ``current traffic`` is its own Gbps at that step, and its *allocated share* is the
  group's allocation split by the members' measured shares (evenly when nothing was measured).

A group's traffic pattern summarises its complete steps over the forecast's lookback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl
from pydantic import BaseModel, ConfigDict

from reconciler.allocation.models import AllocationResult

__all__ = [
    "Measured",
    "TrafficPattern",
    "measure",
    "member_split",
    "pool_use",
    "traffic_pattern",
    "utilisation",
]


class TrafficPattern(BaseModel):
    """A group's measured bandwidth over the lookback (Gbps; hours in UTC)."""

    model_config = ConfigDict(frozen=True)

    points: int
    since: datetime
    until: datetime
    latest_gbps: float
    mean_gbps: float
    p50_gbps: float
    p95_gbps: float
    peak_gbps: float
    peak_at: datetime
    peak_to_mean: float | None
    busiest_hour_utc: int
    quietest_hour_utc: int
    hourly_mean_gbps: list[float | None]


@dataclass(frozen=True)
class Measured:
    """What one cycle measured at ``at`` (the start of the latest complete step of ``step``)."""

    at: datetime | None
    step: timedelta
    groups: dict[str, float] = field(default_factory=dict)
    members: dict[str, dict[str, float]] = field(default_factory=dict)
    patterns: dict[str, TrafficPattern] = field(default_factory=dict)


def _complete(frame: pl.DataFrame, step: timedelta, now: datetime) -> pl.DataFrame:
    return frame.filter(pl.col("ts") + step <= now)


def measure(
    demand: pl.DataFrame,
    resource_gbps: pl.DataFrame | None,
    members: Mapping[str, Sequence[str]],
    step: timedelta,
    now: datetime,
) -> Measured:
    """Per group (``demand``: ``series_id, ts, y``) and member (``resource_gbps``:
    ``resource_id, ts, gbps``) Gbps at the latest complete step of ``step`` before ``now``.
    Groups with no demand series at all are left out (not measured, not 0)."""
    done = _complete(demand, step, now)
    if done.height == 0:
        return Measured(None, step)
    at: datetime = done["ts"].max()  # type: ignore[assignment]
    latest = done.filter(pl.col("ts") == at).select("series_id", "y")
    at_step = {str(g): float(y) for g, y in latest.iter_rows()}
    seen = {str(g) for g in done["series_id"].unique().to_list()}
    groups = {g: at_step.get(g, 0.0) for g in sorted(seen)}
    per_member: dict[str, float] = {}
    if resource_gbps is not None and resource_gbps.height:
        now_rows = resource_gbps.filter(pl.col("ts") == at)
        for rid, gbps in now_rows.group_by("resource_id").agg(pl.col("gbps").sum()).iter_rows():
            per_member[str(rid)] = float(gbps)
    member_used = (
        {g: {m: per_member.get(m, 0.0) for m in members.get(g, ())} for g in groups}
        if per_member
        else {}
    )
    patterns: dict[str, TrafficPattern] = {}
    for part in done.sort("ts").partition_by("series_id"):
        gid = str(part["series_id"][0])
        series = [(t, float(y)) for t, y in part.select("ts", "y").iter_rows()]
        found = traffic_pattern(series)
        if found is not None:
            patterns[gid] = found
    return Measured(at, step, groups, member_used, patterns)


def traffic_pattern(series: Sequence[tuple[datetime, float]]) -> TrafficPattern | None:
    """Summary of ``(ts, gbps)`` points, oldest first (None for no points)."""
    if not series:
        return None
    values = sorted(v for _, v in series)
    n = len(values)
    mean = sum(values) / n
    peak_at, peak = max(series, key=lambda p: p[1])
    hours: dict[int, list[float]] = {}
    for ts, v in series:
        hours.setdefault(ts.hour, []).append(v)
    hourly: list[float | None] = [
        sum(hours[h]) / len(hours[h]) if h in hours else None for h in range(24)
    ]
    seen = {h: v for h, v in enumerate(hourly) if v is not None}
    return TrafficPattern(
        points=n,
        since=series[0][0],
        until=series[-1][0],
        latest_gbps=series[-1][1],
        mean_gbps=mean,
        p50_gbps=values[min(n - 1, int(0.5 * n))],
        p95_gbps=values[min(n - 1, int(0.95 * n))],
        peak_gbps=peak,
        peak_at=peak_at,
        peak_to_mean=peak / mean if mean > 0 else None,
        busiest_hour_utc=max(seen, key=lambda h: seen[h]),
        quietest_hour_utc=min(seen, key=lambda h: seen[h]),
        hourly_mean_gbps=hourly,
    )


def pool_use(result: AllocationResult, used: Mapping[str, float]) -> dict[str, float]:
    """Measured Gbps per pool: a region's groups summed, the global pool its regions summed.
    Empty when nothing was measured."""
    if not used:
        return {}
    regions = {p.name: 0.0 for p in result.pools if p.parent is not None}
    for a in result.allocations:
        if a.region in regions:
            regions[a.region] += used.get(a.group_id, 0.0)
    out = dict(regions)
    for p in result.pools:
        if p.parent is None:
            out[p.name] = sum(regions.values())
    return out


def member_split(
    allocated: float, member_used: Mapping[str, float], members: Sequence[str]
) -> dict[str, float]:
    """The group's ``allocated`` Gbps split over ``members`` by their measured share (evenly
    when none was measured); the parts sum to ``allocated``."""
    if not members:
        return {}
    used = {m: max(0.0, member_used.get(m, 0.0)) for m in members}
    total = sum(used.values())
    if total <= 0:
        return {m: allocated / len(members) for m in members}
    return {m: allocated * u / total for m, u in used.items()}


def utilisation(used: float | None, allocated: float | None) -> float | None:
    """``used / allocated``; None when use was not measured or nothing is allocated."""
    if used is None or allocated is None or allocated <= 0:
        return None
    return used / allocated
