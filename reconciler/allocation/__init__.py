"""Hierarchical bandwidth allocation (global -> regional -> group pools, HTB rate/ceil)."""

from reconciler.allocation.allocator import allocate, water_fill
from reconciler.allocation.demand import demand_for
from reconciler.allocation.models import (
    GLOBAL_POOL,
    Allocation,
    AllocationResult,
    CutReason,
    GroupDemand,
    LedgerEntry,
    PoolLedgerEntry,
    PoolState,
)
from reconciler.allocation.override import OverrideRefused, apply_override
from reconciler.allocation.quantile import normalize_quantiles, provisioning_quantile, quantile_at

__all__ = [
    "GLOBAL_POOL",
    "Allocation",
    "AllocationResult",
    "CutReason",
    "GroupDemand",
    "LedgerEntry",
    "OverrideRefused",
    "PoolLedgerEntry",
    "PoolState",
    "allocate",
    "apply_override",
    "demand_for",
    "normalize_quantiles",
    "provisioning_quantile",
    "quantile_at",
    "water_fill",
]
