"""Store and restore the allocator's ``AllocationResult`` through the state tables.

Each allocation row's ``ledger`` JSON holds ``{"steps": [...], "allocation": {...}}`` (the full
``Allocation`` model) and pool rows keep rate, demand and lending, so the API can rebuild the
result in force and check an operator override against it with ``apply_override``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from reconciler.allocation.models import (
    Allocation,
    AllocationResult,
    LedgerEntry,
    PoolState,
)
from reconciler.state.records import AllocationRecord, PoolRecord

__all__ = ["StoredAllocationError", "records_from_result", "result_from_records"]


class StoredAllocationError(ValueError):
    """Stored allocation rows cannot be turned back into an ``AllocationResult``."""


def records_from_result(
    result: AllocationResult,
    *,
    used_gbps: Mapping[str, float] | None = None,
    pool_used_gbps: Mapping[str, float] | None = None,
    member_used_gbps: Mapping[str, Mapping[str, float]] | None = None,
) -> tuple[list[AllocationRecord], list[PoolRecord]]:
    """Rows for ``save_allocations``; ``used_gbps`` is observed traffic per group,
    ``pool_used_gbps`` per pool and ``member_used_gbps`` per group and member (all optional)."""
    used = used_gbps or {}
    pool_used = pool_used_gbps or {}
    members = member_used_gbps or {}
    ledger = {e.group_id: e for e in result.ledger}
    allocations = [
        AllocationRecord(
            group_id=a.group_id,
            pool=a.region,
            gbps=a.allocated_gbps,
            used_gbps=used.get(a.group_id),
            member_used_gbps=dict(members[a.group_id]) if a.group_id in members else None,
            ledger={
                "steps": list(ledger[a.group_id].steps) if a.group_id in ledger else [],
                "allocation": a.model_dump(mode="json"),
            },
        )
        for a in result.allocations
    ]
    pools = [
        PoolRecord(
            pool=p.name,
            capacity_gbps=p.capacity_gbps,
            allocated_gbps=p.allocated_gbps,
            parent=p.parent,
            used_gbps=pool_used.get(p.name),
            rate_gbps=p.rate_gbps,
            demand_gbps=p.demand_gbps,
            borrowed_gbps=p.borrowed_gbps,
            lent_gbps=p.lent_gbps,
        )
        for p in result.pools
    ]
    return allocations, pools


def result_from_records(
    allocations: Sequence[AllocationRecord], pools: Sequence[PoolRecord]
) -> AllocationResult:
    """Rebuild the ``AllocationResult`` saved by :func:`records_from_result`."""
    allocs: list[Allocation] = []
    entries: list[LedgerEntry] = []
    for rec in allocations:
        ledger = rec.ledger or {}
        if "allocation" not in ledger:
            raise StoredAllocationError(
                f"allocation of group {rec.group_id} in run {rec.run_id} has no stored "
                "'allocation' details (save it with records_from_result)"
            )
        try:
            allocs.append(Allocation.model_validate(ledger["allocation"]))
        except ValidationError as exc:
            raise StoredAllocationError(
                f"stored allocation of group {rec.group_id} is invalid: {exc}"
            ) from exc
        entries.append(
            LedgerEntry(group_id=rec.group_id, pool=rec.pool, steps=list(ledger.get("steps", [])))
        )
    states: list[PoolState] = []
    for p in pools:
        if p.rate_gbps is None or p.demand_gbps is None:
            raise StoredAllocationError(f"pool {p.pool} was stored without rate and demand")
        states.append(
            PoolState(
                name=p.pool,
                parent=p.parent,
                capacity_gbps=p.capacity_gbps,
                rate_gbps=p.rate_gbps,
                demand_gbps=p.demand_gbps,
                allocated_gbps=p.allocated_gbps,
                borrowed_gbps=p.borrowed_gbps or 0.0,
                lent_gbps=p.lent_gbps or 0.0,
            )
        )
    return AllocationResult(allocations=allocs, pools=states, ledger=entries)
