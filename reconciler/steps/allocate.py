"""Allocate step: per-group demand from forecast quantiles + policy -> hierarchical allocator.

Adapts ``reconciler.allocation``: each group's peak forecast over the horizon (per quantile) is
turned into a ``GroupDemand`` by the policy (class quantile, headroom, guarantee, ceiling), and
the allocator's result becomes the step view. ``corrected_result`` carries remediation's
adjustments back into the allocator's own type so the state store keeps one format.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reconciler.allocation import AllocationResult, CutReason, allocate, demand_for
from reconciler.allocation.ledger import adjusted_cut, reason_text
from reconciler.steps.types import Allocation, ForecastSet, GroupSet, PoolAllocation

__all__ = ["BANDWIDTH_METRIC", "corrected_result", "run_allocate", "view_of"]

#: The forecast metric the allocator divides: a group's total network traffic in Gbps.
BANDWIDTH_METRIC = "network_gbps"


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
        raw=result,
    )


def run_allocate(
    policy: Any, groups: GroupSet, forecasts: ForecastSet, now: datetime
) -> Allocation:
    """Allocate the policy's pools among the groups that have a bandwidth forecast.

    Groups in a region without a pool go to the allocator too: it grants them 0 and says why, so
    they are counted and explained rather than silently left out.
    """
    peaks = {q: forecasts.peak(BANDWIDTH_METRIC, q) for q in ("p50", "p90", "p99")}
    demands = []
    for g in groups.groups:
        if g.id not in peaks["p50"]:
            continue
        quantiles = {q: peaks[q][g.id] for q in peaks}
        cls = g.group_class if g.group_class in policy.group_classes else None
        demands.append(demand_for(policy, g.id, g.region, quantiles, cls))
    return view_of(allocate(policy.pools, demands), now)


def corrected_result(view: Allocation) -> AllocationResult | None:
    """The allocator's result with ``view``'s group and pool figures (after remediation)."""
    raw = view.raw
    if not isinstance(raw, AllocationResult):
        return None
    allocations = []
    for a in raw.allocations:
        new = view.groups.get(a.group_id, a.allocated_gbps)
        if abs(new - a.allocated_gbps) > 1e-12:
            parts = adjusted_cut(a, new, CutReason.REMEDIATION)
            reason = reason_text(parts, a.region)
            a = a.model_copy(
                update={
                    "allocated_gbps": new,
                    "cut_gbps": max(0.0, a.demand_gbps - new) if reason else 0.0,
                    "cut_reason": reason,
                    "cut_by_reason": parts if reason else {},
                }
            )
        allocations.append(a)
    pools_by = {p.pool_id: p for p in view.pools}
    pools = [
        p.model_copy(update={"allocated_gbps": pools_by[p.name].allocated_gbps})
        if p.name in pools_by
        else p
        for p in raw.pools
    ]
    return raw.model_copy(update={"allocations": allocations, "pools": pools})
