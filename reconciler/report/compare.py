"""Congestion avoided: Headroom's allocations against a reactive policy on the same demand.

The reactive peer is AWS target tracking (70 % target, three points over it to scale out,
fifteen under it to scale in, a provisioning delay), starting from the first interval's demand.
An interval is congested when demand exceeds the capacity in force.

To be fair the peer can be held to Headroom's terms: it decides only when a cycle runs
(``decide_at``, from the points completed by then), its change is in force from the same
interval Headroom's allocation is, and it is capped at the same per-group ceiling. Intervals in
a ``surprise`` window (a change no decision could have seen yet) are counted apart.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

__all__ = ["CongestionComparison", "compare_with_reactive", "reactive_capacity"]


@dataclass(frozen=True)
class CongestionComparison:
    intervals: int
    headroom_congested: int
    reactive_congested: int
    headroom_unmet_gb: float
    reactive_unmet_gb: float
    headroom_slack: float
    reactive_slack: float
    headroom_surprise: int = 0
    reactive_surprise: int = 0

    @property
    def avoided(self) -> int:
        return self.reactive_congested - self.headroom_congested


def reactive_capacity(
    demand: list[float],
    *,
    target: float = 0.7,
    out_points: int = 3,
    in_points: int = 15,
    delay: int = 1,
    decisions: Collection[int] | None = None,
    ceiling: float | None = None,
) -> list[float]:
    """Capacity a target-tracking policy has in force at each interval, as AWS target tracking
    works: scale out when the last ``out_points`` utilisations all exceed ``target`` (to the
    mean use over the target), scale in when the last ``in_points`` are all below it; a
    change takes effect ``delay`` intervals later (provisioning). A decision is taken after
    each interval, or only after the intervals in ``decisions``; capacity never passes
    ``ceiling``."""
    if not 0 < target <= 1:
        raise ValueError(f"reactive target utilisation must be in (0, 1], got {target}")
    if not demand:
        return []
    top = ceiling if ceiling is not None else float("inf")
    current = min(max(demand[0] / target, 1e-9), top)
    pending: list[tuple[int, float]] = []
    cap: list[float] = []
    for t in range(len(demand)):
        while pending and pending[0][0] <= t:
            current = pending.pop(0)[1]
        cap.append(current)
        use = [d / current for d in demand[max(0, t - out_points + 1) : t + 1]]
        low = [d / current for d in demand[max(0, t - in_points + 1) : t + 1]]
        if pending or (decisions is not None and t not in decisions):
            continue
        if len(use) == out_points and min(use) > target:
            pending.append((t + delay, min(current * (sum(use) / len(use)) / target, top)))
        elif len(low) == in_points and max(low) < target:
            pending.append((t + delay, max(current * (sum(low) / len(low)) / target, 1e-9)))
    return cap


def compare_with_reactive(
    frame: pl.DataFrame,
    *,
    step_seconds: float = 300.0,
    target: float = 0.7,
    delay: int = 1,
    decide_at: Sequence[datetime] | None = None,
    ceiling_gbps: float | None = None,
    surprise: tuple[datetime, datetime] | None = None,
) -> CongestionComparison:
    """``frame`` has ``group_id, ts, demand_gbps, allocated_gbps`` (Headroom's allocation in
    force at ``ts``). Returns congested intervals, unmet demand and slack for both policies.

    With ``decide_at`` (the cycle times) the reactive peer decides only then, from the
    intervals completed before each, and (``delay`` 1) its change is in force from the
    interval starting at the cycle, as Headroom's is. ``surprise`` is a ``[start, end)``
    window whose congested intervals are also counted apart."""
    need = {"group_id", "ts", "demand_gbps", "allocated_gbps"}
    missing = need - set(frame.columns)
    if missing:
        raise ValueError(f"comparison frame lacks columns {sorted(missing)}")
    h_cong = r_cong = n = 0
    h_unmet = r_unmet = h_slack = r_slack = total = 0.0
    h_sur = r_sur = 0
    step = timedelta(seconds=step_seconds)
    cycles = set(decide_at) if decide_at is not None else None
    for part in frame.sort("ts").partition_by("group_id"):
        demand = part["demand_gbps"].to_list()
        ours = part["allocated_gbps"].to_list()
        times = part["ts"].to_list()
        decisions = (
            None if cycles is None else {i for i, ts in enumerate(times) if ts + step in cycles}
        )
        theirs = reactive_capacity(
            demand, target=target, delay=delay, decisions=decisions, ceiling=ceiling_gbps
        )
        for ts, d, a, r in zip(times, demand, ours, theirs, strict=True):
            if surprise is not None and surprise[0] <= ts < surprise[1]:
                h_sur += d > a
                r_sur += d > r
            n += 1
            total += d
            h_cong += d > a
            r_cong += d > r
            h_unmet += max(0.0, d - a)
            r_unmet += max(0.0, d - r)
            h_slack += max(0.0, a - d)
            r_slack += max(0.0, r - d)
    gb = step_seconds / 8.0  # Gbps over an interval -> GB
    return CongestionComparison(
        intervals=n,
        headroom_congested=h_cong,
        reactive_congested=r_cong,
        headroom_unmet_gb=h_unmet * gb,
        reactive_unmet_gb=r_unmet * gb,
        headroom_slack=h_slack / total if total else 0.0,
        reactive_slack=r_slack / total if total else 0.0,
        headroom_surprise=h_sur,
        reactive_surprise=r_sur,
    )
