"""Restate an allocation after its group grants were changed (remediation, overrides).

The allocator's figures agree with one another: a regional pool's ``allocated_gbps`` is the sum
of its groups', the global pool's the sum of its regions', and each group's ledger ends on its
grant. A change made after allocation goes through :func:`restate`, which changes the grants,
re-derives each changed group's cut, appends a ledger line stating the new grant and re-derives
every pool from its groups, so what is recorded and served keeps those invariants.
:func:`invariant_violations` lists where a result breaks them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from reconciler.allocation.ledger import adjusted_cut, reason_text
from reconciler.allocation.models import (
    GLOBAL_POOL,
    Allocation,
    AllocationResult,
    LedgerEntry,
    PoolState,
)

__all__ = [
    "TOLERANCE_GBPS",
    "invariant_violations",
    "restate",
    "restated_pools",
    "settle",
    "stated_gbps",
]

#: Figures closer than this are the same figure (ledger lines print 3 decimals).
TOLERANCE_GBPS = 1e-6
_STATED = re.compile(r"(?:^allocated |-> )(\d+(?:\.\d+)?) Gbps")


def stated_gbps(steps: Sequence[str]) -> float | None:
    """The grant a ledger states last: the ``allocated X Gbps`` line or a later ``-> X Gbps``."""
    found: float | None = None
    for line in steps:
        for m in _STATED.finditer(line):
            found = float(m.group(1))
    return found


def restated_pools(result: AllocationResult) -> list[PoolState]:
    """Every pool's use re-derived from the groups: a region is the sum of its groups, the global
    pool the sum of its regions (groups in a region without a pool are in neither)."""
    regions = {p.name for p in result.pools if p.parent is not None}
    used = dict.fromkeys(regions, 0.0)
    for a in result.allocations:
        if a.region in used:
            used[a.region] += a.allocated_gbps
    out: list[PoolState] = []
    for p in result.pools:
        if p.parent is None:
            out.append(p.model_copy(update={"allocated_gbps": sum(used.values())}))
            continue
        u = used.get(p.name, 0.0)
        out.append(
            p.model_copy(
                update={
                    "allocated_gbps": u,
                    "borrowed_gbps": max(0.0, u - p.rate_gbps),
                    "lent_gbps": max(0.0, p.rate_gbps - u),
                }
            )
        )
    return out


def settle(result: AllocationResult) -> AllocationResult:
    """``result`` with pools re-derived from its groups and a closing ledger line for every
    group whose ledger does not end on its grant (``stated_gbps``)."""
    ledger = {e.group_id: e for e in result.ledger}
    entries: list[LedgerEntry] = []
    for a in result.allocations:
        old = ledger.get(a.group_id)
        steps = list(old.steps) if old else []
        stated = stated_gbps(steps)
        if stated is None or abs(stated - round(a.allocated_gbps, 3)) > 5e-4:
            steps.append(f"allocated {a.allocated_gbps:.3f} Gbps in force")
        entries.append(LedgerEntry(group_id=a.group_id, pool=a.region, steps=steps))
    return result.model_copy(update={"pools": restated_pools(result), "ledger": entries})


def restate(
    result: AllocationResult,
    grants: Mapping[str, float],
    reason: str,
    notes: Mapping[str, str] | None = None,
) -> AllocationResult:
    """``result`` with the groups in ``grants`` moved to their new Gbps by ``reason`` (a
    ``CutReason``): cut re-derived, ledger line ``"<note>: old -> new Gbps"`` (the note defaults to
    ``reason``), then pools and ledgers settled. Groups not in ``result`` are ignored."""
    notes = notes or {}
    ledger = {e.group_id: e for e in result.ledger}
    allocations: list[Allocation] = []
    for a in result.allocations:
        new = grants.get(a.group_id, a.allocated_gbps)
        if abs(new - a.allocated_gbps) <= TOLERANCE_GBPS:
            allocations.append(a)
            continue
        parts = adjusted_cut(a, new, reason)
        why = reason_text(parts, a.region)
        line = f"{notes.get(a.group_id, reason)}: {a.allocated_gbps:.3f} -> {new:.3f} Gbps"
        old = ledger.get(a.group_id)
        ledger[a.group_id] = LedgerEntry(
            group_id=a.group_id, pool=a.region, steps=[*(old.steps if old else []), line]
        )
        allocations.append(
            a.model_copy(
                update={
                    "allocated_gbps": new,
                    "cut_gbps": max(0.0, a.demand_gbps - new) if why else 0.0,
                    "cut_reason": why,
                    "cut_by_reason": parts if why else {},
                }
            )
        )
    entries = [ledger[a.group_id] for a in allocations if a.group_id in ledger]
    changed = result.model_copy(update={"allocations": allocations, "ledger": entries})
    return settle(changed)


def invariant_violations(result: AllocationResult, tol: float = TOLERANCE_GBPS) -> list[str]:
    """Where ``result`` breaks the allocator's invariants (empty when it keeps them all)."""
    out: list[str] = []
    pools = {p.name: p for p in result.pools}
    regions = [p for p in result.pools if p.parent is not None]
    for p in result.pools:
        if p.allocated_gbps > p.capacity_gbps + tol:
            out.append(f"pool {p.name}: {p.allocated_gbps:.6f} above capacity {p.capacity_gbps}")
    top = pools.get(GLOBAL_POOL)
    if top is not None:
        total = sum(p.allocated_gbps for p in regions)
        if abs(top.allocated_gbps - total) > tol:
            out.append(f"global pool {top.allocated_gbps:.6f} != sum of regions {total:.6f}")
    for p in regions:
        groups = sum(a.allocated_gbps for a in result.allocations if a.region == p.name)
        if abs(p.allocated_gbps - groups) > tol:
            out.append(f"pool {p.name}: {p.allocated_gbps:.6f} != sum of its groups {groups:.6f}")
    ledger = {e.group_id: e for e in result.ledger}
    for a in result.allocations:
        if a.ceiling_gbps is not None and a.allocated_gbps > a.ceiling_gbps + tol:
            out.append(f"group {a.group_id}: {a.allocated_gbps:.6f} above ceiling {a.ceiling_gbps}")
        if a.allocated_gbps < -tol:
            out.append(f"group {a.group_id}: negative grant {a.allocated_gbps}")
        entry = ledger.get(a.group_id)
        stated = stated_gbps(entry.steps) if entry else None
        if stated is None or abs(stated - round(a.allocated_gbps, 3)) > 5e-4:
            out.append(f"group {a.group_id}: ledger states {stated}, granted {a.allocated_gbps}")
    return out
