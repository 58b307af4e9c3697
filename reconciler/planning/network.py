"""Network commands: bandwidth tiers per group, edge caches per region, routing weights.

Against flapping: a tier or a cache node count steps down only when the demand sits below the
lower option by the policy's ``safety.scale_in_hysteresis`` (stepping up is never held back);
a routing weight moves only by at least ``safety.min_change_fraction`` of the weight ceiling.

Edge caches have two rules: with ``target_hit_ratio`` and request logs (``PlanInput.users``
holding the region's miss-ratio curve) a region's cache is sized from its curve at the forecast
request rate (``reconciler.caching.sizing.pick_cache``), and the command names the hot path
prefixes (with TTLs), the objects to pre-warm, the expected hit ratio and the cost; otherwise
the bandwidth threshold rule sizes it.
"""

from __future__ import annotations

import math

from policies.actions import BandwidthTierAction, EdgeCacheAction
from reconciler.allocation.models import Allocation, CutReason
from reconciler.caching.sizing import pick_cache
from reconciler.planning.evidence import region_evidence, region_forecast
from reconciler.planning.models import (
    Command,
    CommandKind,
    Evidence,
    PlanGroup,
    PlanInput,
    PlanMetric,
)
from reconciler.planning.needs import need_of

__all__ = ["plan_bandwidth_tier", "plan_edge_cache", "region_demand"]


def plan_bandwidth_tier(
    inp: PlanInput,
    group: PlanGroup,
    allocation: Allocation | None,
    action: BandwidthTierAction,
    ledger: list[str],
) -> Command | None:
    """The smallest tier covering the group's allocation (the largest if none does).

    A step down goes only to a tier that carries the allocation with the hysteresis to spare;
    if no lower tier does, the current one stays. A group whose region has no pool is left on
    its tier: the allocator gives it nothing to size by (its ledger says so).
    """
    if allocation is not None and CutReason.NO_POOL in allocation.cut_by_reason:
        return None
    net = need_of(inp, group, PlanMetric.NETWORK_GBPS)
    gbps = allocation.allocated_gbps if allocation is not None else (net.value if net else None)
    if gbps is None:
        return None
    tiers = action.tiers
    tier = next((t for t in tiers if t.gbps >= gbps), tiers[-1])
    names = [t.name for t in tiers]
    if group.bandwidth_tier in names:
        current = names.index(group.bandwidth_tier)
        if names.index(tier.name) < current:
            keep = 1 - inp.policy.safety.scale_in_hysteresis
            tier = next((t for t in tiers[:current] if t.gbps * keep >= gbps), tiers[current])
    if tier.name == group.bandwidth_tier:
        return None
    short = "" if tier.gbps >= gbps else f"; even the largest tier is {gbps - tier.gbps:.3f} short"
    ev = net.evidence if net else Evidence()
    return Command(
        kind=CommandKind.BANDWIDTH_TIER,
        target=group.group_id,
        before={"tier": group.bandwidth_tier},
        after={"tier": tier.name},
        reason=f"allocated {gbps:.3f} Gbps; tier {tier.name} carries {tier.gbps:g} Gbps{short}",
        evidence=ev.model_copy(update={"policy_rule": "actions.bandwidth_tier", "ledger": ledger}),
        issued_at=inp.now,
        group_id=group.group_id,
        region=group.region,
        resources_changed=0,
        urgency=abs(tier.gbps - gbps),
        increase=tier.gbps > _tier_gbps(action, group.bandwidth_tier),
    )


def _tier_gbps(action: BandwidthTierAction, name: str | None) -> float:
    return next((t.gbps for t in action.tiers if t.name == name), 0.0)


def region_demand(inp: PlanInput) -> dict[str, float]:
    """Predicted network need (quantile + headroom) summed per region."""
    out: dict[str, float] = {}
    for g in inp.groups:
        n = need_of(inp, g, PlanMetric.NETWORK_GBPS)
        if n is not None:
            out[g.region] = out.get(g.region, 0.0) + n.value
    return out


def _cache_nodes(demand: float, action: EdgeCacheAction, keep: float = 1.0) -> int:
    """Nodes so that ``keep`` of (threshold + nodes x node Gbps) carries ``demand``."""
    over = demand / keep - action.threshold_gbps
    return 0 if over <= 1e-9 else min(action.max_nodes, math.ceil(over / action.node_gbps - 1e-9))


def _curve_command(inp: PlanInput, action: EdgeCacheAction, region: str) -> Command | None:
    """The region's cache sized from its miss-ratio curve (None: no change in node count)."""
    users = inp.users
    assert users is not None and action.target_hit_ratio is not None
    curve = users.curves[region]
    rate = users.region_requests.get(region, curve.requests / curve.window_s)
    gbps = users.region_gbps.get(region)
    per_request = gbps * 1e9 / 8 / rate if gbps is not None and rate > 0 else None
    current = inp.edge_nodes.get(region, 0)
    prefixes = users.hot_prefixes.get(region, [])
    prewarm = [o for o, _ in users.hot_objects.get(region, [])[: action.prewarm_objects]]
    pick = pick_cache(
        curve,
        rate,
        action,
        current,
        inp.policy.safety.scale_in_hysteresis,
        prefixes=prefixes,
        prewarm=prewarm,
        bytes_per_request=per_request,
    )
    if pick.nodes == current:
        return None
    ttl = {p.prefix: p.ttl_s for p in prefixes if p.prefix in pick.hot_prefixes}
    rule = (
        f"actions.edge_cache target_hit_ratio={action.target_hit_ratio:g} "
        f"node_memory_gib={action.node_memory_gib:g} node_hourly_usd={action.node_hourly_usd:g} "
        f"max_nodes={action.max_nodes}"
    )
    evidence = Evidence(
        metric="requests_per_s",
        forecast={
            "requests_per_s": rate,
            "expected_hit_ratio": pick.expected_hit_ratio,
            "cache_gib": pick.size_bytes / 2**30,
            "hourly_usd": pick.hourly_usd,
        },
        policy_rule=rule,
        ledger=[
            f"{region}: curve over {curve.window_s:.0f} s, {len(curve.sizes_bytes)} sizes, "
            f"miss ratio {curve.miss_at(pick.size_bytes):.3f} at {pick.size_bytes:.0f} bytes"
        ],
    )
    return Command(
        kind=CommandKind.EDGE_CACHE,
        target=f"edge-cache/{region}",
        before={"node_type": action.node_type, "nodes": current},
        after={
            "node_type": action.node_type,
            "nodes": pick.nodes,
            "expected_hit_ratio": round(pick.expected_hit_ratio, 4),
            "hourly_usd": round(pick.hourly_usd, 4),
            "hot_prefixes": list(pick.hot_prefixes),
            "ttl_s": ttl,
            "prewarm": list(pick.prewarm),
        },
        reason=pick.reason,
        evidence=evidence,
        issued_at=inp.now,
        region=region,
        resources_changed=0,
        increase=pick.nodes > current,
        urgency=float(pick.nodes - current),
    )


def plan_edge_cache(inp: PlanInput, action: EdgeCacheAction) -> list[Command]:
    """Edge cache nodes per listed region.

    Curve rule (``target_hit_ratio`` set and the region's miss-ratio curve known): see
    ``_curve_command``. Threshold rule: without caches a region carries ``threshold_gbps``;
    each node adds ``node_gbps``. Nodes are removed only down to a count whose capacity exceeds
    the demand by the hysteresis.
    """
    keep = 1 - inp.policy.safety.scale_in_hysteresis
    out = []
    for region in action.regions:
        if (
            action.target_hit_ratio is not None
            and inp.users is not None
            and region in inp.users.curves
        ):
            cmd = _curve_command(inp, action, region)
            if cmd is not None:
                out.append(cmd)
            continue
        fc = region_forecast(inp, region)
        d = fc.demand_gbps
        nodes = _cache_nodes(d, action)
        current = inp.edge_nodes.get(region, 0)
        if nodes < current:
            nodes = min(current, max(nodes, _cache_nodes(d, action, keep)))
        if nodes == current:
            continue
        rule = (
            f"actions.edge_cache threshold={action.threshold_gbps:g} node_gbps="
            f"{action.node_gbps:g} max_nodes={action.max_nodes}"
        )
        out.append(
            Command(
                kind=CommandKind.EDGE_CACHE,
                target=f"edge-cache/{region}",
                before={"node_type": action.node_type, "nodes": current},
                after={"node_type": action.node_type, "nodes": nodes},
                reason=(
                    f"{region} predicted demand {d:.3f} Gbps vs threshold "
                    f"{action.threshold_gbps:g} Gbps; {action.node_gbps:g} Gbps per node"
                ),
                evidence=region_evidence([fc], rule),
                issued_at=inp.now,
                region=region,
                resources_changed=0,
                increase=nodes > current,
                urgency=float(nodes - current),
            )
        )
    return out
