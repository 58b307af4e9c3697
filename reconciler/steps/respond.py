"""Remediation acts through the same path as the plan: its decisions become commands, go through
the planner's guards and the apply step, and land in the desired state.

- ``borrow`` changes a group's grant: the bandwidth tiers in the desired state are restated
  from the corrected allocation (the rate a shaper applies is the grant in force).
- ``scale`` is what borrowing could not cover: the planner is run for those groups with their
  network need raised to the remediation's target, and the scale-outs, resizes and tier changes
  it proposes (after cooldowns and budgets, counting what this cycle's plan already applied) are
  applied on top of the desired state the apply step produced.

Nothing here decides anything the planner would not: only the need is raised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

import polars as pl

from infra.desired_state import DesiredState
from policies.schema import Policy
from providers.models import InstanceType, Resource, ScalingGroup
from reconciler.context import RunContext
from reconciler.planning import Command, CommandKind, PlanInput, plan, raised_allocation
from reconciler.remediation.types import ActionKind, RemediationResult
from reconciler.steps.allocate import BANDWIDTH_METRIC, corrected_result, provisioning_window
from reconciler.steps.apply import run_apply
from reconciler.steps.current import CurrentState
from reconciler.steps.plan import plan_forecasts, plan_groups, plan_view
from reconciler.steps.types import ApplyResult, ForecastSet, GroupSet, Plan

__all__ = ["act_on_remediation", "raised_forecasts"]

#: What a remediation scale may change: capacity and the group's bandwidth class.
_KINDS = (CommandKind.SCALE, CommandKind.RESIZE, CommandKind.BANDWIDTH_TIER)


def raised_forecasts(
    forecasts: ForecastSet, targets: Mapping[str, float], policy: Policy
) -> ForecastSet:
    """``forecasts`` with each target group's bandwidth quantiles raised so that, with the
    policy's headroom added, the need is at least the target (Gbps)."""
    if not targets:
        return forecasts
    rel, extra = policy.headroom.relative, policy.headroom.absolute_gbps
    floor = {g: max(0.0, (t - extra) / (1 + rel)) for g, t in targets.items()}
    lift = pl.DataFrame(
        {"group_id": list(floor), "_floor": list(floor.values())},
        schema={"group_id": pl.String, "_floor": pl.Float64},
    )
    frame = forecasts.frame.join(lift, on="group_id", how="left")
    hit = (pl.col("metric") == BANDWIDTH_METRIC) & pl.col("_floor").is_not_null()
    frame = frame.with_columns(
        [
            pl.when(hit).then(pl.max_horizontal(q, "_floor")).otherwise(pl.col(q)).alias(q)
            for q in ("p50", "p90", "p99")
        ]
    ).drop("_floor")
    return replace(forecasts, frame=frame)


def _after_apply(
    inventory: Sequence[Resource], scaling: Sequence[ScalingGroup], desired: DesiredState | None
) -> tuple[list[Resource], list[ScalingGroup]]:
    """The fleet as the apply step left it: its instance types and counts in force."""
    if desired is None:
        return list(inventory), list(scaling)
    types = {
        i.import_id: i.instance_type for g in desired.groups for i in g.instances if i.import_id
    }
    counts = {s.physical_name: s.desired for g in desired.groups for s in g.scaling_groups}
    fleet = [
        r.model_copy(update={"instance_type": types[r.id]}) if r.id in types else r
        for r in inventory
    ]
    asgs = [
        g.model_copy(update={"desired": counts[g.name]}) if g.name in counts else g for g in scaling
    ]
    return fleet, asgs


def _applied_now(plan_: Plan, applied: ApplyResult | None) -> list[Command]:
    """This cycle's plan commands that reached the stack (their cooldowns start now)."""
    if applied is None or len(applied.outcomes) != len(plan_.commands):
        return []
    return [
        Command.model_validate(v.body)
        for v, o in zip(plan_.commands, applied.outcomes, strict=True)
        if o.status == "applied" and v.body
    ]


def act_on_remediation(
    ctx: RunContext,
    result: RemediationResult,
    groups: GroupSet,
    forecasts: ForecastSet,
    plan_: Plan | None,
    applied: ApplyResult | None,
    inventory: Sequence[Resource],
    scaling: Sequence[ScalingGroup],
    catalog: Mapping[str, InstanceType],
) -> RemediationResult:
    """Turn remediation's borrow and scale into stack changes through the planner's guards and
    the apply step; the result carries the commands and what became of them."""
    targets = {
        a.group_id: a.after_gbps
        for a in result.actions
        if a.kind is ActionKind.SCALE and a.after_gbps is not None
    }
    borrowed = any(a.kind is ActionKind.BORROW for a in result.actions)
    if (not targets and not borrowed) or result.allocation is None or plan_ is None:
        return result
    policy = ctx.policy
    now: datetime = ctx.clock.now()
    fleet, asgs = _after_apply(inventory, scaling, applied.desired if applied else None)
    commands: list[Command] = []
    skipped = 0
    history = [*plan_.history, *_applied_now(plan_, applied)]
    if targets:
        wanted = GroupSet(tuple(g for g in groups.groups if g.id in targets))
        current = CurrentState(
            tiers=dict(plan_.tiers_in_force), asg_desired={g.name: g.desired for g in asgs}
        )
        until = now + provisioning_window(policy, now)
        inp = PlanInput(
            policy=policy,
            groups=plan_groups(wanted, fleet, current, asgs),
            forecasts=plan_forecasts(raised_forecasts(forecasts, targets, policy), until),
            allocations=corrected_result(result.allocation),
            catalog=dict(catalog),
            history=history,
            now=now,
        )
        # compute is sized to the grant; here to the need borrowing could not cover (within
        # the class ceiling), as for a peak beyond the provisioning window
        planned = plan(inp.model_copy(update={"allocations": raised_allocation(inp)}))
        # one command per target a cycle: where the plan already has one, that one stands
        taken = {(v.kind, v.target) for v in plan_.commands}
        commands = [
            c.model_copy(update={"reason": f"remediation: {c.reason}"})
            for c in planned.commands
            if c.kind in _KINDS and (str(c.kind), c.target) not in taken
        ]
        skipped = len(planned.skipped) + len(planned.commands) - len(commands)
    rem_plan = Plan(
        commands=tuple(plan_view(c) for c in commands),
        skipped=skipped,
        history=tuple(history),
        tiers_in_force=dict(plan_.tiers_in_force),
    )
    rem_applied = run_apply(
        ctx,
        rem_plan,
        groups,
        result.allocation,
        fleet,
        asgs,
        base=applied.desired if applied is not None else None,
    )
    return replace(result, plan=rem_plan, applied=rem_applied)
