"""Sizing: turn a need (Gbps, vCPU, GiB) into the cheapest catalog type or an instance count."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from providers.models import InstanceType

__all__ = ["cheapest_type", "count_needed", "type_gbps"]


def type_gbps(t: InstanceType, *, use_baseline: bool) -> float:
    """Network an instance can be counted on for: baseline when a guarantee is at stake."""
    return t.baseline_gbps if use_baseline else t.peak_gbps


def _size_limit(catalog: Mapping[str, InstanceType], family: str, largest: str | None) -> float:
    if largest is None:
        return math.inf
    t = catalog.get(f"{family}.{largest}")
    return float(t.vcpu) if t is not None else math.inf


def cheapest_type(
    catalog: Mapping[str, InstanceType],
    families: Sequence[str],
    *,
    gbps: float,
    vcpu: float,
    memory_gib: float,
    largest_size: str | None = None,
    use_baseline: bool = True,
) -> InstanceType | None:
    """Cheapest type of ``families`` meeting all three needs (ties: fewer vCPUs, then name).

    Types without a price are ranked after priced ones. None when nothing fits.
    """
    fams = set(families)
    fits = [
        t
        for t in catalog.values()
        if t.family in fams
        and t.vcpu <= _size_limit(catalog, t.family, largest_size)
        and type_gbps(t, use_baseline=use_baseline) >= gbps
        and t.vcpu >= vcpu
        and t.memory_gib >= memory_gib
    ]
    if not fits:
        return None
    return min(
        fits,
        key=lambda t: (
            t.hourly_price_usd is None,
            t.hourly_price_usd or 0.0,
            t.vcpu,
            t.name,
        ),
    )


def count_needed(
    t: InstanceType,
    *,
    gbps: float,
    vcpu: float,
    memory_gib: float,
    target_utilization: float,
    use_baseline: bool = True,
) -> int:
    """Instances of ``t`` needed so no resource runs above ``target_utilization``."""
    net = type_gbps(t, use_baseline=use_baseline) * target_utilization
    ratios = [
        gbps / net if net > 0 else (math.inf if gbps > 0 else 0.0),
        vcpu / (t.vcpu * target_utilization),
        memory_gib / (t.memory_gib * target_utilization),
    ]
    need = max(ratios)
    if math.isinf(need):
        raise ValueError(f"{t.name} has no network bandwidth but {gbps} Gbps is needed")
    return max(0, math.ceil(need - 1e-9))
