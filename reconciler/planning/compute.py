"""Compute commands for one group: scale its autoscaling groups, resize members.

Scale-out is preferred: it needs no stop/start. A standalone member whose type cannot carry its
share is moved onto the group's autoscaling groups only when their counts, clamped to the
policy's ``max_count``, cover the extra; otherwise it is resized. An autoscaling group that
cannot carry its need even at ``max_count`` has its instance type resized (the cheapest type of
the allowed families that carries the need at ``max_count``); when nothing serves, the group
goes to ``max_count`` and a skipped note says what stays unmet and why.

Resizes that grow capacity are scheduled ahead of the predicted peak by the action's lead time.
A cost-saving resize (the current type already carries the need) is scheduled after the peak
has passed, steps down only to a type that carries the need with ``scale_in_hysteresis`` to
spare, and only for a saving of at least ``min_change_fraction`` of the hourly price.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from policies.actions import ResizeAction, ScaleAction
from providers.models import InstanceType
from reconciler.allocation.models import Allocation, CutReason
from reconciler.planning.models import (
    Command,
    CommandKind,
    Evidence,
    Member,
    PlanGroup,
    PlanInput,
    PlanMetric,
    SkippedCommand,
)
from reconciler.planning.needs import Need, need_of
from reconciler.planning.sizing import cheapest_type, count_needed, type_gbps

__all__ = ["plan_compute"]

Demand = tuple[float, float, float]  # Gbps, vCPU, GiB


@dataclass(frozen=True)
class _Ctx:
    """What every sizing decision of one group reads."""

    inp: PlanInput
    group: PlanGroup
    use_baseline: bool
    net: Need | None
    cpu: Need | None
    mem: Need | None
    ledger: list[str]

    def evidence(self, rule: str) -> Evidence:
        base = self.net or self.cpu or self.mem
        ev = base.evidence if base is not None else Evidence()
        return ev.model_copy(update={"policy_rule": rule, "ledger": self.ledger})


@dataclass(frozen=True)
class _MemberPlan:
    """A standalone member: the resize it gets (if any), or why it cannot get one."""

    member: Member
    short: bool  # its current type cannot carry its share
    command: Command | None = None
    note: SkippedCommand | None = None  # held back (saving too small) or unmet (``blocked``)
    blocked: bool = False  # short, and no resize can serve it


def plan_compute(
    inp: PlanInput, group: PlanGroup, allocation: Allocation | None, ledger: list[str]
) -> tuple[list[Command], list[SkippedCommand]]:
    """Scale and resize commands for ``group``, and notes on what was held back or is unmet."""
    policy = inp.policy
    cls = policy.group_class(group.group_class)
    net = need_of(inp, group, PlanMetric.NETWORK_GBPS)
    cpu = need_of(inp, group, PlanMetric.CPU_VCPU)
    mem = need_of(inp, group, PlanMetric.MEMORY_GIB)
    ctx = _Ctx(inp, group, cls.guarantee_gbps > 0, net, cpu, mem, ledger)
    if allocation is not None and CutReason.NO_POOL in allocation.cut_by_reason:
        allocation = None  # no pool to size by: the forecast itself is the need
    gbps = allocation.allocated_gbps if allocation is not None else (net.value if net else 0.0)
    vcpu = cpu.value if cpu else 0.0
    gib = mem.value if mem else 0.0
    members = group.members
    if not members or (gbps <= 0 and vcpu <= 0 and gib <= 0):
        return [], []
    scale = policy.action(ScaleAction)
    resize = policy.action(ResizeAction)
    share = 1.0 / len(members)
    per_member = (gbps * share, vcpu * share, gib * share)
    asgs = sorted({m.asg_name for m in members if m.asg_name})
    plans = [_member_plan(ctx, m, resize, per_member) for m in members if m.asg_name is None]
    commands: list[Command] = []
    notes: list[SkippedCommand] = []
    shifted: list[_MemberPlan] = []
    if scale is not None and asgs:
        prefer = resize is None or resize.prefer_scale_out
        # a protected member keeps its type and its share (it gets an unmet note, not a shift)
        movable = [p for p in plans if p.short and not p.member.protected and (p.blocked or prefer)]
        in_asgs = sum(1 for m in members if m.asg_name)

        def fracs(moved: list[_MemberPlan]) -> dict[str, float]:
            extra = share * len(moved)
            return {
                asg: sum(1 for m in members if m.asg_name == asg)
                / in_asgs
                * (in_asgs / len(members) + extra)
                for asg in asgs
            }

        def absorbs(moved: list[_MemberPlan]) -> bool:
            counts = [
                _asg_count(ctx, asg, scale, _part((gbps, vcpu, gib), f))
                for asg, f in fracs(moved).items()
            ]
            return all(n is not None and n <= scale.max_count for n in counts)

        if movable and absorbs(movable):
            shifted = movable
        elif movable and absorbs(blocked := [p for p in movable if p.blocked]):
            shifted = blocked
        for asg, frac in fracs(shifted).items():
            c, n = _scale(ctx, asg, scale, resize, _part((gbps, vcpu, gib), frac), bool(shifted))
            commands.extend(c)
            notes.extend(n)
    moved = {id(p) for p in shifted}
    for p in plans:
        if id(p) in moved:
            continue
        if p.command is not None:
            commands.append(p.command)
        if p.note is not None:
            notes.append(p.note)
    return commands, notes


def _part(need: Demand, frac: float) -> Demand:
    return (need[0] * frac, need[1] * frac, need[2] * frac)


def _carries(t: InstanceType, need: Demand, use_baseline: bool) -> bool:
    gbps, vcpu, gib = need
    return (
        type_gbps(t, use_baseline=use_baseline) >= gbps and t.vcpu >= vcpu and t.memory_gib >= gib
    )


def _floored(ctx: _Ctx, current: InstanceType | None, need: Demand) -> Demand:
    """A dimension with no forecast is not shrunk: the current type's figure is its floor."""
    gbps, vcpu, gib = need
    if current is None:
        return need
    if ctx.cpu is None:
        vcpu = max(vcpu, current.vcpu)
    if ctx.mem is None:
        gib = max(gib, current.memory_gib)
    if ctx.net is None and gbps <= 0:
        gbps = type_gbps(current, use_baseline=ctx.use_baseline)
    return gbps, vcpu, gib


def _schedule(ctx: _Ctx, ev: Evidence, action: ResizeAction, grows: bool) -> datetime:
    """Growing: ahead of the peak by the lead time. Shrinking: once the peak (and the lead
    time after it) has passed, so the stop/start never lands on the peak."""
    now, peak = ctx.inp.now, ev.peak_at
    if peak is None or peak <= now:
        return now
    return max(now, peak - action.lead_time) if grows else peak + action.lead_time


def _need_text(need: Demand, use_baseline: bool) -> str:
    figure = "baseline" if use_baseline else "peak"
    return f"{need[0]:.3f} Gbps ({figure}), {need[1]:.2f} vCPU, {need[2]:.2f} GiB"


def _member_plan(
    ctx: _Ctx, member: Member, action: ResizeAction | None, share: Demand
) -> _MemberPlan:
    inp = ctx.inp
    current = inp.catalog.get(member.instance_type)
    need = _floored(ctx, current, share)
    short = current is None or not _carries(current, need, ctx.use_baseline)
    if action is None:
        if current is None or not short:
            return _MemberPlan(member, short=False)
        return _MemberPlan(
            member,
            short=True,
            blocked=True,
            note=_unmet_member(ctx, member, need, "no resize action is enabled"),
        )
    if not short:
        return _shrink(ctx, member, action, share, need)
    if member.protected:
        return _MemberPlan(
            member,
            short=True,
            blocked=True,
            note=_unmet_member(ctx, member, need, "the member is protected"),
        )
    best = _cheapest(ctx, action, need)
    if best is None:
        why = f"no type of {action.families} up to {action.largest_size or 'any size'} fits"
        return _MemberPlan(
            member, short=True, blocked=True, note=_unmet_member(ctx, member, need, why)
        )
    if best.name == member.instance_type:
        return _MemberPlan(member, short=False)
    return _MemberPlan(member, short=True, command=_resize(ctx, member, action, need, best, True))


def _cheapest(ctx: _Ctx, action: ResizeAction, need: Demand) -> InstanceType | None:
    return cheapest_type(
        ctx.inp.catalog,
        action.families,
        gbps=need[0],
        vcpu=need[1],
        memory_gib=need[2],
        largest_size=action.largest_size,
        use_baseline=ctx.use_baseline,
    )


def _shrink(
    ctx: _Ctx, member: Member, action: ResizeAction, share: Demand, need: Demand
) -> _MemberPlan:
    """A cost-saving resize: only with hysteresis to spare and for a large enough saving.

    The smaller type must carry the forecast share with ``scale_in_hysteresis`` to spare
    (dimensions without a forecast keep the current type's figure as their floor).
    """
    safety = ctx.inp.policy.safety
    current = ctx.inp.catalog[member.instance_type]
    if member.protected:
        return _MemberPlan(member, short=False)
    keep = 1 - safety.scale_in_hysteresis
    best = _cheapest(ctx, action, _floored(ctx, current, _part(share, 1 / keep)))
    price = current.hourly_price_usd
    if best is None or best.name == current.name or price is None or not price > 0:
        return _MemberPlan(member, short=False)
    saving = (price - (best.hourly_price_usd or price)) / price
    if saving <= 0:
        return _MemberPlan(member, short=False)
    cmd = _resize(ctx, member, action, need, best, False)
    if saving < safety.min_change_fraction:
        reason = (
            f"saving of {saving:.0%} (${price - (best.hourly_price_usd or price):.4f}/h) is below "
            f"the minimum {safety.min_change_fraction:.0%}"
        )
        return _MemberPlan(member, short=False, note=SkippedCommand(command=cmd, reason=reason))
    return _MemberPlan(member, short=False, command=cmd)


def _resize(
    ctx: _Ctx,
    member: Member,
    action: ResizeAction,
    need: Demand,
    best: InstanceType,
    grows: bool,
) -> Command:
    inp = ctx.inp
    current = inp.catalog.get(member.instance_type)
    ev = ctx.evidence(f"actions.resize families={action.families}")
    price = (current.hourly_price_usd if current else None) or 0.0
    why = "is the cheapest fit" if grows else "is the cheapest fit (cost saving, after the peak)"
    return Command(
        kind=CommandKind.RESIZE,
        target=member.resource_id,
        before={"instance_type": member.instance_type},
        after={"instance_type": best.name},
        reason=f"needs {_need_text(need, ctx.use_baseline)} per member; {best.name} {why}",
        evidence=ev,
        issued_at=inp.now,
        not_before=_schedule(ctx, ev, action, grows),
        group_id=ctx.group.group_id,
        region=member.region,
        increase=grows,
        urgency=abs(type_gbps(best, use_baseline=ctx.use_baseline) - need[0])
        + abs((best.hourly_price_usd or 0.0) - price),
    )


def _unmet_member(ctx: _Ctx, member: Member, need: Demand, why: str) -> SkippedCommand:
    cmd = Command(
        kind=CommandKind.RESIZE,
        target=member.resource_id,
        before={"instance_type": member.instance_type},
        after={"instance_type": None},
        reason=f"needs {_need_text(need, ctx.use_baseline)}; {member.instance_type} falls short",
        evidence=ctx.evidence("actions.resize"),
        issued_at=ctx.inp.now,
        group_id=ctx.group.group_id,
        region=member.region,
        increase=True,
    )
    return SkippedCommand(
        command=cmd,
        reason=f"unmet: {member.resource_id} ({member.instance_type}) cannot carry "
        f"{_need_text(need, ctx.use_baseline)} and is not resized: {why}",
    )


def _asg_type(ctx: _Ctx, asg: str) -> InstanceType | None:
    types = [m.instance_type for m in ctx.group.members if m.asg_name == asg]
    return ctx.inp.catalog.get(types[0]) if types else None


def _count(ctx: _Ctx, t: InstanceType, need: Demand, target: float) -> int:
    return count_needed(
        t,
        gbps=need[0],
        vcpu=need[1],
        memory_gib=need[2],
        target_utilization=target,
        use_baseline=ctx.use_baseline,
    )


def _asg_count(ctx: _Ctx, asg: str, action: ScaleAction, need: Demand) -> int | None:
    """Instances of the ASG's current type the need calls for (None when its type is unknown)."""
    t = _asg_type(ctx, asg)
    return None if t is None else _count(ctx, t, need, action.target_utilization)


def _scale(
    ctx: _Ctx,
    asg: str,
    action: ScaleAction,
    resize: ResizeAction | None,
    need: Demand,
    absorbs_resize: bool,
) -> tuple[list[Command], list[SkippedCommand]]:
    t = _asg_type(ctx, asg)
    if t is None:
        return [], []
    inp = ctx.inp
    current = ctx.group.asg_count(asg)
    target = action.target_utilization
    wanted = _count(ctx, t, need, target)
    if wanted > action.max_count:
        return _beyond_max(ctx, asg, t, action, resize, need, wanted, absorbs_resize)
    if wanted < current:
        # hysteresis: scale in only as far as a lower utilisation target still allows
        lower = target * (1 - inp.policy.safety.scale_in_hysteresis)
        wanted = min(current, max(wanted, _count(ctx, t, need, lower)))
    wanted = max(action.min_count, min(action.max_count, wanted))
    if wanted == current:
        return [], []
    note = " (scale-out instead of resizing standalone members)" if absorbs_resize else ""
    reason = (
        f"{need[0]:.3f} Gbps, {need[1]:.2f} vCPU, {need[2]:.2f} GiB at {target:.0%} of {t.name} "
        f"needs {wanted} instances{note}"
    )
    return [_scale_command(ctx, asg, action, current, wanted, reason)], []


def _scale_command(
    ctx: _Ctx, asg: str, action: ScaleAction, current: int, wanted: int, reason: str
) -> Command:
    rule = (
        f"actions.scale min={action.min_count} max={action.max_count} "
        f"target={action.target_utilization}"
    )
    return Command(
        kind=CommandKind.SCALE,
        target=asg,
        before={"desired": current},
        after={"desired": wanted},
        reason=reason,
        evidence=ctx.evidence(rule),
        issued_at=ctx.inp.now,
        group_id=ctx.group.group_id,
        region=ctx.group.region,
        resources_changed=abs(wanted - current),
        increase=wanted > current,
        urgency=float(wanted - current) * (2.0 if wanted > current else 1.0),
    )


def _beyond_max(
    ctx: _Ctx,
    asg: str,
    t: InstanceType,
    action: ScaleAction,
    resize: ResizeAction | None,
    need: Demand,
    wanted: int,
    absorbs_resize: bool,
) -> tuple[list[Command], list[SkippedCommand]]:
    """The need calls for more than ``max_count`` instances of ``t``: resize the ASG's type to
    one that carries it within ``max_count``, else go to ``max_count`` and note what is unmet."""
    top, target = action.max_count, action.target_utilization
    current = ctx.group.asg_count(asg)
    text = f"{need[0]:.3f} Gbps, {need[1]:.2f} vCPU, {need[2]:.2f} GiB at {target:.0%}"
    best = None
    if resize is not None:
        per = _part(need, 1 / (top * target))
        best = _cheapest(ctx, resize, per)
        if best is not None and best.name == t.name:
            best = None
    if best is not None and resize is not None:
        count = max(action.min_count, min(top, _count(ctx, best, need, target)))
        ev = ctx.evidence(f"actions.resize families={resize.families} (scale at max_count={top})")
        commands = [
            Command(
                kind=CommandKind.RESIZE,
                target=asg,
                before={"instance_type": t.name},
                after={"instance_type": best.name},
                reason=(
                    f"{text} needs {wanted} x {t.name}, above max_count={top}; "
                    f"{count} x {best.name} carry it"
                ),
                evidence=ev,
                issued_at=ctx.inp.now,
                not_before=_schedule(ctx, ev, resize, True),
                group_id=ctx.group.group_id,
                region=ctx.group.region,
                resources_changed=max(1, current),
                increase=True,
                urgency=float(wanted - top) * 2.0,
            )
        ]
        if count != current:
            reason = f"{text} of {best.name} needs {count} instances (with the resize of {asg})"
            commands.append(_scale_command(ctx, asg, action, current, count, reason))
        return commands, []
    why = (
        "no resize action is enabled"
        if resize is None
        else f"no type of {resize.families} up to {resize.largest_size or 'any size'} carries "
        f"it within {top} instances"
    )
    shortfall = _shortfall(ctx, t, need, top * target)
    suffix = " (including standalone members' share)" if absorbs_resize else ""
    unmet = Command(
        kind=CommandKind.SCALE,
        target=asg,
        before={"desired": current},
        after={"desired": wanted},
        reason=f"{text} of {t.name} needs {wanted} instances{suffix}",
        evidence=ctx.evidence(f"actions.scale max={top}"),
        issued_at=ctx.inp.now,
        group_id=ctx.group.group_id,
        region=ctx.group.region,
        resources_changed=abs(wanted - current),
        increase=True,
    )
    notes = [
        SkippedCommand(
            command=unmet,
            reason=f"unmet: {asg} needs {wanted} x {t.name} but actions.scale max_count is {top} "
            f"and {why}; at {top} instances {shortfall} stays unmet",
        )
    ]
    if current >= top:
        return [], notes
    reason = f"{text} of {t.name} needs {wanted} instances; capped at max_count={top}"
    return [_scale_command(ctx, asg, action, current, top, reason)], notes


def _shortfall(ctx: _Ctx, t: InstanceType, need: Demand, units: float) -> str:
    """What ``units`` instances of ``t`` (already scaled by the target) leave uncovered."""
    have = (
        type_gbps(t, use_baseline=ctx.use_baseline) * units,
        t.vcpu * units,
        t.memory_gib * units,
    )
    parts = [
        f"{n - h:.3f} {unit}"
        for n, h, unit in zip(need, have, ("Gbps", "vCPU", "GiB"), strict=True)
        if n > h + 1e-9
    ]
    return ", ".join(parts) or "nothing"
