"""The planner: allocations and forecasts in, guarded ``Command``s out (no side effects)."""

from __future__ import annotations

from policies.actions import BandwidthTierAction, EdgeCacheAction, RoutingAction
from reconciler.planning.compute import plan_compute
from reconciler.planning.guards import apply_guards
from reconciler.planning.models import Command, Plan, PlanInput, SkippedCommand
from reconciler.planning.network import plan_bandwidth_tier, plan_edge_cache
from reconciler.planning.preallocate import adjust_resources
from reconciler.planning.routing import plan_routing

__all__ = ["plan", "propose"]


def propose(inp: PlanInput) -> list[Command]:
    """Every change the policy's enabled actions call for, before the guards run."""
    return _propose(inp)[0]


def _propose(inp: PlanInput) -> tuple[list[Command], list[SkippedCommand]]:
    """Proposed commands, and the planner's own notes: needs left unmet, savings too small."""
    policy = inp.policy
    by_group = inp.allocations.by_group() if inp.allocations is not None else {}
    commands: list[Command] = []
    notes: list[SkippedCommand] = []
    tier = policy.action(BandwidthTierAction)
    for group in inp.groups:
        allocation = by_group.get(group.group_id)
        entry = inp.allocations.ledger_for(group.group_id) if inp.allocations else None
        ledger = list(entry.steps) if entry is not None else []
        compute, held = plan_compute(inp, group, allocation, ledger)
        commands.extend(compute)
        notes.extend(held)
        if tier is not None:
            cmd = plan_bandwidth_tier(inp, group, allocation, tier, ledger)
            if cmd is not None:
                commands.append(cmd)
    cache = policy.action(EdgeCacheAction)
    if cache is not None:
        commands.extend(plan_edge_cache(inp, cache))
    routing = policy.action(RoutingAction)
    if routing is not None:
        cmd = plan_routing(inp, routing)
        if cmd is not None:
            commands.append(cmd)
    commands.extend(adjust_resources(inp))
    return commands, notes


def plan(inp: PlanInput) -> Plan:
    """Propose, then guard: drop no-ops, respect minimum change, cooldowns and budgets.

    ``skipped`` lists the planner's notes (unmet needs, savings below the minimum) first, then
    what the guards held back.
    """
    fleet = sum(len(g.members) for g in inp.groups)
    proposed, notes = _propose(inp)
    kept, skipped = apply_guards(
        proposed, inp.policy.safety, inp.history, inp.now, fleet_size=fleet
    )
    return Plan(created_at=inp.now, commands=kept, skipped=[*notes, *skipped])
