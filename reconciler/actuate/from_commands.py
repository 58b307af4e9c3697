"""Fold the planner's commands into the next desired state (``reconciler.steps.apply``).

The planner (``reconciler.planning``) emits ``Command(kind, target, before, after, ...)``; the
Pulumi program reads a ``DesiredState``. This starts from the last desired state (which carries
what commands do not: AMIs, subnets, import ids, policy minimums) and applies each proposed
command to it. A command that matches nothing, or is not a Pulumi change, is returned with the
reason instead of being dropped. The result is validated again as a whole.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from infra.desired_state import BandwidthTierSpec, DesiredState, parse_desired_state
from reconciler.actuate.observed import spec_id
from reconciler.planning.models import Command, CommandKind, CommandStatus

__all__ = ["MAX_CACHE_NODES", "FoldResult", "TierFor", "desired_state_from"]

#: (group id, tier name) -> the group's spec at that tier (its granted rate, the tier's ceiling)
TierFor = Callable[[str, str], BandwidthTierSpec | None]

#: A primary and five replicas: ElastiCache's limit for one (non-cluster) replication group.
MAX_CACHE_NODES = 6


@dataclass(frozen=True)
class FoldResult:
    state: DesiredState
    applied: list[Command] = field(default_factory=list)
    not_applied: list[tuple[Command, str]] = field(default_factory=list)


def _find(items: list[dict[str, Any]], target: str, *keys: str) -> dict[str, Any] | None:
    return next((i for i in items if any(i.get(k) == target for k in keys)), None)


def _compute(doc: dict[str, Any], target: str) -> dict[str, Any] | None:
    for group in doc["groups"]:
        found = _find(group["instances"], target, "import_id", "name") or _find(
            group["scaling_groups"], target, "import_id", "name"
        )
        if found is not None:
            return found
    return None


def _resize(doc: dict[str, Any], c: Command) -> str | None:
    spec = _compute(doc, c.target)
    if spec is None:
        return f"no instance or scaling group {c.target} in the desired state"
    spec["instance_type"] = c.after["instance_type"]
    return None


def _scale(doc: dict[str, Any], c: Command) -> str | None:
    spec = _compute(doc, c.target)
    if spec is None or "desired" not in spec:
        return f"no scaling group {c.target} in the desired state"
    desired = int(c.after["desired"])
    spec.update(
        desired=desired,
        min_size=min(spec["min_size"], desired),
        max_size=max(spec["max_size"], desired),
    )
    return None


def _tier(
    doc: dict[str, Any],
    c: Command,
    tiers: Mapping[str, BandwidthTierSpec],
    tier_for: TierFor | None,
) -> str | None:
    group = _find(doc["groups"], spec_id(c.target), "id")
    name = str(c.after["tier"])
    spec = tier_for(c.target, name) if tier_for is not None else None
    if group is None and spec is not None:
        group = {"id": spec_id(c.target), "instances": [], "scaling_groups": []}
        doc["groups"].append(group)
    if group is None:
        return f"no group {c.target} in the desired state"
    if spec is not None:
        group["bandwidth_tier"] = spec.model_dump(mode="json")
    elif name in tiers:
        group["bandwidth_tier"] = tiers[name].model_dump(mode="json")
    elif group.get("bandwidth_tier"):
        group["bandwidth_tier"]["tier"] = name
    else:
        return f"tier {name}: no rates known (pass tiers=) and group {c.target} has none yet"
    return None


def _cache(doc: dict[str, Any], c: Command) -> str | None:
    region = c.target.removeprefix("edge-cache/")
    nodes = int(c.after["nodes"])
    cache = _find(doc["edge_caches"], region, "region")
    if nodes < 1:
        return "removing an edge cache is left to an operator"
    if nodes > MAX_CACHE_NODES:
        return f"{nodes} nodes: a replication group holds at most {MAX_CACHE_NODES}"
    if cache is None:
        doc["edge_caches"].append(
            {
                "region": region,
                "replication_group_id": f"headroom-edge-{region}",
                "node_type": c.after["node_type"],
                "num_nodes": nodes,
            }
        )
    else:
        cache.update(
            num_nodes=max(nodes, cache.get("min_nodes", 1)), node_type=c.after["node_type"]
        )
    return None


def _routing(doc: dict[str, Any], c: Command) -> str | None:
    mechanism, _, record = c.target.partition("/")
    spec = _find(doc["routing"], record, "record_name", "name")
    if spec is None:
        return f"no routing for record {record} in the desired state"
    weights: dict[str, int] = c.after["weights"]
    by_region = {r["region"]: r for r in spec["regions"]}
    unknown = sorted(set(weights) - set(by_region))
    if unknown:
        return f"regions {', '.join(unknown)} have no target in routing {spec['name']}"
    for region, weight in weights.items():
        key = "traffic_dial" if mechanism == "global_accelerator" else "share"
        by_region[region][key] = weight
    return None


def _preallocate(doc: dict[str, Any], c: Command) -> str | None:
    """A tenant group's capacity reservations, as the command's ``after`` lists them (an
    empty list releases them)."""
    wanted = c.after.get("reservations")
    if not isinstance(wanted, list):
        return "no capacity reservations in the command: the record is the state store's"
    gid = spec_id(c.target)
    group = _find(doc["groups"], gid, "id")
    if group is None:
        group = {"id": gid, "instances": [], "scaling_groups": []}
        doc["groups"].append(group)
    group["capacity_reservations"] = [
        {
            "name": spec_id(f"{gid}-res-{r['zone']}-{str(r['instance_type']).replace('.', '-')}"),
            "region": str(r["zone"])[:-1],
            "availability_zone": r["zone"],
            "instance_type": r["instance_type"],
            "count": int(r["count"]),
        }
        for r in wanted
    ]
    return None


def desired_state_from(
    previous: DesiredState,
    commands: Sequence[Command],
    *,
    generated_at: datetime,
    tiers: Mapping[str, BandwidthTierSpec] | None = None,
    tier_for: TierFor | None = None,
) -> FoldResult:
    """Apply the proposed commands to ``previous``; a bad result raises ``DesiredStateError``.

    ``generated_at`` is also the time the fold happens: a command whose ``not_before`` is
    later is held back (the apply step's ``gate`` keeps it scheduled for a later cycle).
    A tier change takes its rates from ``tier_for`` (the group's grant at the new tier), else
    from ``tiers`` by name.
    """
    doc = previous.model_dump(mode="json")
    doc["generated_at"] = generated_at.isoformat()
    applied: list[Command] = []
    not_applied: list[tuple[Command, str]] = []
    for c in commands:
        if c.status is not CommandStatus.PROPOSED:
            not_applied.append((c, f"status {c.status}: not applied"))
            continue
        if c.not_before is not None and c.not_before > generated_at:
            not_applied.append((c, f"scheduled for {c.not_before.isoformat()}: not applied yet"))
            continue
        if c.kind is CommandKind.RESIZE:
            why = _resize(doc, c)
        elif c.kind is CommandKind.SCALE:
            why = _scale(doc, c)
        elif c.kind is CommandKind.BANDWIDTH_TIER:
            why = _tier(doc, c, tiers or {}, tier_for)
        elif c.kind is CommandKind.EDGE_CACHE:
            why = _cache(doc, c)
        elif c.kind is CommandKind.ROUTING:
            why = _routing(doc, c)
        elif c.kind is CommandKind.PREALLOCATE:
            why = _preallocate(doc, c)
        else:
            why = f"{c.kind} is recorded by the state store, not applied through Pulumi"
        if why is None:
            applied.append(c)
        else:
            not_applied.append((c, why))
    state = parse_desired_state(doc, source="planner commands folded into the previous state")
    return FoldResult(state=state, applied=applied, not_applied=not_applied)
