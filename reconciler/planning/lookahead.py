"""Planning beyond the provisioning window: growing resizes scheduled ahead of later peaks.

What is sized now reads each group's peak over the provisioning window. When a group's highest
forecast lies beyond it, the planner is run again on that peak, with the allocation raised to
the forecast need (``raised_allocation``), and the growing resizes it schedules ahead of the
peak by their lead time are added within what is left of the per-cycle budget. The same raised
allocation sizes remediation's scale (``reconciler.steps.respond``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from reconciler.allocation import AllocationResult
from reconciler.planning.guards import apply_guards
from reconciler.planning.models import (
    Command,
    CommandKind,
    MetricForecast,
    PlanInput,
    PlanMetric,
    SkippedCommand,
)
from reconciler.planning.models import Plan as PlanResult
from reconciler.planning.needs import need_of
from reconciler.planning.planner import propose

__all__ = ["raised_allocation", "with_lookahead"]


def with_lookahead(
    inp: PlanInput, result: PlanResult, ahead: dict[str, dict[PlanMetric, MetricForecast]]
) -> tuple[PlanResult, list[Command]]:
    """``result`` with the growing resizes that the peaks beyond the window call for, each
    scheduled ahead of its peak (guarded with what is left of the per-cycle budget), and those
    resizes as proposed (for the waiting commands' check).

    Per target the window's own growing resize comes first (it is needed now), then a resize
    ahead of a later peak, which replaces a cost-saving one (no stop/start to shrink before a
    higher peak). Bandwidth beyond the window is sized by the group's forecast need, within its
    class ceiling and at least its allocation now: the pools are divided on the window.
    """
    groups = [g for g in inp.groups if g.group_id in ahead]
    if not groups:
        return result, []
    forecasts = {
        g.group_id: {**inp.forecasts.get(g.group_id, {}), **ahead[g.group_id]} for g in groups
    }
    later = inp.model_copy(update={"groups": groups, "forecasts": forecasts})
    later = later.model_copy(update={"allocations": raised_allocation(later)})
    early = [
        c
        for c in propose(later)
        if c.kind == CommandKind.RESIZE
        and c.increase
        and c.not_before is not None
        and c.not_before > inp.now
    ]
    growing_now = {c.target for c in result.commands if c.kind == CommandKind.RESIZE and c.increase}
    early = [c for c in early if c.target not in growing_now]
    if not early:
        return result, []
    safety = inp.policy.safety
    fleet = sum(len(g.members) for g in inp.groups)
    budget = min(
        safety.max_resources_changed, max(1, math.floor(safety.max_fraction_changed * fleet))
    )
    left = budget - sum(c.resources_changed for c in result.commands)
    guarded_safety = safety.model_copy(update={"max_resources_changed": max(0, left)})
    kept, held = apply_guards(early, guarded_safety, inp.history, inp.now, fleet_size=fleet)
    replaced = {c.target for c in kept}
    commands = [
        c for c in result.commands if not (c.kind == CommandKind.RESIZE and c.target in replaced)
    ]
    shrinks = [
        SkippedCommand(
            command=c,
            reason=f"a larger type is scheduled ahead of the peak at {_peak_text(kept, c.target)}",
        )
        for c in result.commands
        if c.kind == CommandKind.RESIZE and c.target in replaced
    ]
    merged = result.model_copy(
        update={"commands": [*commands, *kept], "skipped": [*result.skipped, *shrinks, *held]}
    )
    return merged, early


def _peak_text(commands: Sequence[Command], target: str) -> str:
    for c in commands:
        if c.target == target and c.evidence.peak_at is not None:
            return c.evidence.peak_at.isoformat()
    return "a later time"


def raised_allocation(inp: PlanInput) -> AllocationResult | None:
    """The allocation with each group's bandwidth raised to its forecast need (within its class
    ceiling): what sizing for a peak beyond the window reads, and what remediation's scale
    sizes for (``reconciler.steps.respond``)."""
    if inp.allocations is None:
        return None
    by_id = {g.group_id: g for g in inp.groups}
    rows = []
    for a in inp.allocations.allocations:
        group = by_id.get(a.group_id)
        need = need_of(inp, group, PlanMetric.NETWORK_GBPS) if group is not None else None
        if need is not None and need.value > a.allocated_gbps:
            top = min(need.value, a.ceiling_gbps) if a.ceiling_gbps is not None else need.value
            a = a.model_copy(update={"allocated_gbps": max(a.allocated_gbps, top)})
        rows.append(a)
    return inp.allocations.model_copy(update={"allocations": rows})
