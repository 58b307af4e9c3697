"""What is in force now, for the planner's "before": tiers, ASG counts, caches, routing, records.

The inventory says which instance type each member runs, and the provider's autoscaling
groups their desired counts (read back each cycle: the cloud's value, not Headroom's memory).
The rest is not reported by the provider, so it is read from the state store: the newest
*applied* command per target (the actuator wrote its ``after`` into the stack) and the newest
pre-allocation record of a succeeded cycle. Without a state store everything else is unknown
(the planner's defaults). Where the cloud's count differs from the last applied one, that is
drift (``drift_of``): reported, and adopted or restored as the policy says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from providers.models import ScalingGroup
from reconciler.planning import PlanMetric
from reconciler.steps.types import Drift

__all__ = [
    "PREALLOCATION_COLUMNS",
    "SETTING_KINDS",
    "CurrentState",
    "allocated_of",
    "current_state",
    "drift_of",
    "pre_allocation_record",
]

#: Command kinds whose last applied ``after`` is the setting in force.
SETTING_KINDS = ("bandwidth_tier", "edge_cache", "routing", "scale")

#: PlanMetric -> (need column, allocated column) of the state store's pre-allocation record.
PREALLOCATION_COLUMNS: dict[PlanMetric, tuple[str, str]] = {
    PlanMetric.CPU_VCPU: ("cpu_need", "cpu_allocated"),
    PlanMetric.MEMORY_GIB: ("memory_need_gib", "memory_allocated_gib"),
    PlanMetric.NETWORK_GBPS: ("network_need_gbps", "network_allocated_gbps"),
    PlanMetric.IO_MBPS: ("io_need_mbps", "io_allocated_mbps"),
    PlanMetric.LATENCY_MS: ("latency_need_ms", "latency_allocated_ms"),
}


@dataclass(frozen=True)
class CurrentState:
    tiers: dict[str, str] = field(default_factory=dict)  # group id -> tier name
    asg_desired: dict[str, int] = field(default_factory=dict)  # ASG name -> desired count
    edge_nodes: dict[str, int] = field(default_factory=dict)  # region -> cache nodes
    routing_weights: dict[str, int] = field(default_factory=dict)  # region -> weight
    preallocations: dict[str, dict[PlanMetric, float]] = field(default_factory=dict)
    #: ASG name -> the desired count Headroom last applied (to tell drift)
    applied_asg: dict[str, int] = field(default_factory=dict)


def current_state(
    state: Any, routing_target: str | None = None, scaling: Sequence[ScalingGroup] = ()
) -> CurrentState:
    """The settings in force: autoscaling counts as the cloud reports them (``scaling``), the
    rest according to ``state`` (a ``StateStore``, or None)."""
    cloud = {g.name: g.desired for g in scaling}
    if state is None:
        return CurrentState(asg_desired=cloud)
    applied = state.last_applied(SETTING_KINDS)
    tiers: dict[str, str] = {}
    asgs: dict[str, int] = {}
    nodes: dict[str, int] = {}
    weights: dict[str, int] = {}
    for (kind, target), rec in applied.items():
        after = rec.after if isinstance(rec.after, dict) else {}
        if kind == "bandwidth_tier" and after.get("tier") is not None:
            tiers[target] = str(after["tier"])
        elif kind == "scale" and "desired" in after:
            asgs[target] = int(after["desired"])
        elif kind == "edge_cache" and "nodes" in after:
            nodes[target.removeprefix("edge-cache/")] = int(after["nodes"])
        elif kind == "routing" and target == routing_target:
            weights = {str(r): int(w) for r, w in (after.get("weights") or {}).items()}
    records = state.latest_pre_allocations()
    return CurrentState(
        tiers=tiers,
        asg_desired={**asgs, **cloud},
        applied_asg=asgs,
        edge_nodes=nodes,
        routing_weights=weights,
        preallocations={g: allocated_of(r) for g, r in records.items() if allocated_of(r)},
    )


def drift_of(current: CurrentState, scaling: Sequence[ScalingGroup], on_drift: str) -> list[Drift]:
    """Autoscaling groups whose count in the cloud is not the one Headroom last applied."""
    out = []
    for g in scaling:
        applied = current.applied_asg.get(g.name)
        if applied is not None and applied != g.desired:
            out.append(
                Drift("scale", g.name, {"desired": applied}, {"desired": g.desired}, on_drift)
            )
    return out


def allocated_of(record: Any) -> dict[PlanMetric, float]:
    """The record in force of a stored pre-allocation (metrics never recorded are absent)."""
    out = {}
    for metric, (_, column) in PREALLOCATION_COLUMNS.items():
        value = getattr(record, column, None)
        if value is not None:
            out[metric] = float(value)
    return out


def pre_allocation_record(
    group_id: str, need: Mapping[str, float], allocated: Mapping[str, float]
) -> Any:
    """A ``PreAllocationRecord`` from metric-name maps (a metric in neither is NULL)."""
    from reconciler.state import PreAllocationRecord

    values: dict[str, float | None] = {}
    for metric, (need_col, alloc_col) in PREALLOCATION_COLUMNS.items():
        values[need_col] = need.get(str(metric))
        values[alloc_col] = allocated.get(str(metric))
    return PreAllocationRecord(
        group_id=group_id,
        cpu_need=values["cpu_need"],
        cpu_allocated=values["cpu_allocated"],
        memory_need_gib=values["memory_need_gib"],
        memory_allocated_gib=values["memory_allocated_gib"],
        network_need_gbps=values["network_need_gbps"],
        network_allocated_gbps=values["network_allocated_gbps"],
        io_need_iops=None,
        io_allocated_iops=None,
        latency_need_ms=values["latency_need_ms"],
        latency_allocated_ms=values["latency_allocated_ms"],
        io_need_mbps=values["io_need_mbps"],
        io_allocated_mbps=values["io_allocated_mbps"],
    )
