"""Our own diff between the desired state and the current inventory (no Pulumi CLI needed).

``headroom plan`` shows it where the Pulumi CLI is missing, and beside ``pulumi preview`` where
it is not. It applies the program's guard rails (``infra.guards``) first, so it shows what the
program would declare, not what was asked. Inventory has no routing weights or bandwidth tiers,
so those are compared with the previously applied desired state when one is given. A
scaling group's members are counted by their ASG tag on AWS and their scale set on Azure.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import ValidationError

from infra.desired_state import DesiredState, EdgeCacheSpec
from infra.guards import GuardEvent, cache_nodes, instance_type_for, route_weights, scaling_counts
from providers.models import RejectedRecord, Resource

__all__ = [
    "ASG_TAG",
    "Change",
    "ChangeKind",
    "LoadedInventory",
    "diff_desired_vs_inventory",
    "load_inventory",
]

#: Tag AWS puts on every instance an autoscaling group launches.
ASG_TAG = "aws:autoscaling:groupName"
#: Tag the Azure inventory puts on a scale set's VMs: the scale set's lower-cased ARM id, as
#: the desired state's ``import_id`` has it (``providers.azure.inventory``).
SCALE_SET_TAG = "headroom:scaleSet"
_LIVE = {"pending", "running"}


class ChangeKind(StrEnum):
    INSTANCE_TYPE = "instance_type"
    COUNT = "count"
    NEW_CACHE = "new_cache"
    CACHE_SIZE = "cache_size"
    WEIGHT = "weight"
    TIER = "bandwidth_tier"
    CREATE = "create"
    ADOPT_MISSING = "adopt_missing"
    GUARD_RAIL = "guard_rail"


@dataclass(frozen=True, slots=True)
class Change:
    """One difference: what kind, on what, from what, to what, and a note."""

    kind: ChangeKind
    target: str
    before: str | None
    after: str
    detail: str = ""


@dataclass(frozen=True)
class LoadedInventory:
    resources: list[Resource]
    rejected: list[RejectedRecord]


def load_inventory(path: Path) -> LoadedInventory:
    """Read an inventory JSON (a list of resources, or ``{"resources": [...]}``).

    Records that fail validation are kept aside with their index and reason, not dropped.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"inventory {path}: cannot read JSON: {exc}") from None
    if isinstance(data, dict):
        data = data.get("resources")
    if not isinstance(data, list):
        raise ValueError(
            f"inventory {path}: expected a list of resources or {{'resources': [...]}}"
        )
    resources, rejected = [], []
    for i, item in enumerate(data):
        try:
            resources.append(Resource.model_validate(item))
        except ValidationError as exc:
            reason = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<record>'}: {e['msg']}"
                for e in exc.errors()
            )
            rejected.append(RejectedRecord(str(path), i, json.dumps(item)[:500], reason))
    return LoadedInventory(resources, rejected)


def _cache_members(cache: EdgeCacheSpec, inventory: list[Resource]) -> list[Resource]:
    """Member clusters of a replication group: AWS names them ``<group id>-001``, ``-002``...,
    and in cluster mode ``<group id>-0001-001`` (shard, then node)."""
    group = re.escape(cache.import_id or cache.replication_group_id)
    pattern = re.compile(rf"^{group}(-\d{{4}})?-\d{{3}}$")
    return [r for r in inventory if pattern.match(r.id)]


def diff_desired_vs_inventory(
    desired: DesiredState,
    inventory: list[Resource],
    *,
    previous: DesiredState | None = None,
) -> list[Change]:
    """Changes the program would make to reach ``desired`` from what the inventory shows.

    Guard-rail adjustments come last, as ``GUARD_RAIL`` changes naming the rule.
    """
    events: list[GuardEvent] = []
    changes = _compute_changes(desired, inventory, events)
    changes += _tier_changes(desired, previous)
    changes += _cache_changes(desired, inventory, events)
    changes += _routing_changes(desired, previous, events)
    changes += [
        Change(ChangeKind.GUARD_RAIL, e.resource, e.requested, e.applied, e.rule) for e in events
    ]
    return changes


def _compute_changes(
    desired: DesiredState, inventory: list[Resource], events: list[GuardEvent]
) -> list[Change]:
    by_id = {r.id: r for r in inventory}
    changes: list[Change] = []
    for group in desired.groups:
        for spec in group.instances:
            itype = str(instance_type_for(spec, events))
            current = by_id.get(spec.import_id) if spec.import_id else None
            if spec.import_id is None:
                changes.append(Change(ChangeKind.CREATE, spec.name, None, itype))
            elif current is None:
                changes.append(
                    Change(
                        ChangeKind.ADOPT_MISSING,
                        spec.name,
                        None,
                        spec.import_id,
                        "import id not in the inventory; the import would fail",
                    )
                )
            elif current.instance_type != itype:
                changes.append(
                    Change(ChangeKind.INSTANCE_TYPE, spec.name, current.instance_type, itype)
                )
        counts = scaling_counts(group, events)
        for sg in group.scaling_groups:
            want = counts[sg.name]
            members = [r for r in inventory if _owner(r) == sg.physical_name and r.state in _LIVE]
            if not members and sg.import_id is None:
                changes.append(Change(ChangeKind.CREATE, sg.name, None, f"desired={want.desired}"))
                continue
            if len(members) != want.desired:
                changes.append(
                    Change(
                        ChangeKind.COUNT,
                        sg.name,
                        str(len(members)),
                        str(want.desired),
                        f"min={want.min_size} max={want.max_size}",
                    )
                )
            sg_type = instance_type_for(sg, events)
            types = Counter(str(m.instance_type) for m in members)
            if sg_type is not None and set(types) - {sg_type}:
                now = ", ".join(f"{t} x{n}" for t, n in sorted(types.items()))
                changes.append(
                    Change(ChangeKind.INSTANCE_TYPE, sg.name, now, sg_type, "new launches")
                )
    return changes


def _owner(r: Resource) -> str | None:
    """The scaling group an instance belongs to: its AWS ASG, or its Azure scale set."""
    return r.tags.get(ASG_TAG) or r.tags.get(SCALE_SET_TAG)


def _tier_changes(desired: DesiredState, previous: DesiredState | None) -> list[Change]:
    old_tiers = {g.id: g.bandwidth_tier for g in previous.groups} if previous else {}
    changes = []
    for group in desired.groups:
        tier = group.bandwidth_tier
        if tier is None or (previous is not None and old_tiers.get(group.id) == tier):
            continue
        old = old_tiers.get(group.id)
        changes.append(
            Change(
                ChangeKind.TIER,
                group.id,
                old.tier if old else None,
                tier.tier,
                f"rate {tier.guaranteed_mbps:g} Mbps ceil {tier.ceiling_mbps:g} Mbps",
            )
        )
    return changes


def _cache_changes(
    desired: DesiredState, inventory: list[Resource], events: list[GuardEvent]
) -> list[Change]:
    ids = {r.id for r in inventory}
    changes = []
    for cache in desired.edge_caches:
        nodes = cache_nodes(cache, events)
        after = f"{nodes} x {cache.node_type}"
        members = _cache_members(cache, inventory)
        if not members and (cache.import_id or cache.replication_group_id) not in ids:
            changes.append(
                Change(ChangeKind.NEW_CACHE, cache.replication_group_id, None, after, cache.region)
            )
            continue
        node_types = {m.instance_type for m in members if m.instance_type}
        if len(members) != nodes or node_types - {cache.node_type}:
            now = f"{len(members)} x {', '.join(sorted(node_types)) or '?'}"
            changes.append(
                Change(ChangeKind.CACHE_SIZE, cache.replication_group_id, now, after, cache.region)
            )
    return changes


def _routing_changes(
    desired: DesiredState, previous: DesiredState | None, events: list[GuardEvent]
) -> list[Change]:
    old_routes = {r.name: r for r in previous.routing} if previous else {}
    changes = []
    for routing in desired.routing:
        old_spec = old_routes.get(routing.name)
        old = {r.region: r for r in route_weights(old_spec, [])} if old_spec else {}
        for routed in route_weights(routing, events):
            was = old.get(routed.region)
            if was is not None and (was.weight, was.traffic_dial) == (
                routed.weight,
                routed.traffic_dial,
            ):
                continue
            changes.append(
                Change(
                    ChangeKind.WEIGHT,
                    f"{routing.name}/{routed.region}",
                    None if was is None else f"{was.weight} (dial {was.traffic_dial:g})",
                    f"{routed.weight} (dial {routed.traffic_dial:g})",
                    "" if previous else "no previous state: current weight unknown",
                )
            )
    return changes
