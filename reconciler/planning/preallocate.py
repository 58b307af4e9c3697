"""Pre-allocation records per user/tenant group (the specification's ``adjustResources``).

Each cycle the predicted need per metric (CPU, memory, network, IO, latency) is compared with
the group's current record; a command moves the record up or down to the new prediction. The
compute part is provisioned for real: the command carries the EC2 On-Demand Capacity
Reservations that hold it (``reservations``: instances of the group's type per availability
zone, enough for its CPU, memory and network need), which the apply step folds into the desired
state; a drop in the forecast shrinks or releases them, under the same guards and cooldowns as
every command. The network part is the group's bandwidth tier.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

from providers.models import InstanceType
from reconciler.planning.evidence import group_ledger
from reconciler.planning.models import (
    Command,
    CommandKind,
    Evidence,
    PlanGroup,
    PlanInput,
    PlanMetric,
)
from reconciler.planning.needs import need_of

__all__ = ["PREALLOCATED_METRICS", "RESERVATIONS_KEY", "adjust_resources", "reservations_for"]

_UNITS = {"cpu_vcpu": "vCPU", "memory_gib": "GiB", "network_gbps": "Gbps", "io_mbps": "MB/s"}

#: The key of a ``preallocate`` command's ``before``/``after`` holding its capacity reservations.
RESERVATIONS_KEY = "reservations"

PREALLOCATED_METRICS: tuple[PlanMetric, ...] = (
    PlanMetric.CPU_VCPU,
    PlanMetric.MEMORY_GIB,
    PlanMetric.NETWORK_GBPS,
    PlanMetric.IO_MBPS,
    PlanMetric.LATENCY_MS,
)


def adjust_resources(inp: PlanInput) -> list[Command]:
    """One ``preallocate`` command per tenant group, and per user group with a need
    (``inp.users.needs``), whose record differs from the prediction."""
    out = [c for g in inp.groups if g.tenant is not None and (c := _tenant(inp, g)) is not None]
    if inp.users is not None:
        for ug, need in sorted(inp.users.needs.items()):
            cmd = _user_group(inp, ug, need)
            if cmd is not None:
                out.append(cmd)
    return out


def _tenant(inp: PlanInput, group: PlanGroup) -> Command | None:
    """A tenant group's record against its forecasts.

    Latency is recorded as predicted (no headroom: it is a level to watch, not capacity).
    Changes smaller than the policy's minimum change are left to the guards to drop. The
    evidence is the network forecast (else the first metric's) with the group's allocation
    ledger.
    """
    after: dict[str, Any] = {}
    evidence = None
    for metric in PREALLOCATED_METRICS:
        need = need_of(inp, group, metric, headroom=metric != PlanMetric.LATENCY_MS)
        if need is None:
            continue
        after[str(metric)] = round(need.value, 6)
        if evidence is None or metric == PlanMetric.NETWORK_GBPS:
            evidence = need.evidence
    change = _change(inp, group.group_id, after, group)
    if change is None:
        return None
    before, after, direction, ups = change
    return Command(
        kind=CommandKind.PREALLOCATE,
        target=group.group_id,
        before=before,
        after=after,
        reason=f"tenant {group.tenant}: prediction moved {direction or 'the record'}",
        evidence=(evidence or Evidence()).model_copy(
            update={
                "policy_rule": "preallocation per tenant",
                "ledger": group_ledger(inp, group.group_id),
            }
        ),
        issued_at=inp.now,
        group_id=group.group_id,
        region=group.region,
        resources_changed=0,
        urgency=float(len(ups)),
        increase=bool(ups),
    )


def _change(
    inp: PlanInput, target: str, after: dict[str, Any], holder: PlanGroup | None
) -> tuple[dict[str, Any], dict[str, Any], str, list[str]] | None:
    """``getPreAllocation`` for ``target`` set against ``after``: (before, after, direction,
    metrics up), with the capacity reservations on ``holder``'s type and zones; None when
    nothing is predicted or the record already says it (absent record: provision)."""
    if not after:
        return None
    current = inp.preallocations.get(target, {})
    before: dict[str, Any] = {str(m): round(v, 6) for m, v in current.items()}
    if before == after:
        return None
    ups = [m for m, v in after.items() if v > before.get(m, 0.0)]
    downs = [m for m, v in after.items() if m in before and v < before[m]]
    if holder is not None:
        held = reservations_for(holder, before, inp.catalog)
        wanted = reservations_for(holder, after, inp.catalog)
        if held or wanted:
            before = {**before, RESERVATIONS_KEY: held}
            after = {**after, RESERVATIONS_KEY: wanted}
    direction = "up " + ", ".join(ups) if ups else ""
    if downs:
        direction += ("; " if direction else "") + "down " + ", ".join(downs)
    return before, after, direction, ups


def _user_group(inp: PlanInput, ug: str, need: Mapping[str, float]) -> Command | None:
    """A user group's record against its need from the load models (``UserSignals.needs``).

    The need is sized at the provisioning quantile already; the policy's headroom is added
    (absolute Gbps on network) like a tenant's. Its reservations go on the type and zones of
    the application group serving the largest share of it. The reason names the serving groups,
    the forecast rate and the per-request cost; the evidence ledger carries the models' R^2.
    Monitoring: a measured rate (last step) above what the record in force covers (headroom
    included) is said in the reason; acting on it is remediation's.
    """
    users = inp.users
    assert users is not None
    headroom = inp.policy.headroom
    after: dict[str, Any] = {}
    for metric in PREALLOCATED_METRICS:
        value = need.get(str(metric))
        if value is None or metric == PlanMetric.LATENCY_MS:
            continue
        absolute = headroom.absolute_gbps if metric == PlanMetric.NETWORK_GBPS else 0.0
        after[str(metric)] = round(max(0.0, headroom.apply(float(value), absolute=absolute)), 6)
    serving = users.serving.get(ug, {})
    by_id = {g.group_id: g for g in inp.groups}
    ranked = sorted(serving.items(), key=lambda kv: (-kv[1], kv[0]))
    holder = next((by_id[a] for a, _ in ranked if a in by_id), None)
    change = _change(inp, ug, after, holder)
    if change is None:
        return None
    before, after, direction, ups = change
    load = users.load.get(ug)
    served = ", ".join(f"{a} {s:.0%}" for a, s in ranked) or "no known application group"
    parts = [f"user group {ug}: served by {served}"]
    if load is not None:
        parts.append(f"forecast {load.requests_per_s:.1f} req/s")
        costs = [f"{v:.4g} {_UNITS.get(m, m)}" for m, v in load.per_request.items()]
        if costs:
            parts.append("per req/s " + ", ".join(costs))
    reason = "; ".join(parts) + f"; prediction moved {direction or 'the record'}"
    watch = _watch(inp, ug)
    if watch:
        reason += "; " + watch
    ledger = [
        f"load model {a} {m}: held-out R^2 {r2:.2f}"
        for a, fits in sorted((load.r2 if load is not None else {}).items())
        for m, r2 in sorted(fits.items())
    ]
    if holder is not None:
        ledger += group_ledger(inp, holder.group_id)
    return Command(
        kind=CommandKind.PREALLOCATE,
        target=ug,
        before=before,
        after=after,
        reason=reason,
        evidence=Evidence(
            metric="requests_per_s",
            forecast={"requests_per_s": load.requests_per_s} if load is not None else {},
            policy_rule="preallocation per user group",
            ledger=ledger,
        ),
        issued_at=inp.now,
        group_id=ug,
        region=holder.region if holder is not None else None,
        resources_changed=0,
        urgency=float(len(ups)),
        increase=bool(ups),
    )


def _watch(inp: PlanInput, ug: str) -> str:
    """Monitor usage: '' unless the measured rate of ``ug`` is above the rate its record in
    force covers (the record over the per-request cost, the tightest metric; the record holds
    the headroom, so this is the measured rate exceeding the sized rate by more than it)."""
    users = inp.users
    load = users.load.get(ug) if users is not None else None
    record = inp.preallocations.get(ug, {})
    if load is None or load.measured_per_s is None or not record:
        return ""
    covers = [
        float(v) / load.per_request[str(m)]
        for m, v in record.items()
        if load.per_request.get(str(m), 0.0) > 0
    ]
    if not covers or load.measured_per_s <= min(covers):
        return ""
    return (
        f"usage: measured {load.measured_per_s:.1f} req/s (last step) is above the "
        f"{min(covers):.1f} req/s its record covers with headroom"
    )


def reservations_for(
    group: PlanGroup, need: Mapping[str, Any], catalog: Mapping[str, InstanceType]
) -> list[dict[str, Any]]:
    """Capacity reservations holding ``need`` (metric name -> value, with headroom): instances
    of the group's most common type, enough for its vCPU, memory and network need, spread over
    the zones its members run in by how many run there (largest remainder). Empty when the
    type or the zones are unknown, or nothing is needed."""
    types = Counter(m.instance_type for m in group.members if m.zone)
    if not types:
        return []
    name = types.most_common(1)[0][0]
    t = catalog.get(name)
    if t is None:
        return []
    units = [
        float(need.get(str(PlanMetric.CPU_VCPU), 0.0)) / t.vcpu,
        float(need.get(str(PlanMetric.MEMORY_GIB), 0.0)) / t.memory_gib,
    ]
    if t.baseline_gbps > 0:
        units.append(float(need.get(str(PlanMetric.NETWORK_GBPS), 0.0)) / t.baseline_gbps)
    count = math.ceil(max(units) - 1e-9)
    if count <= 0:
        return []
    zones = Counter(m.zone for m in group.members if m.zone and m.instance_type == name)
    total = sum(zones.values())
    shares = {z: count * n / total for z, n in zones.items()}
    counts = {z: math.floor(v) for z, v in shares.items()}
    for z in sorted(shares, key=lambda z: (counts[z] - shares[z], z))[
        : count - sum(counts.values())
    ]:
        counts[z] += 1
    return [
        {"zone": z, "instance_type": name, "count": n} for z, n in sorted(counts.items()) if n > 0
    ]
