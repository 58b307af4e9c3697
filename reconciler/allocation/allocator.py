"""Hierarchical bandwidth allocation: global pool -> regional pools -> group pools.

The semantics are those of Linux HTB: every pool and group has a *rate* (what it is guaranteed)
and a *ceil* (the most it may ever use). A region's rate is ``guaranteed_gbps``, its ceil
``capacity_gbps``; a group's rate is its class guarantee, its ceil the class ceiling. Allocation
runs in four phases, each by priority (0 first) and, within a priority, by weighted max-min
fairness (water-filling):

1. guarantees: each group gets up to ``min(guarantee, demand)``, within its region's rate;
2. pool share: what is left of each region's rate goes to its groups' remaining demand;
3. guarantee excess: guarantees the region's rate could not hold borrow from the global pool,
   ahead of any other borrowing;
4. borrowing: what the global pool has left is lent to groups whose region is below its ceil.

Phases 1 and 2 never go past a region's rate, so when the regional rates fit the global pool every
region keeps its rate whatever the other regions ask (an HTB class always gets its rate and
borrows above it only from what the parent has spare). Nothing ever exceeds a group ceiling, a
regional capacity or the global capacity; what a group did not get is recorded with the reasons
and how much each accounts for (``Allocation.cut_by_reason``) and a ledger entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from policies.schema import Pools
from reconciler.allocation.ledger import CUT_TOLERANCE, group_steps, reason_text
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
    """Running totals while the phases run."""

    guaranteed: dict[str, float]
    share: dict[str, float]
    borrowed: dict[str, float]
    region_used: dict[str, float]
    guarantee_borrowed: dict[str, float] = field(default_factory=dict)
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


def _run(pools: Pools, placed: Sequence[GroupDemand]) -> _Book:
    """The four phases over groups whose region has a pool."""
    ids = [d.group_id for d in placed]
    book = _Book(
        guaranteed=dict.fromkeys(ids, 0.0),
        share=dict.fromkeys(ids, 0.0),
        borrowed=dict.fromkeys(ids, 0.0),
        region_used=dict.fromkeys(pools.regions, 0.0),
    )
    rate = {r: min(p.guaranteed_gbps, p.capacity_gbps) for r, p in pools.regions.items()}
    ceil = {r: p.capacity_gbps for r, p in pools.regions.items()}

    def room(limit: dict[str, float]) -> dict[str, float]:
        return {r: max(0.0, limit[r] - book.region_used[r]) for r in limit}

    def rest() -> dict[str, float]:
        return {d.group_id: d.capped_demand - book.total(d.group_id) for d in placed}

    top = pools.global_gbps
    guarantee = {d.group_id: min(d.guarantee_gbps, d.capped_demand) for d in placed}
    # 1. guarantees, within each region's rate
    _phase(book, book.guaranteed, placed, room(rate), top, guarantee)
    # 2. the rest of each region's rate, shared among its groups
    _phase(book, book.share, placed, room(rate), top, rest())
    # 3. guarantees above the region's rate borrow from the global pool before anything else
    within = dict(book.guaranteed)
    excess = {g: max(0.0, guarantee[g] - book.guaranteed[g]) for g in ids}
    _phase(book, book.guaranteed, placed, room(ceil), top, excess)
    book.guarantee_borrowed = {g: book.guaranteed[g] - within[g] for g in ids}
    # 4. borrow what the global pool has left, up to each region's ceil
    _phase(book, book.borrowed, placed, room(ceil), top, rest())
    return book


def allocate(pools: Pools, demands: Sequence[GroupDemand]) -> AllocationResult:
    """Allocate ``pools`` among ``demands``; one ``Allocation`` and ``LedgerEntry`` per group.

    A group whose region has no pool is kept, granted 0 with the reason, never dropped.
    """
    ids = [d.group_id for d in demands]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"group ids repeat in the allocation input: {dupes}")
    placed = [d for d in demands if d.region in pools.regions]
    book = _run(pools, placed)
    cuts = _cuts(pools, placed, book)
    allocations: list[Allocation] = []
    ledger: list[LedgerEntry] = []
    for d in demands:
        a = _allocation(d, book, cuts.get(d.group_id))
        allocations.append(a)
        steps = group_steps(d, a, placed=d.group_id in book.guaranteed)
        ledger.append(LedgerEntry(group_id=d.group_id, pool=d.region, steps=steps))
    return AllocationResult(
        allocations=allocations, pools=_pools(pools, placed, book), ledger=ledger
    )


def _allocation(d: GroupDemand, book: _Book, parts: dict[str, float] | None) -> Allocation:
    g = d.group_id
    if parts is None:  # no pool for the group's region
        got, parts, nums = 0.0, {CutReason.NO_POOL: d.demand_gbps}, (0.0, 0.0, 0.0, 0.0)
    else:
        got = book.total(g)
        nums = (book.guaranteed[g], book.share[g], book.borrowed[g], book.guarantee_borrowed[g])
    parts = {r: v for r, v in parts.items() if v > _EPS}
    reason = reason_text(parts, d.region)
    return Allocation(
        group_id=g,
        region=d.region,
        group_class=d.group_class,
        priority=d.priority,
        weight=d.weight,
        demand_gbps=d.demand_gbps,
        guarantee_gbps=d.guarantee_gbps,
        ceiling_gbps=d.ceiling_gbps,
        guaranteed_gbps=nums[0],
        pool_share_gbps=nums[1],
        borrowed_gbps=nums[2],
        allocated_gbps=got,
        cut_gbps=max(0.0, d.demand_gbps - got) if reason else 0.0,
        cut_reason=reason,
        cut_by_reason=parts if reason else {},
        guarantee_borrowed_gbps=nums[3],
    )


def _cuts(pools: Pools, placed: Sequence[GroupDemand], book: _Book) -> dict[str, dict[str, float]]:
    """Each placed group's cut, split by reason (the parts sum to ``demand - allocated``).

    * class ceiling: demand above the ceiling;
    * higher-priority groups: how much more the group would get if higher-priority groups in
      its region kept only their guarantees and those elsewhere did not borrow (they keep their
      own region's rate, which this group could not have had anyway);
    * the rest: the pool that stopped the group, the one of its region and the global pool with
      less room left (its region when both are full: the nearer limit).
    """
    top_room = pools.global_gbps - book.global_used
    priority = _priority_cuts(pools, placed, book)
    out: dict[str, dict[str, float]] = {}
    for d in placed:
        g = d.group_id
        parts = {CutReason.CEILING: d.demand_gbps - d.capped_demand}
        unmet = max(0.0, d.capped_demand - book.total(g))
        took = min(unmet, priority.get(g, 0.0))
        parts[CutReason.PRIORITY] = took
        region_room = pools.regions[d.region].capacity_gbps - book.region_used[d.region]
        full = CutReason.REGION if region_room <= top_room + _EPS else CutReason.GLOBAL
        parts[full] = unmet - took
        out[g] = parts
    return out


def _priority_cuts(pools: Pools, placed: Sequence[GroupDemand], book: _Book) -> dict[str, float]:
    """Gbps each unmet group would gain without higher-priority groups' demand-phase grants."""
    unmet = {d.group_id for d in placed if d.capped_demand - book.total(d.group_id) > CUT_TOLERANCE}
    out: dict[str, float] = {}
    for level, region in sorted({(d.priority, d.region) for d in placed if d.group_id in unmet}):
        what_if: list[GroupDemand] = []
        changed = False
        for d in placed:
            g = d.group_id
            keep = min(d.guarantee_gbps, d.capped_demand)
            if d.region != region:
                keep = max(keep, book.guaranteed[g] + book.share[g])
            if d.priority < level and book.total(g) > keep + CUT_TOLERANCE:
                changed = True
                d = d.model_copy(update={"demand_gbps": keep})
            what_if.append(d)
        if not changed:
            continue
        alt = _run(pools, what_if)
        for d in placed:
            g = d.group_id
            if g in unmet and d.priority == level and d.region == region:
                out[g] = max(0.0, alt.total(g) - book.total(g))
    return out


def _pools(pools: Pools, placed: Sequence[GroupDemand], book: _Book) -> list[PoolState]:
    out = [
        PoolState(
            name=GLOBAL_POOL,
            parent=None,
            capacity_gbps=pools.global_gbps,
            rate_gbps=pools.global_gbps,
            demand_gbps=sum(d.capped_demand for d in placed),
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
                demand_gbps=sum(d.capped_demand for d in placed if d.region == name),
                allocated_gbps=used,
                borrowed_gbps=max(0.0, used - rate),
                lent_gbps=max(0.0, rate - used),
            )
        )
    return out
