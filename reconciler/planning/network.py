"""Network commands: bandwidth tiers per group, edge caches per region, routing weights."""

from __future__ import annotations

import math

from policies.actions import BandwidthTierAction, EdgeCacheAction, RoutingAction
from reconciler.allocation.models import Allocation
from reconciler.planning.models import (
    Command,
    CommandKind,
    Evidence,
    PlanGroup,
    PlanInput,
    PlanMetric,
)
from reconciler.planning.needs import need_of

__all__ = ["plan_bandwidth_tier", "plan_edge_cache", "plan_routing", "region_demand"]


def plan_bandwidth_tier(
    inp: PlanInput,
    group: PlanGroup,
    allocation: Allocation | None,
    action: BandwidthTierAction,
    ledger: list[str],
) -> Command | None:
    """The smallest tier covering the group's allocation (the largest if none does)."""
    net = need_of(inp, group, PlanMetric.NETWORK_GBPS)
    gbps = allocation.allocated_gbps if allocation is not None else (net.value if net else None)
    if gbps is None:
        return None
    tier = next((t for t in action.tiers if t.gbps >= gbps), action.tiers[-1])
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


def plan_edge_cache(inp: PlanInput, action: EdgeCacheAction) -> list[Command]:
    """Edge cache nodes per listed region: enough to carry demand above the threshold."""
    demand = region_demand(inp)
    out = []
    for region in action.regions:
        d = demand.get(region, 0.0)
        over = d - action.threshold_gbps
        nodes = 0 if over <= 0 else min(action.max_nodes, math.ceil(over / action.node_gbps))
        current = inp.edge_nodes.get(region, 0)
        if nodes == current:
            continue
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
                evidence=Evidence(
                    metric=str(PlanMetric.NETWORK_GBPS),
                    forecast={"region_demand_gbps": d},
                    policy_rule=f"actions.edge_cache threshold={action.threshold_gbps:g}",
                ),
                issued_at=inp.now,
                region=region,
                resources_changed=0,
                increase=nodes > current,
                urgency=float(nodes - current),
            )
        )
    return out


def plan_routing(inp: PlanInput, action: RoutingAction) -> Command | None:
    """Weights per region in proportion to allocated capacity times its cover of demand.

    A region whose allocation covers its predicted demand keeps a weight in proportion to its
    allocation; one that falls short is turned down by the share it cannot serve.
    """
    if inp.allocations is None:
        return None
    demand = region_demand(inp)
    score: dict[str, float] = {}
    for pool in inp.allocations.pools:
        if pool.parent is None:
            continue
        alloc = pool.allocated_gbps
        d = demand.get(pool.name, 0.0)
        cover = 1.0 if d <= 0 else min(1.0, alloc / d)
        score[pool.name] = alloc * cover
    top = max(score.values(), default=0.0)
    if top <= 0:
        return None
    ceiling = action.weight_ceiling
    weights = {
        r: max(action.min_weight, min(ceiling, round(ceiling * s / top)))
        for r, s in sorted(score.items())
    }
    current = {r: inp.routing_weights.get(r, 0) for r in weights}
    if weights == current:
        return None
    return Command(
        kind=CommandKind.ROUTING,
        target=f"{action.mechanism}/{action.record}",
        before={"weights": current},
        after={"weights": weights},
        reason=", ".join(
            f"{r}: {inp.allocations.pool(r).allocated_gbps:.2f} Gbps allocated for "
            f"{demand.get(r, 0.0):.2f} Gbps predicted"
            for r in weights
        ),
        evidence=Evidence(
            metric=str(PlanMetric.NETWORK_GBPS),
            forecast={f"{r}_demand_gbps": v for r, v in demand.items()},
            policy_rule=f"actions.routing {action.mechanism} weights {action.min_weight}-{ceiling}",
        ),
        issued_at=inp.now,
        resources_changed=0,
        urgency=float(max(abs(weights[r] - current[r]) for r in weights)),
    )
