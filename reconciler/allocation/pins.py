"""Operator bandwidth pins, held by every allocation rather than only the one they were set on.

A pin (``PUT /groups/{id}/bandwidth``, or ``pinned_gbps`` when a group is created) is the grant
an operator wants a group to have. Each cycle the allocator holds it like a class term: the group
asks for the pin instead of its forecast and is guaranteed it (up to its class ceiling), so it is
served in the guarantee phase ahead of pool shares and borrowing. What the pools still cannot
give is taken back from lower-priority groups as an override would be (``apply_override``);
what cannot be given even then stays cut, and the group's ledger says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from policies.schema import Pools
from reconciler.allocation.allocator import allocate
from reconciler.allocation.ledger import CUT_TOLERANCE
from reconciler.allocation.models import AllocationResult, GroupDemand, LedgerEntry
from reconciler.allocation.override import OverrideRefused, apply_override

__all__ = ["allocate_pinned", "pinned_demand"]


def pinned_demand(demand: GroupDemand, gbps: float) -> GroupDemand:
    """``demand`` asking for the pin instead of its forecast, guaranteed it up to the ceiling."""
    if gbps < 0:
        raise ValueError(f"group {demand.group_id}: pin {gbps} Gbps is negative")
    held = gbps if demand.ceiling_gbps is None else min(gbps, demand.ceiling_gbps)
    return demand.model_copy(update={"demand_gbps": gbps, "guarantee_gbps": held, "quantile": None})


def allocate_pinned(
    pools: Pools, demands: Sequence[GroupDemand], pins: Mapping[str, float]
) -> AllocationResult:
    """``allocate`` with each pinned group held at its pin (``pins``: group id -> Gbps).

    Pins of groups not in ``demands`` are ignored. Every pinned group's ledger ends with a line
    that names the pin and the forecast it replaced, and, when the pin is not met, why.
    """
    forecast = {d.group_id: d.demand_gbps for d in demands}
    held = [pinned_demand(d, pins[d.group_id]) if d.group_id in pins else d for d in demands]
    result = allocate(pools, held)
    notes: dict[str, str] = {}
    for gid in sorted(set(pins) & set(forecast)):
        pin, got = pins[gid], result.by_group()[gid].allocated_gbps
        why = None
        if pin - got > CUT_TOLERANCE:
            try:
                result = apply_override(result, gid, pin)
            except OverrideRefused as exc:
                why = exc.reason
        head = f"operator pin {pin:.3f} Gbps (forecast demand {forecast[gid]:.3f} Gbps)"
        if why is None:
            notes[gid] = f"{head}: held"
        else:
            got = result.by_group()[gid].allocated_gbps
            notes[gid] = f"{head}: cannot be held, {why}; allocated {got:.3f} Gbps"
    if not notes:
        return result
    ledger = [
        LedgerEntry(group_id=e.group_id, pool=e.pool, steps=[*e.steps, notes[e.group_id]])
        if e.group_id in notes
        else e
        for e in result.ledger
    ]
    return result.model_copy(update={"ledger": ledger})
