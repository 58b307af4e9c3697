"""Allocate step: per-group demand from forecast quantiles + policy -> hierarchical allocator.

Adapts ``reconciler.allocation``: each group's peak forecast over the *provisioning window*
(per quantile) is turned into a ``GroupDemand`` by the policy (class quantile, headroom,
guarantee, ceiling), and the allocator's result becomes the step view. ``corrected_result``
carries remediation's adjustments back into the allocator's own type, restated so pools and
ledgers agree with the groups, and the state store keeps one format.

The provisioning window (``provisioning_window``) runs from now to the next scheduled cycle
plus the longest lead time of the enabled actions: what is granted now must carry the demand
until a later cycle can change it and that change has taken effect. The forecast reaches
further (the policy's ``forecast.horizon``, a day by default); sizing now for the day's peak
would hold that peak all day. The forecast step's near-term model covers this window; its
look-ahead model's rows (hourly peaks beyond it) are never read here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl

from reconciler.allocation import AllocationResult, CutReason, allocate, demand_for
from reconciler.allocation.restate import restate
from reconciler.steps.types import Allocation, ForecastSet, GroupSet, PoolAllocation

__all__ = [
    "BANDWIDTH_METRIC",
    "corrected_result",
    "corrected_view",
    "in_window",
    "provisioning_window",
    "run_allocate",
    "view_of",
    "window_peaks",
]

#: The forecast metric the allocator divides: a group's total network traffic in Gbps.
BANDWIDTH_METRIC = "network_gbps"


def provisioning_window(policy: Any, now: datetime) -> timedelta:
    """From ``now`` to the policy's next scheduled cycle (its cron, in its time zone, strictly
    after ``now``), plus the longest ``lead_time`` of the enabled actions (a resize's)."""
    from policies.cron import crontab_trigger

    schedule = policy.schedule
    trigger = crontab_trigger(schedule.cron, timezone=schedule.timezone)
    after = now + timedelta(seconds=1)  # a cycle at its own fire time waits for the next one
    nxt = trigger.get_next_fire_time(None, after)
    if nxt is None:
        raise ValueError(f"schedule {schedule.cron!r} never fires after {now}")
    leads = [a.lead_time for a in policy.actions if a.enabled and hasattr(a, "lead_time")]
    return max(nxt - now, timedelta(0)) + max(leads, default=timedelta(0))


def in_window(frame: pl.DataFrame, until: datetime) -> pl.DataFrame:
    """Forecast rows at or before ``until``; a series with none there keeps its first step (a
    window shorter than one grid step still sizes on the nearest forecast)."""
    first = pl.col("ts").min().over("group_id", "metric")
    return frame.filter((pl.col("ts") <= until) | (pl.col("ts") == first))


def window_peaks(
    forecasts: ForecastSet, metric: str, until: datetime, quantile: str = "p90"
) -> dict[str, float]:
    """Highest forecast of ``quantile`` per group for ``metric`` over the window to ``until``,
    from the near-term model's rows only (never the look-ahead model's hourly peaks)."""
    rows = (
        in_window(forecasts.near_term().filter(pl.col("metric") == metric), until)
        .group_by("group_id")
        .agg(pl.col(quantile).max())
        .iter_rows()
    )
    return {str(g): float(v) for g, v in rows}


def view_of(result: AllocationResult, at: datetime) -> Allocation:
    return Allocation(
        at=at,
        groups={a.group_id: a.allocated_gbps for a in result.allocations},
        pools=tuple(
            PoolAllocation(p.name, p.parent, p.capacity_gbps, p.allocated_gbps)
            for p in result.pools
        ),
        pool_of_group={a.group_id: a.region for a in result.allocations},
        ledger={e.group_id: list(e.steps) for e in result.ledger},
        result=result,
        ceiling_of_group={
            a.group_id: a.ceiling_gbps for a in result.allocations if a.ceiling_gbps is not None
        },
    )


def run_allocate(
    policy: Any,
    groups: GroupSet,
    forecasts: ForecastSet,
    now: datetime,
    pins: dict[str, float] | None = None,
) -> Allocation:
    """Allocate the policy's pools among the groups that have a bandwidth forecast, each by
    its peak over the provisioning window (not the whole horizon), in its class.

    Groups in a region without a pool go to the allocator too: it grants them 0 and says why, so
    they are counted and explained rather than silently left out. ``pins`` (group id -> Gbps,
    the operators' bandwidth pins) are held every cycle (``reconciler.allocation.pins``).
    """
    from reconciler.allocation.pins import allocate_pinned

    until = now + provisioning_window(policy, now)
    peaks = {q: window_peaks(forecasts, BANDWIDTH_METRIC, until, q) for q in ("p50", "p90", "p99")}
    demands = []
    for g in groups.groups:
        if g.id not in peaks["p50"]:
            continue
        quantiles = {q: peaks[q][g.id] for q in peaks}
        cls = g.group_class if g.group_class in policy.group_classes else None
        demands.append(demand_for(policy, g.id, g.region, quantiles, cls))
    if pins:
        return view_of(allocate_pinned(policy.pools, demands, pins), now)
    return view_of(allocate(policy.pools, demands), now)


def corrected_result(view: Allocation) -> AllocationResult | None:
    """The allocator's result restated with ``view``'s group grants (after remediation): cuts,
    ledgers and every pool re-derived by ``reconciler.allocation.restate``, so the pools are the
    sums of their groups and each ledger ends on its grant. None for a view without one."""
    raw = view.result
    if not isinstance(raw, AllocationResult):
        return None
    return restate(raw, view.groups, CutReason.REMEDIATION)


def corrected_view(view: Allocation) -> Allocation:
    """``view`` with its pools and ledgers restated from its group grants (``corrected_result``);
    a view without the allocator's result is returned as it is."""
    result = corrected_result(view)
    return view if result is None else view_of(result, view.at)
