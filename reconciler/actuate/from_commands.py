"""Fold the planner's commands into the next desired state (``reconciler.steps.apply``).

The planner (``reconciler.planning``) emits ``Command(kind, target, before, after, ...)``; the
Pulumi program reads a ``DesiredState``. This starts from the last desired state (which carries
what commands do not: AMIs, subnets, import ids, policy minimums) and applies each proposed
command to it: each kind's typed payload (``reconciler.planning.payloads``) through its fold
in ``FOLDS``, on immutable specs (``model_copy``), never on dicts. A command that matches
nothing, or is not a Pulumi change, is returned with the reason instead of being dropped. The
result is validated again as a whole.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from infra.desired_state import (
    CACHE_MAX_NODES_CLUSTER,
    CACHE_MAX_NODES_REPLICATED,
    BandwidthTierSpec,
    CacheBehaviorSpec,
    CapacityReservationSpec,
    DesiredState,
    EdgeCacheSpec,
    GroupSpec,
    InstanceSpec,
    ScalingGroupSpec,
    parse_desired_state,
)
from reconciler.actuate.observed import spec_id
from reconciler.planning.models import Command, CommandKind, CommandStatus
from reconciler.planning.payloads import (
    CachePayload,
    PayloadError,
    PreallocatePayload,
    ResizePayload,
    RoutingPayload,
    ScalePayload,
    TierPayload,
    payload_of,
)

__all__ = ["FOLDS", "MAX_CACHE_NODES", "FoldResult", "TierFor", "desired_state_from"]

#: (group id, tier name) -> the group's spec at that tier (its granted rate, the tier's ceiling)
TierFor = Callable[[str, str], BandwidthTierSpec | None]

_Compute = InstanceSpec | ScalingGroupSpec

#: A primary and five replicas: ElastiCache's limit for one replication group without cluster
#: mode (a threshold command's nodes); cluster mode holds ``CACHE_MAX_NODES_CLUSTER`` (500).
MAX_CACHE_NODES = CACHE_MAX_NODES_REPLICATED


@dataclass(frozen=True)
class FoldResult:
    state: DesiredState
    applied: list[Command] = field(default_factory=list)
    not_applied: list[tuple[Command, str]] = field(default_factory=list)


def _group(state: DesiredState, target: str) -> GroupSpec | None:
    gid = spec_id(target)
    return next((g for g in state.groups if g.id == gid), None)


def _with_group(state: DesiredState, group: GroupSpec) -> DesiredState:
    """``state`` with ``group`` replacing the group of its id (or added)."""
    groups = [group if g.id == group.id else g for g in state.groups]
    if not any(g.id == group.id for g in state.groups):
        groups.append(group)
    return state.model_copy(update={"groups": tuple(groups)})


def _compute(
    state: DesiredState, target: str
) -> tuple[GroupSpec, InstanceSpec | ScalingGroupSpec] | None:
    """The instance or scaling group ``target`` names (inventory id or logical name)."""
    for g in state.groups:
        specs: list[InstanceSpec | ScalingGroupSpec] = [*g.instances, *g.scaling_groups]
        for spec in specs:
            if target in (spec.import_id, spec.name):
                return g, spec
    return None


def _replace(
    state: DesiredState,
    group: GroupSpec,
    old: InstanceSpec | ScalingGroupSpec,
    new: InstanceSpec | ScalingGroupSpec,
) -> DesiredState:
    if isinstance(new, InstanceSpec):
        items = tuple(new if i is old else i for i in group.instances)
        return _with_group(state, group.model_copy(update={"instances": items}))
    asgs = tuple(new if s is old else s for s in group.scaling_groups)
    return _with_group(state, group.model_copy(update={"scaling_groups": asgs}))


def _checked(spec: _Compute, update: dict[str, Any]) -> _Compute | str:
    """``spec`` with ``update``, validated again (a type of another cloud, a MIG's machine
    type): the reason when it does not fit, so one bad command does not sink the fold."""
    try:
        return type(spec).model_validate({**spec.model_dump(), **update})
    except ValidationError as exc:
        return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())


def _resize(state: DesiredState, c: Command, p: ResizePayload, _: _Rates) -> _Folded:
    found = _compute(state, c.target)
    if found is None:
        return f"no instance or scaling group {c.target} in the desired state"
    group, spec = found
    new = _checked(spec, {"instance_type": p.instance_type})
    return new if isinstance(new, str) else _replace(state, group, spec, new)


def _scale(state: DesiredState, c: Command, p: ScalePayload, _: _Rates) -> _Folded:
    found = _compute(state, c.target)
    if found is None or not isinstance(found[1], ScalingGroupSpec):
        return f"no scaling group {c.target} in the desired state"
    group, spec = found[0], found[1]
    new = _checked(
        spec,
        {
            "desired": p.desired,
            "min_size": min(spec.min_size, p.desired),
            "max_size": max(spec.max_size, p.desired),
        },
    )
    return new if isinstance(new, str) else _replace(state, group, spec, new)


def _tier(state: DesiredState, c: Command, p: TierPayload, rates: _Rates) -> _Folded:
    group = _group(state, c.target)
    name = p.tier
    if name is None:
        return "a tier of None: nothing to set"
    spec = rates.tier_for(c.target, name) if rates.tier_for is not None else None
    if spec is None and name in rates.tiers:
        spec = rates.tiers[name]
    if spec is None and group is not None and group.bandwidth_tier is not None:
        spec = group.bandwidth_tier.model_copy(update={"tier": name})
    if spec is None:
        return f"tier {name}: no rates known (pass tiers=) and group {c.target} has none yet"
    base = group or GroupSpec(id=spec_id(c.target))
    return _with_group(state, base.model_copy(update={"bandwidth_tier": spec}))


#: Characters CloudFront accepts in a path pattern; a prefix with others is not a behaviour.
_PATTERN = re.compile(r"^/[A-Za-z0-9_\-.*$/~\"'@:+&]*$")


def _cache_extras(p: CachePayload) -> dict[str, Any]:
    """A curve-sized command's hot prefixes (as CloudFront path patterns with their TTL) and
    pre-warm list; nothing from a threshold-sized one (the previous ones stay)."""
    if p.expected_hit_ratio is None and not p.hot_prefixes and not p.prewarm:
        return {}
    behaviors = tuple(
        CacheBehaviorSpec(path_pattern=f"{prefix}*", ttl_s=p.ttl_s[prefix])
        for prefix in dict.fromkeys(p.hot_prefixes)
        if prefix in p.ttl_s and _PATTERN.match(prefix) and len(prefix) < 255
    )
    return {"cache_behaviors": behaviors, "prewarm": p.prewarm}


def _cache_size(cache: EdgeCacheSpec | None, p: CachePayload) -> dict[str, Any] | str:
    """The size fields a command sets (``num_nodes``, and ``shards`` in cluster mode), or why
    it cannot. A curve-sized command (``expected_hit_ratio`` set) asks for memory: its nodes
    are shards, so the cache runs in cluster mode. A threshold command's nodes are cache
    clusters (a primary and replicas for bandwidth); an existing cache without cluster mode is
    not converted by a curve-sized command (AWS's conversion takes two steps and an operator);
    on a cache already in cluster mode (which
    AWS never turns off) they are all its nodes, ``ceil(nodes / (1 + replicas_per_shard))``
    shards. The policy minimum ``min_nodes`` is kept in both."""
    floor = cache.min_nodes if cache is not None else 1
    if p.expected_hit_ratio is not None and cache is not None and cache.shards is None:
        return (
            f"edge cache {cache.replication_group_id} runs without cluster mode: turning it on "
            "is a two-step AWS change (compatible, then enabled; Valkey 7.2+ / Redis 7.0+ and "
            "cluster-aware clients) that one `pulumi up` cannot make; convert it by hand and "
            "set its shards in the stack, then it is sized by memory"
        )
    if p.expected_hit_ratio is None and (cache is None or cache.shards is None):
        if p.nodes > MAX_CACHE_NODES:
            return f"{p.nodes} nodes: a replication group holds at most {MAX_CACHE_NODES}"
        return {"num_nodes": max(p.nodes, floor)}
    per = 1 + (cache.replicas_per_shard if cache is not None else 0)
    shards = p.nodes if p.expected_hit_ratio is not None else math.ceil(p.nodes / per)
    shards = max(shards, math.ceil(floor / per))
    if shards * per > CACHE_MAX_NODES_CLUSTER:
        return (
            f"{shards} shards x {per} nodes: a cluster-mode replication group holds at most "
            f"{CACHE_MAX_NODES_CLUSTER} nodes"
        )
    return {"shards": shards, "num_nodes": shards * per}


def _cache(state: DesiredState, c: Command, p: CachePayload, _: _Rates) -> _Folded:
    """A region's cache sized by the command (``_cache_size``: curve-sized nodes are
    cluster-mode shards, so the memory the command expects is the memory deployed); a
    curve-sized command also sets its hot path patterns (with TTLs, the CDN's cache
    behaviours) and the objects to pre-warm."""
    region = c.target.removeprefix("edge-cache/")
    if p.nodes < 1:
        return "removing an edge cache is left to an operator"
    caches = list(state.edge_caches)
    found = next((i for i, e in enumerate(caches) if e.region == region), None)
    size = _cache_size(caches[found] if found is not None else None, p)
    if isinstance(size, str):
        return size
    if found is None:
        caches.append(
            EdgeCacheSpec(
                region=region,
                replication_group_id=f"headroom-edge-{region}",
                node_type=p.node_type,
                **size,
                **_cache_extras(p),
            )
        )
    else:
        caches[found] = caches[found].model_copy(
            update={"node_type": p.node_type, **size, **_cache_extras(p)}
        )
    return state.model_copy(update={"edge_caches": tuple(caches)})


def _routing(state: DesiredState, c: Command, p: RoutingPayload, _: _Rates) -> _Folded:
    mechanism, _sep, record = c.target.partition("/")
    spec = next((r for r in state.routing if record in (r.record_name, r.name)), None)
    if spec is None:
        return f"no routing for record {record} in the desired state"
    by_region = {r.region: r for r in spec.regions}
    unknown = sorted(set(p.weights) - set(by_region))
    if unknown:
        return f"regions {', '.join(unknown)} have no target in routing {spec.name}"
    key = "traffic_dial" if mechanism == "global_accelerator" else "share"
    regions = tuple(
        r.model_copy(update={key: p.weights[r.region]}) if r.region in p.weights else r
        for r in spec.regions
    )
    routing = tuple(
        spec.model_copy(update={"regions": regions}) if r is spec else r for r in state.routing
    )
    return state.model_copy(update={"routing": routing})


def _preallocate(state: DesiredState, c: Command, p: PreallocatePayload, _: _Rates) -> _Folded:
    """A tenant group's capacity reservations (an empty list releases them)."""
    if p.reservations is None:
        return "no capacity reservations in the command: the record is the state store's"
    gid = spec_id(c.target)
    held = tuple(
        CapacityReservationSpec(
            name=spec_id(f"{gid}-res-{r.zone}-{r.instance_type.replace('.', '-')}"),
            region=r.zone[:-1],
            availability_zone=r.zone,
            instance_type=r.instance_type,
            count=r.count,
        )
        for r in p.reservations
    )
    base = _group(state, c.target) or GroupSpec(id=gid)
    return _with_group(state, base.model_copy(update={"capacity_reservations": held}))


@dataclass(frozen=True)
class _Rates:
    tiers: Mapping[str, BandwidthTierSpec]
    tier_for: TierFor | None


#: A fold's result: the new desired state, or why the command could not be folded.
_Folded = DesiredState | str

#: One fold per command kind, each reading its kind's typed payload.
FOLDS: dict[CommandKind, Callable[[DesiredState, Command, Any, _Rates], _Folded]] = {
    CommandKind.RESIZE: _resize,
    CommandKind.SCALE: _scale,
    CommandKind.BANDWIDTH_TIER: _tier,
    CommandKind.EDGE_CACHE: _cache,
    CommandKind.ROUTING: _routing,
    CommandKind.PREALLOCATE: _preallocate,
}


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
    state = previous.model_copy(update={"generated_at": generated_at})
    rates = _Rates(tiers or {}, tier_for)
    applied: list[Command] = []
    not_applied: list[tuple[Command, str]] = []
    for c in commands:
        if c.status is not CommandStatus.PROPOSED:
            not_applied.append((c, f"status {c.status}: not applied"))
            continue
        if c.not_before is not None and c.not_before > generated_at:
            not_applied.append((c, f"scheduled for {c.not_before.isoformat()}: not applied yet"))
            continue
        try:
            payload = payload_of(c)
        except PayloadError as exc:
            not_applied.append((c, f"malformed command: {exc}"))
            continue
        folded = FOLDS[c.kind](state, c, payload, rates)
        if isinstance(folded, str):
            not_applied.append((c, folded))
        else:
            state = folded
            applied.append(c)
    checked = parse_desired_state(
        state.model_dump(mode="json"), source="planner commands folded into the previous state"
    )
    return FoldResult(state=checked, applied=applied, not_applied=not_applied)
