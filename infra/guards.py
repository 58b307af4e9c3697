"""Guard rails the program applies to the desired state before declaring anything.

Pure functions with no Pulumi import, so ``headroom plan`` (our own diff) shows exactly what the
program would declare. Rules: never below a policy minimum (group instance count, cache nodes,
routing share), never resize a protected resource (it keeps its current type). Every time a rule
changes a requested value a ``GuardEvent`` says which, and the program exports them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from infra.desired_state import (
    EdgeCacheSpec,
    GroupSpec,
    InstanceSpec,
    RoutingSpec,
    ScalingGroupSpec,
)

__all__ = [
    "TOTAL_WEIGHT",
    "GuardEvent",
    "RoutedRegion",
    "ScalingCounts",
    "cache_nodes",
    "instance_type_for",
    "route_weights",
    "scaling_counts",
]

#: Route 53 weights of one routed record set always sum to this (so a weight reads as a percent).
TOTAL_WEIGHT = 100


@dataclass(frozen=True, slots=True)
class GuardEvent:
    """A requested value a guard rail changed: where, which rule, what was asked, what is kept."""

    resource: str
    rule: str
    requested: str
    applied: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ScalingCounts:
    desired: int
    min_size: int
    max_size: int


@dataclass(frozen=True, slots=True)
class RoutedRegion:
    region: str
    weight: int
    traffic_dial: float


def instance_type_for(
    spec: InstanceSpec | ScalingGroupSpec, events: list[GuardEvent]
) -> str | None:
    """The type to declare: the desired one, or the current one when the resource is protected."""
    if spec.instance_type is None:
        return None
    if spec.protected and spec.current_instance_type is not None:
        if spec.instance_type != spec.current_instance_type:
            events.append(
                GuardEvent(
                    resource=spec.name,
                    rule="protected: never resized",
                    requested=spec.instance_type,
                    applied=spec.current_instance_type,
                )
            )
        return spec.current_instance_type
    return spec.instance_type


def scaling_counts(group: GroupSpec, events: list[GuardEvent]) -> dict[str, ScalingCounts]:
    """Counts per scaling group, raised so the group runs at least its policy ``min_count``.

    Standalone instances count towards the minimum; a shortfall is added to the group's first
    scaling group (desired and min raised, max widened if needed). A group with no scaling group
    that is short is reported, since the program has no template to start instances from.
    """
    counts = {
        s.name: ScalingCounts(s.desired, s.min_size, s.max_size) for s in group.scaling_groups
    }
    floor_running = len(group.instances) + sum(c.min_size for c in counts.values())
    shortfall = group.min_count - floor_running
    if shortfall <= 0:
        return counts
    if not group.scaling_groups:
        events.append(
            GuardEvent(
                resource=group.id,
                rule="policy minimum unmet: group has no scaling group to grow",
                requested=str(len(group.instances)),
                applied=str(len(group.instances)),
            )
        )
        return counts
    first = group.scaling_groups[0]
    old = counts[first.name]
    new_min = old.min_size + shortfall
    new = ScalingCounts(
        desired=max(old.desired, new_min),
        min_size=new_min,
        max_size=max(old.max_size, new_min),
    )
    counts[first.name] = new
    events.append(
        GuardEvent(
            resource=first.name,
            rule=f"policy minimum: group {group.id} runs at least {group.min_count}",
            requested=f"desired={old.desired} min={old.min_size} max={old.max_size}",
            applied=f"desired={new.desired} min={new.min_size} max={new.max_size}",
        )
    )
    return counts


def cache_nodes(cache: EdgeCacheSpec, events: list[GuardEvent]) -> int:
    """Node count of an edge cache, never below its policy minimum."""
    if cache.num_nodes >= cache.min_nodes:
        return cache.num_nodes
    events.append(
        GuardEvent(
            resource=cache.replication_group_id,
            rule="policy minimum: cache nodes",
            requested=str(cache.num_nodes),
            applied=str(cache.min_nodes),
        )
    )
    return cache.min_nodes


def _floored_shares(shares: list[float], floor: float) -> list[float]:
    """Normalise shares to sum 1 with every share at least ``floor`` (water-filling)."""
    total = sum(shares)
    result = [s / total for s in shares]
    pinned: set[int] = set()
    while True:
        newly = {i for i, s in enumerate(result) if i not in pinned and s < floor}
        if not newly:
            return result
        pinned |= newly
        free = [i for i in range(len(result)) if i not in pinned]
        left = 1.0 - floor * len(pinned)
        free_total = sum(shares[i] for i in free)
        for i in pinned:
            result[i] = floor
        for i in free:
            result[i] = left * shares[i] / free_total if free_total > 0 else left / len(free)


def _largest_remainder(fractions: list[float], total: int) -> list[int]:
    raw = [f * total for f in fractions]
    ints = [math.floor(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (ints[i] - raw[i], i))
    for i in order[: total - sum(ints)]:
        ints[i] += 1
    return ints


def route_weights(routing: RoutingSpec, events: list[GuardEvent]) -> list[RoutedRegion]:
    """Integer Route 53 weights summing to ``TOTAL_WEIGHT`` and Global Accelerator dials.

    Shares are normalised; a region below the policy ``min_share`` is raised to it (the others
    give up traffic in proportion). A dial not given is the region's weight relative to the
    heaviest region, so the heaviest region's dial is 100.
    """
    shares = [r.share for r in routing.regions]
    fractions = _floored_shares(shares, routing.min_share)
    weights = _largest_remainder(fractions, TOTAL_WEIGHT)
    floor_w = math.ceil(routing.min_share * TOTAL_WEIGHT - 1e-9)
    for i, w in enumerate(weights):
        while weights[i] < floor_w:
            donor = max(range(len(weights)), key=lambda j: weights[j])
            weights[donor] -= 1
            weights[i] += 1
        if weights[i] != w or fractions[i] > shares[i] / sum(shares) + 1e-9:
            events.append(
                GuardEvent(
                    resource=f"{routing.name}/{routing.regions[i].region}",
                    rule=f"policy minimum: routing share {routing.min_share:.0%}",
                    requested=f"{shares[i] / sum(shares):.4f}",
                    applied=f"{weights[i] / TOTAL_WEIGHT:.4f}",
                )
            )
    heaviest = max(weights)
    out = []
    for spec, weight in zip(routing.regions, weights, strict=True):
        dial = spec.traffic_dial
        if dial is None:
            dial = round(100.0 * weight / heaviest, 1) if heaviest else 0.0
        out.append(RoutedRegion(region=spec.region, weight=weight, traffic_dial=dial))
    return out
