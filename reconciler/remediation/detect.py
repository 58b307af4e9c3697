"""Congestion detection from recent metrics: three independent signals per group.

- utilisation: demand / allocation above a threshold for the last N points in a row;
- allowance exceeded: the ENA ``bw_*_allowance_exceeded`` / ``pps_allowance_exceeded`` counts
  (per period, CloudWatch ``Sum``) adding up over the last N points: the instance itself
  dropped or queued packets;
- above forecast: actual demand above the forecast's upper quantile in at least M of the last N.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.remediation.types import (
    Congestion,
    GroupObservation,
    RemediationConfig,
    Signal,
)

__all__ = ["counter_increase", "detect", "detect_all"]


def counter_increase(values: Iterable[float]) -> float:
    """Total rise of a cumulative counter (raw ethtool values); a drop is a reset and counts
    the new value. Per-period counts (CloudWatch ``Sum``) are simply summed instead."""
    total = 0.0
    prev: float | None = None
    for v in values:
        if prev is not None:
            total += v - prev if v >= prev else v
        prev = v
    return total


def detect(
    obs: GroupObservation, allocated_gbps: float, cfg: RemediationConfig
) -> list[Congestion]:
    """Every signal that fires for one group, each with its evidence and the shortfall."""
    n = cfg.points
    recent = obs.demand_gbps[-n:]
    found: list[Congestion] = []
    if not recent:
        return found
    peak = max(recent)
    target = peak * (1 + cfg.borrow_margin)
    shortfall = max(0.0, target - allocated_gbps)

    if len(recent) >= n:
        if allocated_gbps <= 0:
            if min(recent) > 0:
                found.append(
                    Congestion(
                        obs.group_id,
                        Signal.UTILISATION,
                        f"demand {min(recent):.3f}-{peak:.3f} Gbps with no allocation",
                        shortfall,
                    )
                )
        else:
            use = [d / allocated_gbps for d in recent]
            if min(use) > cfg.utilisation_threshold:
                found.append(
                    Congestion(
                        obs.group_id,
                        Signal.UTILISATION,
                        f"utilisation {min(use):.0%}-{max(use):.0%} of {allocated_gbps:.3f} Gbps "
                        f"for the last {n} points (threshold {cfg.utilisation_threshold:.0%})",
                        shortfall,
                    )
                )

    counts = obs.allowance_exceeded[-n:]
    if counts:
        rise = sum(max(0.0, c) for c in counts)
        if rise >= cfg.allowance_min_increase and rise > 0:
            found.append(
                Congestion(
                    obs.group_id,
                    Signal.ALLOWANCE_EXCEEDED,
                    f"ENA allowance-exceeded counters rose by {rise:.0f} over the last "
                    f"{len(counts)} points",
                    shortfall,
                )
            )

    uppers = obs.forecast_upper_gbps[-n:]
    if uppers:
        pairs = [(d, u) for d, u in zip(recent, uppers, strict=False) if u is not None]
        above = [(d, u) for d, u in pairs if d > u]
        if len(above) >= cfg.above_forecast_points:
            worst = max(d - u for d, u in above)
            found.append(
                Congestion(
                    obs.group_id,
                    Signal.ABOVE_FORECAST,
                    f"actual above the forecast's upper quantile in {len(above)} of the last "
                    f"{len(pairs)} points (by up to {worst:.3f} Gbps)",
                    shortfall,
                )
            )
    return found


def detect_all(
    observations: Iterable[GroupObservation],
    allocation: dict[str, float],
    cfg: RemediationConfig,
) -> list[Congestion]:
    """``detect`` over every observed group; a group with no allocation counts as 0 Gbps."""
    out: list[Congestion] = []
    for obs in observations:
        out.extend(detect(obs, allocation.get(obs.group_id, 0.0), cfg))
    return out
