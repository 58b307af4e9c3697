"""Evidence for commands that act on a whole region (edge caches, routing weights).

A regional command is driven by the network forecasts of every group in the region: its
evidence sums their quantiles and intervals, names the quantile they are sized at, the peak of
the largest one, and carries each group's allocation ledger so "why this many nodes?" has an
answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from reconciler.allocation.quantile import normalize_quantiles
from reconciler.planning.models import Evidence, PlanInput, PlanMetric
from reconciler.planning.needs import need_of

__all__ = ["RegionForecast", "group_ledger", "region_evidence", "region_forecast"]


@dataclass(frozen=True)
class RegionForecast:
    """The network forecasts of one region's groups, added up."""

    region: str
    demand_gbps: float = 0.0  # sized need (quantile + headroom) summed over the groups
    quantiles: dict[str, float] = field(default_factory=dict)  # each quantile summed
    interval: tuple[float, float] | None = None
    quantile: float | None = None  # the highest quantile any of the groups is sized at
    peak_at: datetime | None = None  # the peak of the group with the largest need
    ledger: list[str] = field(default_factory=list)


def group_ledger(inp: PlanInput, group_id: str) -> list[str]:
    """The allocator's ledger lines for one group (empty without an allocation)."""
    entry = inp.allocations.ledger_for(group_id) if inp.allocations is not None else None
    return list(entry.steps) if entry is not None else []


def region_forecast(inp: PlanInput, region: str) -> RegionForecast:
    """Sum of the network forecasts of ``region``'s groups, with their ledger lines."""
    demand = 0.0
    sums: dict[float, float] = {}
    low = high = 0.0
    quantile: float | None = None
    largest: tuple[float, datetime | None] | None = None
    lines: list[str] = []
    for g in inp.groups:
        if g.region != region:
            continue
        need = need_of(inp, g, PlanMetric.NETWORK_GBPS)
        if need is None:
            continue
        ev = need.evidence
        demand += need.value
        for q, v in normalize_quantiles(ev.forecast).items():
            sums[q] = sums.get(q, 0.0) + v
        if ev.interval is not None:
            low, high = low + ev.interval[0], high + ev.interval[1]
        if ev.quantile is not None:
            quantile = ev.quantile if quantile is None else max(quantile, ev.quantile)
        if largest is None or need.value > largest[0]:
            largest = (need.value, ev.peak_at)
        used = f"q{ev.quantile:g}" if ev.quantile is not None else "forecast"
        peak = f", peak {ev.peak_at.isoformat()}" if ev.peak_at is not None else ""
        lines.append(f"{g.group_id}: {used} {need.value:.3f} Gbps with headroom{peak}")
        lines.extend(f"{g.group_id}: {step}" for step in group_ledger(inp, g.group_id))
    if inp.allocations is not None:
        pool = next((p for p in inp.allocations.pools if p.name == region), None)
        if pool is not None:
            lines.append(
                f"pool {region}: {pool.allocated_gbps:.3f} of {pool.capacity_gbps:g} Gbps "
                f"allocated for {pool.demand_gbps:.3f} Gbps demanded"
            )
    return RegionForecast(
        region=region,
        demand_gbps=demand,
        quantiles={f"p{q * 100:g}": v for q, v in sorted(sums.items())},
        interval=(low, high) if sums else None,
        quantile=quantile,
        peak_at=largest[1] if largest is not None else None,
        ledger=lines,
    )


def region_evidence(forecasts: Sequence[RegionForecast], rule: str) -> Evidence:
    """Evidence for a command over ``forecasts``' regions (one region: unprefixed keys).

    Several regions: quantiles are keyed ``<region>_<quantile>`` (and ``<region>_demand_gbps``),
    the interval is the sum over the regions, the peak is the largest region's.
    """
    single = len(forecasts) == 1
    out: dict[str, float] = {}
    low = high = 0.0
    has_interval = False
    quantile: float | None = None
    ledger: list[str] = []
    for f in forecasts:
        prefix = "" if single else f"{f.region}_"
        out[f"{prefix}region_demand_gbps" if single else f"{prefix}demand_gbps"] = f.demand_gbps
        out.update({f"{prefix}{k}": v for k, v in f.quantiles.items()})
        if f.interval is not None:
            has_interval = True
            low, high = low + f.interval[0], high + f.interval[1]
        if f.quantile is not None:
            quantile = f.quantile if quantile is None else max(quantile, f.quantile)
        ledger.extend(f.ledger)
    top = max(forecasts, key=lambda f: f.demand_gbps, default=None)
    return Evidence(
        metric=str(PlanMetric.NETWORK_GBPS),
        forecast=out,
        interval=(low, high) if has_interval else None,
        quantile=quantile,
        peak_at=top.peak_at if top is not None else None,
        policy_rule=rule,
        ledger=ledger,
    )
