"""Plan step: groups, forecasts and the allocation -> guarded commands (``reconciler.planning``).

Builds the planner's plain input from the inventory (members' instance types, autoscaling
groups, protected tags), the forecast peaks and the allocator's result, with the commands of
earlier cycles (from the state store) so cooldowns and budgets hold across cycles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import polars as pl

from providers.models import InstanceType, Resource
from reconciler.planning import (
    Command,
    Member,
    MetricForecast,
    PlanGroup,
    PlanInput,
    PlanMetric,
    plan,
)
from reconciler.steps.allocate import BANDWIDTH_METRIC, corrected_result
from reconciler.steps.types import Allocation, CommandView, ForecastSet, GroupSet, Plan

__all__ = ["ASG_TAG", "PROTECTED_TAG", "TENANT_TAG", "plan_groups", "run_plan"]

ASG_TAG = "aws:autoscaling:groupName"
PROTECTED_TAG = "headroom:protected"
TENANT_TAG = "tenant"


def plan_groups(groups: GroupSet, inventory: Sequence[Resource]) -> list[PlanGroup]:
    """Groups as the planner sees them: members with a known instance type."""
    by_id = {r.id: r for r in inventory}
    out = []
    for g in groups.groups:
        members = [
            Member(
                resource_id=r.id,
                instance_type=r.instance_type,
                region=r.region,
                asg_name=r.tags.get(ASG_TAG),
                protected=r.tags.get(PROTECTED_TAG, "").lower() in ("1", "true", "yes"),
            )
            for m in g.members
            if (r := by_id.get(m)) is not None and r.instance_type
        ]
        tenant = g.name if g.kind == "tenant" else None
        out.append(
            PlanGroup(
                group_id=g.id,
                region=g.region,
                members=members,
                group_class=g.group_class,
                tenant=tenant,
            )
        )
    return out


def _forecasts(forecasts: ForecastSet) -> dict[str, dict[PlanMetric, MetricForecast]]:
    frame = forecasts.frame.filter(pl.col("metric") == BANDWIDTH_METRIC)
    if frame.height == 0:
        return {}
    peaks = frame.sort("p90", descending=True).unique("group_id", keep="first")
    return {
        str(r["group_id"]): {
            PlanMetric.NETWORK_GBPS: MetricForecast(
                quantiles={"p50": r["p50"], "p90": r["p90"], "p99": r["p99"]},
                peak_at=r["ts"],
            )
        }
        for r in peaks.iter_rows(named=True)
    }


def _history(state: Any, targets: Sequence[str]) -> list[Command]:
    """Commands of earlier cycles (stored with their full body in ``evidence.command``)."""
    if state is None or not targets:
        return []
    out = []
    for rec in state.commands_for_targets(list(targets), limit=200):
        body = (rec.evidence or {}).get("command")
        if body:
            out.append(Command.model_validate(body))
    return out


def run_plan(
    policy: Any,
    groups: GroupSet,
    forecasts: ForecastSet,
    allocation: Allocation,
    inventory: Sequence[Resource],
    catalog: Mapping[str, InstanceType],
    now: datetime,
    state: Any = None,
) -> Plan:
    pgroups = plan_groups(groups, inventory)
    targets = sorted(
        {m.resource_id for g in pgroups for m in g.members} | {g.id for g in groups.groups}
    )
    inp = PlanInput(
        policy=policy,
        groups=pgroups,
        forecasts=_forecasts(forecasts),
        allocations=corrected_result(allocation),
        catalog=dict(catalog),
        history=_history(state, targets),
        now=now,
    )
    result = plan(inp)
    views = tuple(
        CommandView(
            kind=str(c.kind),
            target=c.target,
            before=c.before,
            after=c.after,
            reason=c.reason,
            status=str(c.status),
            body=c.model_dump(mode="json"),
        )
        for c in result.commands
    )
    return Plan(commands=views, skipped=len(result.skipped), raw=result)
