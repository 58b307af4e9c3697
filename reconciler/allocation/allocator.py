"""Hierarchical bandwidth allocation: global pool -> regional pools -> group pools.

The semantics are those of Linux HTB: every pool and group has a *rate* (what it is guaranteed)
and a *ceil* (the most it may ever use). Allocation runs in three phases, each by priority
(0 first) and, within a priority, by weighted max-min fairness (water-filling):

1. guarantees: each group gets up to ``min(guarantee, demand)``;
2. pool share: each region hands out its own rate (``guaranteed_gbps``) to its groups;
3. borrowing: capacity the global pool has left is lent to groups whose region still has room.

Nothing ever exceeds a group ceiling, a regional capacity or the global capacity; what a group
did not get is recorded with the reason (``Allocation.cut_reason``) and a ledger entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from policies.schema import Pools
from reconciler.allocation.models import (
    GLOBAL_POOL,
    Allocation,
    AllocationResult,
    CutReason,
    GroupDemand,
    LedgerEntry,
    PoolState,
)

__all__ = ["allocate", "water_fill"]

_EPS = 1e-9


def water_fill(
    want: dict[str, float],
    weight: dict[str, float],
    region_of: dict[str, str],
    region_room: dict[str, float],
    global_room: float,
) -> dict[str, float]:
    """Weighted max-min fair shares of ``want`` under per-region and global limits.

    Every group rises at a rate proportional to its weight until it has what it wants, its region
    is full, or the global room is used up (progressive filling). ``region_room`` is updated.
    """
    grant = dict.fromkeys(want, 0.0)
    left = {g: w for g, w in want.items() if w > _EPS and region_room.get(region_of[g], 0) > _EPS}
    while left and global_room > _EPS:
        sum_w = sum(weight[g] for g in left)
        by_region: dict[str, float] = {}
        for g in left:
            by_region[region_of[g]] = by_region.get(region_of[g], 0.0) + weight[g]
        step = min(
            min(left[g] / weight[g] for g in left),
            min(region_room[r] / w for r, w in by_region.items()),
            global_room / sum_w,
        )
        for g in list(left):
            inc = step * weight[g]
            grant[g] += inc
            left[g] -= inc
            region_room[region_of[g]] -= inc
            global_room -= inc
        left = {g: w for g, w in left.items() if w > _EPS and region_room[region_of[g]] > _EPS}
    return grant


@dataclass
class _Book:
    """Running totals while the three phases run."""

    guaranteed: dict[str, float]
    share: dict[str, float]
    borrowed: dict[str, float]
    region_used: dict[str, float]
    global_used: float = 0.0

    def total(self, g: str) -> float:
        return self.guaranteed[g] + self.share[g] + self.borrowed[g]


def _phase(
    book: _Book,
    phase: dict[str, float],
    groups: Sequence[GroupDemand],
    room_of_region: dict[str, float],
    global_capacity: float,
    want_of: dict[str, float],
) -> None:
    """Run one phase by priority level, adding grants to ``phase`` and the book's totals."""
    for level in sorted({d.priority for d in groups}):
        members = [d for d in groups if d.priority == level]
        want = {d.group_id: want_of[d.group_id] for d in members}
        got = water_fill(
            want,
            {d.group_id: d.weight for d in members},
            {d.group_id: d.region for d in members},
            room_of_region,
            global_capacity - book.global_used,
        )
        for d in members:
            phase[d.group_id] += got[d.group_id]
            book.region_used[d.region] += got[d.group_id]
            book.global_used += got[d.group_id]


def allocate(pools: Pools, demands: Sequence[GroupDemand]) -> AllocationResult:
    """Allocate ``pools`` among ``demands``; one ``Allocation`` and ``LedgerEntry`` per group."""
    ids = [d.group_id for d in demands]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"group ids repeat in the allocation input: {dupes}")
    placed = [d for d in demands if d.region in pools.regions]
    capacity = {r: p.capacity_gbps for r, p in pools.regions.items()}
    book = _Book(
        guaranteed=dict.fromkeys(ids, 0.0),
        share=dict.fromkeys(ids, 0.0),
        borrowed=dict.fromkeys(ids, 0.0),
        region_used=dict.fromkeys(pools.regions, 0.0),
    )
    # 1. guarantees, limited only by the pools' capacities
    want = {d.group_id: min(d.guarantee_gbps, d.capped_demand) for d in placed}
    room = {r: capacity[r] - book.region_used[r] for r in capacity}
    _phase(book, book.guaranteed, placed, room, pools.global_gbps, want)
    # 2. each region's own rate, shared among its groups
    want = {d.group_id: d.capped_demand - book.total(d.group_id) for d in placed}
    room = {
        r: max(0.0, min(capacity[r], p.guaranteed_gbps) - book.region_used[r])
        for r, p in pools.regions.items()
    }
    _phase(book, book.share, placed, room, pools.global_gbps, want)
    # 3. borrow what the global pool has left, up to each region's ceil
    want = {d.group_id: d.capped_demand - book.total(d.group_id) for d in placed}
    room = {r: capacity[r] - book.region_used[r] for r in capacity}
    _phase(book, book.borrowed, placed, room, pools.global_gbps, want)
    return _result(pools, demands, book)


def _cut_reason(d: GroupDemand, got: float, book: _Book, pools: Pools, borrowers: set[int]) -> str:
    if d.region not in pools.regions:
        return f"no regional pool named {d.region!r}"
    reasons = []
    if d.ceiling_gbps is not None and d.demand_gbps > d.ceiling_gbps + _EPS:
        reasons.append(CutReason.CEILING)
    if got < d.capped_demand - _EPS:
        if book.region_used[d.region] >= pools.regions[d.region].capacity_gbps - 1e-6:
            reasons.append(CutReason.REGION)
        if book.global_used >= pools.global_gbps - 1e-6:
            reasons.append(CutReason.GLOBAL)
        if any(p < d.priority for p in borrowers):
            reasons.append(CutReason.PRIORITY)
    return "; ".join(reasons) or "pools full"


def _result(pools: Pools, demands: Sequence[GroupDemand], book: _Book) -> AllocationResult:
    borrowers = {d.priority for d in demands if book.borrowed[d.group_id] > _EPS}
    allocations: list[Allocation] = []
    ledger: list[LedgerEntry] = []
    for d in demands:
        g = d.group_id
        got = book.total(g)
        cut = max(0.0, d.demand_gbps - got)
        reason = _cut_reason(d, got, book, pools, borrowers) if cut > 1e-6 else None
        allocations.append(
            Allocation(
                group_id=g,
                region=d.region,
                group_class=d.group_class,
                priority=d.priority,
                weight=d.weight,
                demand_gbps=d.demand_gbps,
                guarantee_gbps=d.guarantee_gbps,
                ceiling_gbps=d.ceiling_gbps,
                guaranteed_gbps=book.guaranteed[g],
                pool_share_gbps=book.share[g],
                borrowed_gbps=book.borrowed[g],
                allocated_gbps=got,
                cut_gbps=cut if reason else 0.0,
                cut_reason=reason,
            )
        )
        q = f" (forecast q{d.quantile:g} + headroom)" if d.quantile is not None else ""
        steps = [
            f"demand {d.demand_gbps:.3f} Gbps{q}; class {d.group_class} "
            f"(priority {d.priority}, weight {d.weight:g})",
            f"guarantee {book.guaranteed[g]:.3f} of {d.guarantee_gbps:.3f} Gbps",
            f"{d.region} pool share {book.share[g]:.3f} Gbps",
            f"borrowed {book.borrowed[g]:.3f} Gbps from {GLOBAL_POOL}",
            f"allocated {got:.3f} Gbps",
        ]
        if reason:
            steps.append(f"cut {cut:.3f} Gbps: {reason}")
        ledger.append(LedgerEntry(group_id=g, pool=d.region, steps=steps))
    return AllocationResult(
        allocations=allocations, pools=_pools(pools, demands, book), ledger=ledger
    )


def _pools(pools: Pools, demands: Sequence[GroupDemand], book: _Book) -> list[PoolState]:
    out = [
        PoolState(
            name=GLOBAL_POOL,
            parent=None,
            capacity_gbps=pools.global_gbps,
            rate_gbps=pools.global_gbps,
            demand_gbps=sum(d.capped_demand for d in demands if d.region in pools.regions),
            allocated_gbps=book.global_used,
        )
    ]
    for name, p in pools.regions.items():
        used = book.region_used[name]
        rate = min(p.guaranteed_gbps, p.capacity_gbps)
        out.append(
            PoolState(
                name=name,
                parent=GLOBAL_POOL,
                capacity_gbps=p.capacity_gbps,
                rate_gbps=rate,
                demand_gbps=sum(d.capped_demand for d in demands if d.region == name),
                allocated_gbps=used,
                borrowed_gbps=max(0.0, used - rate),
                lent_gbps=max(0.0, rate - used),
            )
        )
    return out
