"""Congestion avoided: Headroom's allocations against a reactive policy on the same demand.

The reactive peer is AWS target tracking (70 % target, three points over it to scale out,
fifteen under it to scale in, a provisioning delay), starting from the first interval's demand.
An interval is congested when demand exceeds the capacity in force.
"""

from __future__ import annotations

from dataclasses import dataclass

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
) -> list[float]:
    """Capacity a target-tracking policy has in force at each interval, as AWS target tracking
    works: scale out when the last ``out_points`` utilisations all exceed ``target`` (to the
    mean use over the target), scale in when the last ``in_points`` are all below it; a
    change takes effect ``delay`` intervals later (provisioning)."""
    if not 0 < target <= 1:
        raise ValueError(f"reactive target utilisation must be in (0, 1], got {target}")
    if not demand:
        return []
    current = max(demand[0] / target, 1e-9)
    pending: list[tuple[int, float]] = []
    cap: list[float] = []
    for t in range(len(demand)):
        while pending and pending[0][0] <= t:
            current = pending.pop(0)[1]
        cap.append(current)
        use = [d / current for d in demand[max(0, t - out_points + 1) : t + 1]]
        low = [d / current for d in demand[max(0, t - in_points + 1) : t + 1]]
        if pending:
            continue
        if len(use) == out_points and min(use) > target:
            pending.append((t + delay, current * (sum(use) / len(use)) / target))
        elif len(low) == in_points and max(low) < target:
            pending.append((t + delay, max(current * (sum(low) / len(low)) / target, 1e-9)))
    return cap


def compare_with_reactive(
    frame: pl.DataFrame, *, step_seconds: float = 300.0, target: float = 0.7, delay: int = 1
) -> CongestionComparison:
    """``frame`` has ``group_id, ts, demand_gbps, allocated_gbps`` (Headroom's allocation in
    force at ``ts``). Returns congested intervals, unmet demand and slack for both policies."""
    need = {"group_id", "ts", "demand_gbps", "allocated_gbps"}
    missing = need - set(frame.columns)
    if missing:
        raise ValueError(f"comparison frame lacks columns {sorted(missing)}")
    h_cong = r_cong = n = 0
    h_unmet = r_unmet = h_slack = r_slack = total = 0.0
    for part in frame.sort("ts").partition_by("group_id"):
        demand = part["demand_gbps"].to_list()
        ours = part["allocated_gbps"].to_list()
        theirs = reactive_capacity(demand, target=target, delay=delay)
        for d, a, r in zip(demand, ours, theirs, strict=True):
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
    )
