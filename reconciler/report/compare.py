"""Congestion avoided: Headroom's allocations against a reactive policy on the same demand.

The reactive peer is what target tracking does: after each interval it sets capacity to the
demand it just saw divided by the target utilisation, applied ``lag`` intervals later (the
provisioning delay), never below a floor. An interval is congested when demand exceeds the
capacity in force.
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
    demand: list[float], *, target: float = 0.7, lag: int = 1, floor: float = 0.0
) -> list[float]:
    """Capacity a reactive target-tracking policy would have in force at each interval."""
    if not 0 < target <= 1:
        raise ValueError(f"reactive target utilisation must be in (0, 1], got {target}")
    cap: list[float] = []
    for i in range(len(demand)):
        seen = i - lag
        cap.append(max(floor, demand[seen] / target) if seen >= 0 else max(floor, demand[0]))
    return cap


def compare_with_reactive(
    frame: pl.DataFrame, *, step_seconds: float = 300.0, target: float = 0.7, lag: int = 1
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
        theirs = reactive_capacity(demand, target=target, lag=lag)
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
