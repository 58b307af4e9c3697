"""Groups that are not discovered from traffic: manual (pinned), tenant (from a tag) and the
shared-services class holding the hubs analysis found."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from providers.models import Resource
from reconciler.groups.models import (
    SHARED_SERVICES_ID,
    ComposerConfig,
    ComposerState,
    EventKind,
    Group,
    GroupEvent,
    GroupKind,
    ManualGroup,
)
from reconciler.groups.naming import NamedBy

__all__ = [
    "apply_manual",
    "apply_shared_services",
    "apply_tenants",
    "emit_diff",
    "resolve_members",
    "tenant_id",
]


def resolve_members(
    members: Collection[str], tags: Mapping[str, str] | None, inventory: Sequence[Resource]
) -> tuple[str, ...]:
    """An operator's selection: the listed ids plus every resource carrying all of ``tags``."""
    out = set(members)
    if tags:
        out |= {r.id for r in inventory if all(r.tags.get(k) == v for k, v in tags.items())}
    return tuple(sorted(out))


def emit_diff(
    state: ComposerState,
    group: Group,
    new_members: Collection[str],
    at: datetime,
    events: list[GroupEvent],
    grew: str,
    shrank: str,
) -> None:
    """Set ``group.members`` and record grew/shrank events with the given reasons."""
    old, new = set(group.members), set(new_members)
    added, removed = sorted(new - old), sorted(old - new)
    group.members = sorted(new)
    if added or removed:
        group.updated_at = at
    for kind, who, why in ((EventKind.GREW, added, grew), (EventKind.SHRANK, removed, shrank)):
        if who:
            events.append(
                GroupEvent(
                    kind=kind,
                    group_id=group.id,
                    group_kind=group.kind,
                    cycle=state.cycle,
                    at=at,
                    reason=f"{len(who)} resource(s) {why}",
                    added=who if kind == EventKind.GREW else [],
                    removed=who if kind == EventKind.SHRANK else [],
                )
            )


def _formed(state: ComposerState, group: Group, at: datetime, reason: str) -> GroupEvent:
    return GroupEvent(
        kind=EventKind.FORMED,
        group_id=group.id,
        group_kind=group.kind,
        cycle=state.cycle,
        at=at,
        reason=reason,
        added=list(group.members),
    )


def _dissolved(state: ComposerState, group: Group, at: datetime, reason: str) -> GroupEvent:
    return GroupEvent(
        kind=EventKind.DISSOLVED,
        group_id=group.id,
        group_kind=group.kind,
        cycle=state.cycle,
        at=at,
        reason=reason,
        removed=list(group.members),
    )


def apply_manual(
    state: ComposerState, manual: Sequence[ManualGroup], at: datetime, events: list[GroupEvent]
) -> set[str]:
    """Create/update pinned groups; return every pinned resource (kept out of other groups)."""
    owner: dict[str, str] = {}
    specs: dict[str, ManualGroup] = {}
    for spec in manual:
        if spec.id in specs:
            raise ValueError(f"manual group id {spec.id!r} is defined twice")
        existing = state.groups.get(spec.id)
        if existing is not None and existing.kind != GroupKind.MANUAL:
            raise ValueError(f"manual group id {spec.id!r} is already a {existing.kind} group id")
        for m in spec.members:
            if m in owner:
                raise ValueError(f"resource {m!r} is pinned to both {owner[m]!r} and {spec.id!r}")
            owner[m] = spec.id
        specs[spec.id] = spec
    for gid in [g for g, grp in state.groups.items() if grp.kind == GroupKind.MANUAL]:
        if gid not in specs:
            gone = state.groups.pop(gid)
            events.append(_dissolved(state, gone, at, "manual definition removed by operator"))
    for gid, spec in specs.items():
        group = state.groups.get(gid)
        if group is None:
            group = Group(
                id=gid,
                kind=GroupKind.MANUAL,
                name=spec.name or gid,
                members=sorted(set(spec.members)),
                created_at=at,
                updated_at=at,
                confidence=1.0,
                origin=spec.reason,
                group_class=spec.group_class,
            )
            state.groups[gid] = group
            events.append(_formed(state, group, at, f"manual group: {spec.reason}"))
        else:
            if group.named_by != NamedBy.OPERATOR:  # an operator's rename outlives the policy's
                group.name = spec.name or gid
            group.group_class = spec.group_class
            emit_diff(
                state,
                group,
                spec.members,
                at,
                events,
                "added to the manual definition",
                "removed from the manual definition",
            )
    pinned = set(owner)
    _evict(state, pinned, at, events, "pinned to a manual group")
    return pinned


def _evict(
    state: ComposerState, resources: set[str], at: datetime, events: list[GroupEvent], why: str
) -> None:
    if not resources:
        return
    for group in state.groups.values():
        if group.kind != GroupKind.DISCOVERED:
            continue
        for m in resources:
            group.joining.pop(m, None)
            group.leaving.pop(m, None)
        if resources.intersection(group.members):
            emit_diff(state, group, set(group.members) - resources, at, events, "", why)


def apply_shared_services(
    state: ComposerState, hubs: Collection[str], at: datetime, events: list[GroupEvent]
) -> None:
    """Keep hubs in the shared-services group and out of every discovered group."""
    hub_set = set(hubs)
    group = state.groups.get(SHARED_SERVICES_ID)
    if group is None and hub_set:
        group = Group(
            id=SHARED_SERVICES_ID,
            kind=GroupKind.SHARED_SERVICES,
            name="shared services",
            members=sorted(hub_set),
            created_at=at,
            updated_at=at,
            confidence=1.0,
            origin="hubs found by traffic analysis",
        )
        state.groups[SHARED_SERVICES_ID] = group
        events.append(_formed(state, group, at, "hubs found by traffic analysis"))
    elif group is not None:
        emit_diff(
            state,
            group,
            hub_set,
            at,
            events,
            "detected as shared-service hubs",
            "no longer behave as hubs",
        )
    _evict(state, hub_set, at, events, "became shared-service hubs")


def tenant_id(key: str, value: str) -> str:
    """Stable by construction: the same tag always names the same tenant group."""
    return "tnt-" + hashlib.sha256(f"{key}={value}".encode()).hexdigest()[:10]


def apply_tenants(
    state: ComposerState,
    inventory: Sequence[Resource],
    config: ComposerConfig,
    at: datetime,
    events: list[GroupEvent],
) -> None:
    """One group per value of each tenant tag key; tracked beside discovered groups."""
    wanted: dict[str, tuple[str, set[str]]] = {}
    by_value: dict[tuple[str, str], set[str]] = defaultdict(set)
    for res in inventory:
        for key in config.tenant_tag_keys:
            if key in res.tags:
                by_value[(key, res.tags[key])].add(res.id)
    for (key, value), members in by_value.items():
        wanted[tenant_id(key, value)] = (f"{key}={value}", members)
    for gid, (name, members) in sorted(wanted.items()):
        group = state.groups.get(gid)
        if group is None:
            group = Group(
                id=gid,
                kind=GroupKind.TENANT,
                name=name,  # its tag and value, "tenant=acme" (suffixed if taken)
                members=sorted(members),
                created_at=at,
                updated_at=at,
                confidence=1.0,
                origin=f"tag {name}",
            )
            state.groups[gid] = group
            events.append(_formed(state, group, at, f"tenant group from tag {name}"))
        else:
            group.cycles_missing = 0
            emit_diff(
                state,
                group,
                members,
                at,
                events,
                f"now tagged {name}",
                f"no longer tagged {name}",
            )
    for gid, group in list(state.groups.items()):
        if group.kind != GroupKind.TENANT or gid in wanted:
            continue
        group.cycles_missing += 1
        if group.cycles_missing >= config.dissolve_cycles:
            state.groups.pop(gid)
            events.append(
                _dissolved(
                    state,
                    group,
                    at,
                    f"no resource carries its {group.origin or 'tag'} "
                    f"for {group.cycles_missing} cycle(s)",
                )
            )
