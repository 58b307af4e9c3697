"""The program body: read and validate the desired state, build components, export outputs.

Validation happens before any resource is declared: a malformed desired state raises
``DesiredStateError`` and the stack is left exactly as it was.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra.components import (
    AzureCompute,
    AzureComputeArgs,
    BandwidthTiers,
    BandwidthTiersArgs,
    CapacityReservations,
    CapacityReservationsArgs,
    EdgeCaches,
    EdgeCachesArgs,
    GcpCompute,
    GcpComputeArgs,
    GroupCompute,
    GroupComputeArgs,
    RegionalRouting,
    RegionalRoutingArgs,
)
from infra.desired_state import (
    CONFIG_KEY,
    CONFIG_NAMESPACE,
    DesiredState,
    DesiredStateError,
    GroupSpec,
    parse_desired_state,
)
from infra.guards import GuardEvent, ScalingCounts, scaling_counts

__all__ = ["CONFIG_KEY", "CONFIG_NAMESPACE", "build", "load_desired_state", "main"]

_FULL_KEY = f"{CONFIG_NAMESPACE}:{CONFIG_KEY}"


def load_desired_state(config: pulumi.Config) -> DesiredState:
    """The validated desired state from stack config; raises ``DesiredStateError``."""
    raw = config.get(CONFIG_KEY)
    if raw is None or not raw.strip():
        raise DesiredStateError(
            f"stack config {_FULL_KEY} is not set: write it with `pulumi config set "
            f'{_FULL_KEY} "$(cat desired.json)"` or let the reconciler\'s actuator write it'
        )
    return parse_desired_state(raw, source=f"stack config {_FULL_KEY}")


def build(desired: DesiredState) -> dict[str, Any]:
    """Declare every component for ``desired`` and return the outputs it exports."""
    events: list[GuardEvent] = []
    instance_types: dict[str, str] = {}
    counts: dict[str, dict[str, int]] = {}
    protected: list[str] = []
    reserved: dict[str, dict[str, int]] = {}
    for group in desired.groups:
        types, group_counts = _group_compute(group, events)
        instance_types.update(types)
        counts.update(
            {
                name: {"desired": c.desired, "min": c.min_size, "max": c.max_size}
                for name, c in group_counts.items()
            }
        )
        if group.capacity_reservations:
            held = CapacityReservations(
                f"{group.id}-reservations", CapacityReservationsArgs(group=group)
            )
            reserved[group.id] = held.reserved
        protected += [i.name for i in group.instances if i.protected]
        protected += [s.name for s in group.scaling_groups if s.protected]
    tiers = BandwidthTiers("bandwidth-tiers", BandwidthTiersArgs(groups=desired.groups))
    caches = EdgeCaches("edge-caches", EdgeCachesArgs(caches=desired.edge_caches, cdn=desired.cdn))
    events += caches.events
    weights: dict[str, dict[str, int]] = {}
    dials: dict[str, dict[str, float]] = {}
    for spec in desired.routing:
        routing = RegionalRouting(spec.name, RegionalRoutingArgs(routing=spec))
        events += routing.events
        weights[spec.name] = {r.region: r.weight for r in routing.routed}
        if spec.listener_arn is not None:
            dials[spec.name] = {r.region: r.traffic_dial for r in routing.routed}
    outputs: dict[str, Any] = {
        "schemaVersion": desired.schema_version,
        "instanceTypes": instance_types,
        "scalingCounts": counts,
        "bandwidthTiers": tiers.tiers,
        "capacityReservations": reserved,
        "edgeCaches": {
            c.replication_group_id: {
                "region": c.region,
                "nodes": caches.nodes[c.replication_group_id],
            }
            for c in desired.edge_caches
        },
        "edgeCachePrewarm": caches.prewarm,  # replication group id -> objects to pre-warm
        "routingWeights": weights,
        "trafficDials": dials,
        "protected": sorted(protected),
        "guardRails": [e.as_dict() for e in events],
    }
    for key, value in outputs.items():
        pulumi.export(key, value)
    return outputs


def _group_compute(
    group: GroupSpec, events: list[GuardEvent]
) -> tuple[dict[str, str], dict[str, ScalingCounts]]:
    """Declare a group's compute, each spec by its cloud's component; the policy minimum is
    met over the whole group. Returns the instance types and the counts declared."""
    count_events: list[GuardEvent] = []
    counts = scaling_counts(group, count_events)
    aws = GroupCompute(group.id, GroupComputeArgs(group=group, counts=counts))
    parts: list[GroupCompute | GcpCompute | AzureCompute] = [aws]
    if any(group.compute_of("gcp")):
        parts.append(GcpCompute(f"{group.id}-gcp", GcpComputeArgs(group=group, counts=counts)))
    if any(group.compute_of("azure")):
        parts.append(
            AzureCompute(f"{group.id}-azure", AzureComputeArgs(group=group, counts=counts))
        )
    types: dict[str, str] = {}
    for part in parts:
        events += part.events
        types.update(part.instance_types)
    events += count_events
    return types, counts


def main() -> dict[str, Any]:
    """Entry point of ``infra/__main__.py``."""
    return build(load_desired_state(pulumi.Config(CONFIG_NAMESPACE)))
