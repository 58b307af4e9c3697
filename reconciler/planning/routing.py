"""Routing weights across regions (Route 53 weighted records or Global Accelerator dials).

A region's weight moves only by at least ``safety.min_change_fraction`` of the weight ceiling.
"""

from __future__ import annotations

from policies.actions import RoutingAction
from reconciler.planning.evidence import region_evidence, region_forecast
from reconciler.planning.models import Command, CommandKind, PlanInput
from reconciler.planning.network import region_demand

__all__ = ["plan_routing"]


def plan_routing(inp: PlanInput, action: RoutingAction) -> Command | None:
    """Weights per region in proportion to allocated capacity times its cover of demand.

    A region whose allocation covers its predicted demand keeps a weight in proportion to its
    allocation; one that falls short is turned down by the share it cannot serve. A region's
    weight moves only by at least ``min_change_fraction`` of the ceiling (else it keeps its
    current weight); no command when no weight moves.
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
    step = inp.policy.safety.min_change_fraction * ceiling
    weights = {
        r: w if r not in inp.routing_weights or abs(w - current[r]) >= step else current[r]
        for r, w in weights.items()
    }
    if weights == current:
        return None
    rule = (
        f"actions.routing {action.mechanism} weights {action.min_weight}-{ceiling}, "
        f"min change {step:g}"
    )
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
        evidence=region_evidence([region_forecast(inp, r) for r in weights], rule),
        issued_at=inp.now,
        resources_changed=0,
        urgency=float(max(abs(weights[r] - current[r]) for r in weights)),
    )
