"""Pre-allocation records per user/tenant group (the specification's ``adjustResources``).

Each cycle the predicted need per metric (CPU, memory, network, IO, latency) is compared with
the group's current record; a command moves the record up or down to the new prediction.
"""

from __future__ import annotations

from reconciler.planning.evidence import group_ledger
from reconciler.planning.models import Command, CommandKind, Evidence, PlanInput, PlanMetric
from reconciler.planning.needs import need_of

__all__ = ["PREALLOCATED_METRICS", "adjust_resources"]

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
        after: dict[str, float] = {}
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
        before = {str(m): round(v, 6) for m, v in current.items()}
        if before == after:
            continue
        ups = [m for m, v in after.items() if v > before.get(m, 0.0)]
        downs = [m for m, v in after.items() if m in before and v < before[m]]
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
