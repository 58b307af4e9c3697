"""Sizing: turn a need (Gbps, vCPU, GiB) into the cheapest catalog type or an instance count."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from providers.models import InstanceType
from providers.sizes import size_rank

__all__ = ["cheapest_type", "count_needed", "size_rank", "type_gbps", "within_size"]


def type_gbps(t: InstanceType, *, use_baseline: bool) -> float:
    """Network an instance can be counted on for: baseline when a guarantee is at stake."""
    return t.baseline_gbps if use_baseline else t.peak_gbps


def within_size(catalog: Mapping[str, InstanceType], t: InstanceType, largest: str | None) -> bool:
    """True when ``t`` is not larger than ``largest`` (in its own family's size order; a
    numbered size, GCP's or Azure's, by its vCPUs against ``_vcpu_cap``).

    A family lacking the exact ``largest`` size is still capped by the size order. Only when a
    size is outside the naming scheme does the cap fall back to the vCPUs of
    ``<family>.<largest>`` (no cap if the family lacks it).
    """
    if largest is None:
        return True
    if t.size.isdigit():  # GCP n2-standard-16, Azure Standard_D16s_v5: sized by vCPUs
        cap = _vcpu_cap(largest)
        return cap is None or t.vcpu <= cap
    limit, rank = size_rank(largest), size_rank(t.size)
    if limit is not None and rank is not None:
        return rank <= limit
    same = catalog.get(f"{t.family}.{largest}")
    return same is None or t.vcpu <= same.vcpu


def _vcpu_cap(largest: str) -> int | None:
    """``largest_size`` as vCPUs for the numbered sizes of GCP and Azure: a number is itself;
    an AWS name is its general-purpose vCPUs (``large`` 2, ``xlarge`` 4, ``<n>xlarge`` 4n)."""
    if largest.isdigit():
        return int(largest)
    rank = size_rank(largest)
    if rank is None or math.isinf(rank):
        return None
    xlarge = size_rank("xlarge")
    assert xlarge is not None
    if rank >= xlarge:
        return int(4 * (rank - xlarge + 1))
    return {"large": 2, "medium": 1}.get(largest.lower(), 1)


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
    fams = {f.lower() for f in families}  # policy families are lower-case; Azure's are Dsv5
    fits = [
        t
        for t in catalog.values()
        if t.family.lower() in fams
        and within_size(catalog, t, largest_size)
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
