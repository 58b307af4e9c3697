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
    """One ``preallocate`` command per tenant group whose record differs from the prediction.

    Latency is recorded as predicted (no headroom: it is a level to watch, not capacity).
    Changes smaller than the policy's minimum change are left to the guards to drop. The
    evidence is the network forecast (else the first metric's) with the group's allocation
    ledger.
    """
    out = []
    for group in inp.groups:
        if group.tenant is None:
            continue
        current = inp.preallocations.get(group.group_id, {})
        after: dict[str, Any] = {}
        evidence = None
        for metric in PREALLOCATED_METRICS:
            need = need_of(inp, group, metric, headroom=metric != PlanMetric.LATENCY_MS)
            if need is None:
                continue
            after[str(metric)] = round(need.value, 6)
            if evidence is None or metric == PlanMetric.NETWORK_GBPS:
                evidence = need.evidence
        if not after:
            continue
        before: dict[str, Any] = {str(m): round(v, 6) for m, v in current.items()}
        if before == after:
            continue
        ups = [m for m, v in after.items() if v > before.get(m, 0.0)]
        downs = [m for m, v in after.items() if m in before and v < before[m]]
        held = reservations_for(group, before, inp.catalog)
        wanted = reservations_for(group, after, inp.catalog)
        if held or wanted:
            before = {**before, RESERVATIONS_KEY: held}
            after = {**after, RESERVATIONS_KEY: wanted}
        direction = "up " + ", ".join(ups) if ups else ""
        if downs:
            direction += ("; " if direction else "") + "down " + ", ".join(downs)
        out.append(
            Command(
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
        )
    return out


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
