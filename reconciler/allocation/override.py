"""Operator overrides of one group's allocation, refused with a reason when they cannot fit."""

from __future__ import annotations

from reconciler.allocation.ledger import adjusted_cut, reason_text
from reconciler.allocation.models import (
    GLOBAL_POOL,
    Allocation,
    AllocationResult,
    CutReason,
    LedgerEntry,
    PoolState,
)

__all__ = ["OverrideRefused", "apply_override"]

_EPS = 1e-9


class OverrideRefused(ValueError):
    """An override that cannot be applied; ``reason`` says why."""

    def __init__(self, group_id: str, reason: str) -> None:
        self.group_id = group_id
        self.reason = reason
        super().__init__(f"override of {group_id} refused: {reason}")


def apply_override(result: AllocationResult, group_id: str, gbps: float) -> AllocationResult:
    """Set ``group_id`` to ``gbps``, taking borrowed capacity back from lower-priority groups.

    Refuses (``OverrideRefused``) for an unknown group, a negative or above-ceiling value, or when
    free capacity plus what lower-priority groups in the same region borrowed cannot cover it.
    Guarantees of other groups are never touched.
    """
    groups = result.by_group()
    if group_id not in groups:
        raise OverrideRefused(group_id, "no such group in the allocation")
    if gbps < 0:
        raise OverrideRefused(group_id, f"{gbps} Gbps is negative")
    target = groups[group_id]
    if target.ceiling_gbps is not None and gbps > target.ceiling_gbps + _EPS:
        raise OverrideRefused(
            group_id, f"{gbps:g} Gbps is above the class ceiling {target.ceiling_gbps:g} Gbps"
        )
    if target.region not in {p.name for p in result.pools}:
        raise OverrideRefused(group_id, f"region {target.region!r} has no pool")
    region = result.pool(target.region)
    top = result.pool(GLOBAL_POOL)
    extra = gbps - target.allocated_gbps
    free = min(region.free_gbps, top.free_gbps)
    victims = sorted(
        (
            a
            for a in result.allocations
            if a.region == target.region and a.priority > target.priority and a.group_id != group_id
        ),
        key=lambda a: (-a.priority, a.group_id),
    )
    reclaimable = sum(a.allocated_gbps - a.guaranteed_gbps for a in victims)
    if extra > free + reclaimable + _EPS:
        raise OverrideRefused(
            group_id,
            f"needs {extra:.3f} Gbps more but {target.region} has {free:.3f} Gbps free and "
            f"lower-priority groups there can give back only {reclaimable:.3f} Gbps",
        )
    changed: dict[str, float] = {group_id: gbps}
    need = max(0.0, extra - free)
    for a in victims:
        if need <= _EPS:
            break
        take = min(need, a.allocated_gbps - a.guaranteed_gbps)
        if take > _EPS:
            changed[a.group_id] = a.allocated_gbps - take
            need -= take
    return _rebuild(result, changed, group_id)


def _target_cut(a: Allocation, new: float) -> dict[str, float]:
    """The overridden group's cut: the operator chose its grant, only the ceiling is not theirs."""
    cut = max(0.0, a.demand_gbps - new)
    over = 0.0 if a.ceiling_gbps is None else max(0.0, a.demand_gbps - a.ceiling_gbps)
    parts = {CutReason.CEILING: min(cut, over), CutReason.OVERRIDE: cut - min(cut, over)}
    return {r: v for r, v in parts.items() if v > _EPS}


def _rebuild(result: AllocationResult, changed: dict[str, float], who: str) -> AllocationResult:
    allocations: list[Allocation] = []
    ledger = {e.group_id: e for e in result.ledger}
    for a in result.allocations:
        if a.group_id not in changed:
            allocations.append(a)
            continue
        new = changed[a.group_id]
        parts = (
            _target_cut(a, new) if a.group_id == who else adjusted_cut(a, new, CutReason.OVERRIDE)
        )
        reason = reason_text(parts, a.region)
        note = (
            f"operator override: {a.allocated_gbps:.3f} -> {new:.3f} Gbps"
            if a.group_id == who
            else f"gave back {a.allocated_gbps - new:.3f} Gbps for the override of {who}"
        )
        allocations.append(
            a.model_copy(
                update={
                    "allocated_gbps": new,
                    "cut_gbps": max(0.0, a.demand_gbps - new) if reason else 0.0,
                    "cut_reason": reason,
                    "cut_by_reason": parts if reason else {},
                }
            )
        )
        old = ledger.get(a.group_id)
        steps = [*old.steps, note] if old else [note]
        ledger[a.group_id] = LedgerEntry(group_id=a.group_id, pool=a.region, steps=steps)
    delta: dict[str, float] = {}
    for old_a, new_a in zip(result.allocations, allocations, strict=True):
        d = new_a.allocated_gbps - old_a.allocated_gbps
        delta[new_a.region] = delta.get(new_a.region, 0.0) + d
    pools: list[PoolState] = []
    for p in result.pools:
        d = sum(delta.values()) if p.name == GLOBAL_POOL else delta.get(p.name, 0.0)
        used = p.allocated_gbps + d
        update = {"allocated_gbps": used}
        if p.parent is not None:
            update |= {
                "borrowed_gbps": max(0.0, used - p.rate_gbps),
                "lent_gbps": max(0.0, p.rate_gbps - used),
            }
        pools.append(p.model_copy(update=update))
    return AllocationResult(
        allocations=allocations,
        pools=pools,
        ledger=[ledger[a.group_id] for a in allocations],
    )
