"""Plan step: groups, forecasts and the allocation -> guarded commands (``reconciler.planning``).

Builds the planner's plain input from the inventory (members' instance types, autoscaling
groups, protected tags), every forecast metric the planner knows, the allocator's result and
what is in force now (``reconciler.steps.current``), with the commands of earlier cycles (from
the state store) so cooldowns and budgets hold across cycles: cooldowns count from the
commands that were applied, from when they were applied. Commands still waiting from earlier
cycles (scheduled, approved) are carried into this cycle's plan, kept, or superseded by a
change that survives the guards (``reconciler.steps.carry``).

What is sized now is each group's peak over the provisioning window
(``reconciler.steps.allocate.provisioning_window``: to the next cycle plus the longest lead
time), like the allocation: scale counts, tiers, caches, pre-allocations and resizes needed now.
The forecast's full horizon (past the near term: the look-ahead model's hourly peaks) looks
further ahead for one thing only: when a group's highest forecast lies beyond the window, the
planner is run again on that peak (its quantiles and its time) and the *growing resizes* it
schedules ahead of the peak by their lead time are added (``lookahead_forecasts``), so a
stop/start lands before the peak without holding it all day.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from policies.actions import EdgeCacheAction, RoutingAction
from providers.models import InstanceType, Resource, ScalingGroup
from reconciler.logs import get_logger
from reconciler.planning import (
    Command,
    CommandKind,
    Member,
    MetricForecast,
    PlanGroup,
    PlanInput,
    PlanMetric,
    adjust_resources,
    plan,
    propose,
    with_lookahead,
)
from reconciler.steps.allocate import corrected_result, in_window, provisioning_window
from reconciler.steps.carry import resolve_pending
from reconciler.steps.current import CurrentState, current_state, drift_of
from reconciler.steps.types import (
    Allocation,
    CommandView,
    Drift,
    ForecastSet,
    GroupSet,
    Plan,
)
from reconciler.users.models import UserSignals

__all__ = [
    "ASG_TAG",
    "PROTECTED_TAG",
    "TENANT_TAG",
    "history_targets",
    "lookahead_forecasts",
    "plan_forecasts",
    "plan_groups",
    "plan_view",
    "run_plan",
]

ASG_TAG = "aws:autoscaling:groupName"
PROTECTED_TAG = "headroom:protected"
TENANT_TAG = "tenant"
_PLAN_METRICS = {str(m): m for m in PlanMetric}
log = get_logger(__name__)


def plan_groups(
    groups: GroupSet,
    inventory: Sequence[Resource],
    current: CurrentState | None = None,
    scaling: Sequence[ScalingGroup] = (),
) -> list[PlanGroup]:
    """Groups as the planner sees them: members with a known instance type, settings in force.
    A member's scaling group is its ASG tag, else the group of ``scaling`` listing it (a GCP
    MIG, an Azure scale set: their members carry no ASG tag)."""
    current = current or CurrentState()
    by_id = {r.id: r for r in inventory}
    member_of = {i: g.name for g in scaling for i in g.instance_ids}
    out = []
    for g in groups.groups:
        members = [
            Member(
                resource_id=r.id,
                instance_type=r.instance_type,
                region=r.region,
                asg_name=r.tags.get(ASG_TAG) or member_of.get(r.id),
                protected=r.tags.get(PROTECTED_TAG, "").lower() in ("1", "true", "yes"),
                zone=r.zone,
            )
            for m in g.members
            if (r := by_id.get(m)) is not None and r.instance_type
        ]
        tenant = g.name if g.kind == "tenant" else None
        asgs = {m.asg_name for m in members if m.asg_name}
        out.append(
            PlanGroup(
                group_id=g.id,
                region=g.region,
                members=members,
                group_class=g.group_class,
                tenant=tenant,
                bandwidth_tier=current.tiers.get(g.id),
                asg_desired={a: n for a, n in current.asg_desired.items() if a in asgs},
            )
        )
    return out


def plan_forecasts(
    forecasts: ForecastSet, until: datetime | None = None
) -> dict[str, dict[PlanMetric, MetricForecast]]:
    """Each group's peak (highest p90) of every metric the planner reads, with when it is
    expected: over the window up to ``until`` (the provisioning window; the near-term model's
    rows only), or the whole horizon when ``until`` is None."""
    if until is None:
        frame = _planned(forecasts.frame)
    else:
        frame = in_window(_planned(forecasts.near_term()), until)
    return _peaks(frame)


def lookahead_forecasts(
    forecasts: ForecastSet, until: datetime
) -> dict[str, dict[PlanMetric, MetricForecast]]:
    """The (group, metric) peaks that lie beyond the window to ``until`` and above its peak:
    that peak's quantiles and time, for resizes scheduled ahead of it. Past the near term the
    rows are the look-ahead model's hourly peaks, timed at their hour's start: a resize ahead
    of one lands before any step of that hour."""
    frame = _planned(forecasts.frame)
    near = _peaks(in_window(_planned(forecasts.near_term()), until))
    out: dict[str, dict[PlanMetric, MetricForecast]] = {}
    for gid, metrics in _peaks(frame).items():
        for metric, fc in metrics.items():
            now_fc = near.get(gid, {}).get(metric)
            beyond = fc.peak_at is not None and fc.peak_at > until
            if beyond and (now_fc is None or fc.quantiles["p90"] > now_fc.quantiles["p90"]):
                out.setdefault(gid, {})[metric] = fc
    return out


def _planned(frame: pl.DataFrame) -> pl.DataFrame:
    if frame.height == 0:
        return frame
    unknown = sorted(set(frame["metric"].unique().to_list()) - set(_PLAN_METRICS))
    if unknown:
        log.info("forecast_metrics_not_planned", metrics=unknown)
    return frame.filter(pl.col("metric").is_in(list(_PLAN_METRICS)))


def _peaks(frame: pl.DataFrame) -> dict[str, dict[PlanMetric, MetricForecast]]:
    """Per group and metric, the row with the highest p90 (the earliest of equal ones)."""
    if frame.height == 0:
        return {}
    peaks = frame.sort(["p90", "ts"], descending=[True, False]).unique(
        ["group_id", "metric"], keep="first"
    )
    out: dict[str, dict[PlanMetric, MetricForecast]] = {}
    for r in peaks.iter_rows(named=True):
        out.setdefault(str(r["group_id"]), {})[_PLAN_METRICS[str(r["metric"])]] = MetricForecast(
            quantiles={"p50": r["p50"], "p90": r["p90"], "p99": r["p99"]}, peak_at=r["ts"]
        )
    return out


def history_targets(policy: Any, groups: GroupSet, pgroups: Sequence[PlanGroup]) -> list[str]:
    """Every target a command of this plan can have: members, ASGs, groups (tier and tenant
    pre-allocation), edge caches per region and the routing record."""
    targets = {m.resource_id for g in pgroups for m in g.members}
    targets |= {m.asg_name for g in pgroups for m in g.members if m.asg_name}
    targets |= {g.id for g in groups.groups}
    targets |= {u.id for u in groups.users}  # their pre-allocations
    cache = policy.action(EdgeCacheAction)
    if cache is not None:
        targets |= {f"edge-cache/{r}" for r in cache.regions}
    routing = _routing_target(policy)
    if routing is not None:
        targets.add(routing)
    return sorted(targets)


def _routing_target(policy: Any) -> str | None:
    routing = policy.action(RoutingAction)
    return None if routing is None else f"{routing.mechanism}/{routing.record}"


def _history(state: Any, targets: Sequence[str], since: datetime) -> list[Command]:
    """Changes that went out in earlier cycles: the applied commands (stored with their full
    body in ``evidence.command``), each dated when it was applied.

    Cooldowns count from applied changes only: a command planned, held, superseded, or still
    waiting (scheduled, awaiting or given approval) changed nothing. One applied late (a
    scheduled or approved command carried into a later cycle) is dated by that cycle (the
    record's ``updated_at``), not by when it was first planned.
    """
    if state is None or not targets:
        return []
    out = []
    found = state.commands_for_targets(list(targets), limit=5000, since=since, statuses=_APPLIED)
    for rec in found:
        body = (rec.evidence or {}).get("command")
        if body:
            cmd = Command.model_validate(body)
            applied_at = rec.updated_at or rec.created_at
            if applied_at is not None and applied_at > cmd.issued_at:
                cmd = cmd.model_copy(update={"issued_at": applied_at})
            out.append(cmd)
    return out


def _longest_cooldown(policy: Any) -> timedelta:
    safety = policy.safety
    return max([safety.default_cooldown, *safety.cooldowns.values()])


def plan_view(
    c: Command, *, status: str | None = None, command_id: int | None = None
) -> CommandView:
    """A planner command as the plan step hands it on (its full body kept for the record)."""
    return CommandView(
        kind=str(c.kind),
        target=c.target,
        before=c.before,
        after=c.after,
        reason=c.reason,
        status=status or str(c.status),
        body=c.model_dump(mode="json"),
        id=command_id,
    )


def run_plan(
    policy: Any,
    groups: GroupSet,
    forecasts: ForecastSet,
    allocation: Allocation,
    inventory: Sequence[Resource],
    catalog: Mapping[str, InstanceType],
    now: datetime,
    state: Any = None,
    scaling: Sequence[ScalingGroup] = (),
    users: UserSignals | None = None,
) -> Plan:
    """Commands for the provisioning window, plus growing resizes scheduled ahead of peaks
    beyond it (``reconciler.planning.with_lookahead``), against the commands still waiting
    from earlier cycles.
    ``scaling``: the autoscaling groups as the cloud reports them (counts in force, drift);
    ``users``: what request logs say (caches, routing, user groups' pre-allocations)."""
    current = current_state(state, _routing_target(policy), scaling)
    drift = drift_of(current, scaling, policy.safety.on_drift)
    for d in drift:
        log.warning("drift", kind=d.kind, target=d.target, applied=d.applied, observed=d.observed)
    pgroups = plan_groups(groups, inventory, current, scaling)
    targets = history_targets(policy, groups, pgroups)
    history = _history(state, targets, now - _longest_cooldown(policy))
    until = now + provisioning_window(policy, now)
    inp = PlanInput(
        policy=policy,
        groups=pgroups,
        forecasts=plan_forecasts(forecasts, until),
        allocations=corrected_result(allocation),
        catalog=dict(catalog),
        history=history,
        now=now,
        edge_nodes=current.edge_nodes,
        routing_weights=current.routing_weights,
        preallocations=current.preallocations,
        users=users,
    )
    result, early = with_lookahead(inp, plan(inp), lookahead_forecasts(forecasts, until))
    pending = [] if state is None else state.list_commands(_PENDING, limit=1000)
    proposed = [*propose(inp), *early] if pending else []
    resolved = resolve_pending(pending, proposed, result.commands)
    if resolved.kept:
        log.info("waiting_commands_kept", commands=[f"{i}: {why}" for i, why in resolved.kept])
    views = [plan_view(c.command, status=c.status, command_id=c.id) for c in resolved.carried]
    views += [
        plan_view(c) for c in result.commands if (str(c.kind), c.target) not in resolved.duplicates
    ]
    planned = {(v.kind, v.target) for v in views}
    views += [
        plan_view(_restore(d, groups, inventory, now))
        for d in drift
        if d.action == "restore" and ("scale", d.target) not in planned
    ]
    needs = {
        c.target: dict(c.after)
        for c in adjust_resources(inp.model_copy(update={"preallocations": {}}))
    }
    return Plan(
        commands=tuple(views),
        skipped=len(result.skipped),
        result=result,
        superseded=tuple(resolved.superseded),
        history=tuple(history),
        preallocation_needs=needs,
        preallocations={
            g: {str(m): v for m, v in r.items()} for g, r in current.preallocations.items()
        },
        tiers_in_force=dict(current.tiers),
        drift=tuple(drift),
        users=users,
    )


def _restore(d: Drift, groups: GroupSet, inventory: Sequence[Resource], now: datetime) -> Command:
    """A scale command putting an autoscaling group back to the count Headroom applied."""
    asg_of = {r.id: r.tags.get(ASG_TAG) for r in inventory}
    owner = next(
        (g for g in groups.groups if any(asg_of.get(m) == d.target for m in g.members)), None
    )
    before, after = int(d.observed["desired"]), int(d.applied["desired"])
    return Command(
        kind=CommandKind.SCALE,
        target=d.target,
        before={"desired": before},
        after={"desired": after},
        reason=f"drift: {d.text()}; restored as safety.on_drift says",
        issued_at=now,
        group_id=owner.id if owner else None,
        region=owner.region if owner else None,
        resources_changed=abs(after - before),
        increase=after > before,
    )


_PENDING = ("scheduled", "approved", "needs_approval")
_APPLIED = ("applied",)
