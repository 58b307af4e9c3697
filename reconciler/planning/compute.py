"""Compute commands for one group: scale its autoscaling groups, resize standalone members.

Scale-out is preferred: it needs no stop/start. A standalone member is resized only when its
current type cannot carry its share and no autoscaling group of the group can absorb the gap.
Resizes that grow capacity are scheduled ahead of the predicted peak by the action's lead time.
"""

from __future__ import annotations

from policies.actions import ResizeAction, ScaleAction
from reconciler.allocation.models import Allocation
from reconciler.planning.models import (
    Command,
    CommandKind,
    Evidence,
    Member,
    PlanGroup,
    PlanInput,
    PlanMetric,
)
from reconciler.planning.needs import Need, need_of
from reconciler.planning.sizing import cheapest_type, count_needed, type_gbps

__all__ = ["plan_compute"]


def _evidence(net: Need | None, extra: list[Need | None], rule: str, ledger: list[str]) -> Evidence:
    base = net or next((n for n in extra if n is not None), None)
    ev = base.evidence if base is not None else Evidence()
    return ev.model_copy(update={"policy_rule": rule, "ledger": ledger})


def plan_compute(
    inp: PlanInput, group: PlanGroup, allocation: Allocation | None, ledger: list[str]
) -> list[Command]:
    """Scale and resize commands for ``group`` (empty when nothing needs to change)."""
    policy = inp.policy
    cls = policy.group_class(group.group_class)
    use_baseline = cls.guarantee_gbps > 0
    net = need_of(inp, group, PlanMetric.NETWORK_GBPS)
    cpu = need_of(inp, group, PlanMetric.CPU_VCPU)
    mem = need_of(inp, group, PlanMetric.MEMORY_GIB)
    gbps = allocation.allocated_gbps if allocation is not None else (net.value if net else 0.0)
    vcpu = cpu.value if cpu else 0.0
    gib = mem.value if mem else 0.0
    members = group.members
    if not members or (gbps <= 0 and vcpu <= 0 and gib <= 0):
        return []
    scale = policy.action(ScaleAction)
    resize = policy.action(ResizeAction)
    share = 1.0 / len(members)
    asgs = sorted({m.asg_name for m in members if m.asg_name})
    standalone = [m for m in members if m.asg_name is None]
    commands: list[Command] = []
    shifted = 0.0  # fraction of the group's need moved from standalone members onto ASGs
    if resize is not None:
        for m in standalone:
            cmd = _resize(
                inp,
                group,
                m,
                resize,
                (gbps * share, vcpu * share, gib * share),
                use_baseline,
                net,
                [cpu, mem],
                ledger,
            )
            if cmd is None:
                continue
            grows = _grows(inp, m.instance_type, cmd.after["instance_type"])
            if grows and asgs and scale is not None and resize.prefer_scale_out:
                shifted += share
                continue
            commands.append(cmd)
    if scale is not None and asgs:
        in_asgs = sum(1 for m in members if m.asg_name)
        for asg in asgs:
            part = sum(1 for m in members if m.asg_name == asg) / in_asgs
            frac = part * (in_asgs / len(members) + shifted)
            cmd = _scale(
                inp,
                group,
                asg,
                scale,
                (gbps * frac, vcpu * frac, gib * frac),
                use_baseline,
                net,
                [cpu, mem],
                ledger,
                shifted > 0,
            )
            if cmd is not None:
                commands.append(cmd)
    return commands


def _grows(inp: PlanInput, before: str, after: str) -> bool:
    a, b = inp.catalog.get(before), inp.catalog.get(after)
    return a is None or b is None or (b.vcpu, b.baseline_gbps) > (a.vcpu, a.baseline_gbps)


def _resize(
    inp: PlanInput,
    group: PlanGroup,
    member: Member,
    action: ResizeAction,
    need: tuple[float, float, float],
    use_baseline: bool,
    net: Need | None,
    extra: list[Need | None],
    ledger: list[str],
) -> Command | None:
    if member.protected:
        return None
    gbps, vcpu, gib = need
    current = inp.catalog.get(member.instance_type)
    if current is not None:
        # a dimension with no forecast is not shrunk: keep the current type's figure as the floor
        if not any(n is not None and n.evidence.metric == "cpu_vcpu" for n in extra):
            vcpu = max(vcpu, current.vcpu)
        if not any(n is not None and n.evidence.metric == "memory_gib" for n in extra):
            gib = max(gib, current.memory_gib)
        if net is None and gbps <= 0:
            gbps = type_gbps(current, use_baseline=use_baseline)
    best = cheapest_type(
        inp.catalog,
        action.families,
        gbps=gbps,
        vcpu=vcpu,
        memory_gib=gib,
        largest_size=action.largest_size,
        use_baseline=use_baseline,
    )
    if best is None or best.name == member.instance_type:
        return None
    ev = _evidence(net, extra, f"actions.resize families={action.families}", ledger)
    not_before = inp.now
    if ev.peak_at is not None and ev.peak_at - action.lead_time > inp.now:
        not_before = ev.peak_at - action.lead_time
    figure = "baseline" if use_baseline else "peak"
    price = (current.hourly_price_usd if current else None) or 0.0
    return Command(
        kind=CommandKind.RESIZE,
        target=member.resource_id,
        before={"instance_type": member.instance_type},
        after={"instance_type": best.name},
        reason=(
            f"needs {gbps:.3f} Gbps ({figure}), {vcpu:.2f} vCPU, {gib:.2f} GiB per member; "
            f"{best.name} is the cheapest fit"
        ),
        evidence=ev,
        issued_at=inp.now,
        not_before=not_before,
        group_id=group.group_id,
        region=member.region,
        increase=_grows(inp, member.instance_type, best.name),
        urgency=abs(type_gbps(best, use_baseline=use_baseline) - gbps)
        + abs((best.hourly_price_usd or 0.0) - price),
    )


def _scale(
    inp: PlanInput,
    group: PlanGroup,
    asg: str,
    action: ScaleAction,
    need: tuple[float, float, float],
    use_baseline: bool,
    net: Need | None,
    extra: list[Need | None],
    ledger: list[str],
    absorbs_resize: bool,
) -> Command | None:
    types = [m.instance_type for m in group.members if m.asg_name == asg]
    t = inp.catalog.get(types[0]) if types else None
    if t is None:
        return None
    gbps, vcpu, gib = need
    current = group.asg_count(asg)
    target = action.target_utilization
    wanted = count_needed(
        t,
        gbps=gbps,
        vcpu=vcpu,
        memory_gib=gib,
        target_utilization=target,
        use_baseline=use_baseline,
    )
    if wanted < current:
        # hysteresis: scale in only as far as a lower utilisation target still allows
        lower = target * (1 - inp.policy.safety.scale_in_hysteresis)
        wanted = max(
            wanted,
            count_needed(
                t,
                gbps=gbps,
                vcpu=vcpu,
                memory_gib=gib,
                target_utilization=lower,
                use_baseline=use_baseline,
            ),
        )
        wanted = min(wanted, current)
    wanted = max(action.min_count, min(action.max_count, wanted))
    if wanted == current:
        return None
    note = " (scale-out instead of resizing standalone members)" if absorbs_resize else ""
    return Command(
        kind=CommandKind.SCALE,
        target=asg,
        before={"desired": current},
        after={"desired": wanted},
        reason=(
            f"{gbps:.3f} Gbps, {vcpu:.2f} vCPU, {gib:.2f} GiB at {target:.0%} of {t.name} "
            f"needs {wanted} instances{note}"
        ),
        evidence=_evidence(
            net,
            extra,
            f"actions.scale min={action.min_count} max={action.max_count} target={target}",
            ledger,
        ),
        issued_at=inp.now,
        group_id=group.group_id,
        region=group.region,
        resources_changed=abs(wanted - current),
        increase=wanted > current,
        urgency=float(wanted - current) * (2.0 if wanted > current else 1.0),
    )
