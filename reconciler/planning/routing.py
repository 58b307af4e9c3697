"""Routing weights across regions (Route 53 weighted records or Global Accelerator dials).

Two objectives (``actions.routing.objective``):

- ``capacity``: weights in proportion to each region's allocation times its cover of demand;
- ``latency``: the split of each client region's traffic that minimises predicted
  request-weighted latency within each region's allocated capacity (``reconciler.routing``,
  an LP), from what request logs say (``PlanInput.users``: demand per client region and measured
  latency per pair). Without user signals it falls back to ``capacity``.

A region's weight moves only by at least ``safety.min_change_fraction`` of the weight ceiling.
"""

from __future__ import annotations

from policies.actions import RoutingAction
from reconciler.planning.evidence import region_evidence, region_forecast
from reconciler.planning.models import Command, CommandKind, PlanInput
from reconciler.planning.network import region_demand
from reconciler.routing import RoutingSolution, latency_matrix, predicted_latency, solve_routing
from reconciler.users.models import UserSignals

__all__ = ["plan_routing"]

#: Digits kept of each share in a command's ``split`` (stored and compared as JSON).
_SPLIT_DIGITS = 4


def plan_routing(inp: PlanInput, action: RoutingAction) -> Command | None:
    """The routing command for ``action``'s objective; None when no weight moves.

    ``latency`` needs ``inp.users`` with demand per client region (``region_gbps``) and a
    latency for some pair (measured, or the action's ``latency_ms``); else ``capacity``.
    """
    if inp.allocations is None:
        return None
    if action.objective == "latency" and (found := _latency_solution(inp, action)) is not None:
        return _latency_command(inp, action, *found)
    return _plan_capacity(inp, action)


def _capped(share: float, action: RoutingAction) -> int:
    return max(action.min_weight, min(action.weight_ceiling, round(action.weight_ceiling * share)))


def _hold_small_moves(
    inp: PlanInput, action: RoutingAction, weights: dict[str, int]
) -> tuple[dict[str, int], dict[str, int], float]:
    """Weights after the min-change rule (a region's weight moves by at least the step, else it
    keeps its current one), the current weights and the step."""
    current = {r: inp.routing_weights.get(r, 0) for r in weights}
    step = inp.policy.safety.min_change_fraction * action.weight_ceiling
    held = {
        r: w if r not in inp.routing_weights or abs(w - current[r]) >= step else current[r]
        for r, w in weights.items()
    }
    return held, current, step


def _plan_capacity(inp: PlanInput, action: RoutingAction) -> Command | None:
    """Weights per region in proportion to allocated capacity times its cover of demand.

    A region whose allocation covers its predicted demand keeps a weight in proportion to its
    allocation; one that falls short is turned down by the share it cannot serve.
    """
    assert inp.allocations is not None
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
    weights = {r: _capped(s / top, action) for r, s in sorted(score.items())}
    weights, current, step = _hold_small_moves(inp, action, weights)
    if weights == current:
        return None
    rule = (
        f"actions.routing {action.mechanism} weights {action.min_weight}-"
        f"{action.weight_ceiling}, min change {step:g}"
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


#: What the latency objective solved: the user signals, the LP's answer, the latency matrix it
#: priced and the capacity (allocated Gbps) per serving region.
_Solved = tuple[UserSignals, RoutingSolution, dict[tuple[str, str], float], dict[str, float]]


def _latency_solution(inp: PlanInput, action: RoutingAction) -> _Solved | None:
    """The least-latency split, or None when there is nothing to route by latency (no user
    signals, no client demand, no latency for any pair, no regional pool): the caller then
    falls back to the capacity objective.

    Capacity per serving region is its regional pool's allocation (``max_utilization`` of it
    may be filled).
    """
    users = inp.users
    if inp.allocations is None or users is None or not (users.latency_ms or action.latency_ms):
        return None
    capacity = {p.name: p.allocated_gbps for p in inp.allocations.pools if p.parent is not None}
    if not capacity or sum(users.region_gbps.values()) <= 0:
        return None
    matrix = latency_matrix(users.region_gbps, capacity, users.latency_ms, action.latency_ms)
    surprise = {
        c: max(0.0, users.region_gbps_high.get(c, v) - v) for c, v in users.region_gbps.items()
    }
    sol = solve_routing(
        users.region_gbps,
        matrix,
        capacity,
        max_utilization=action.max_utilization,
        surprise_gbps=surprise,
    )
    if not any(v > 0 for v in sol.shares.values()):
        return None
    return users, sol, matrix, capacity


def _latency_command(
    inp: PlanInput,
    action: RoutingAction,
    users: UserSignals,
    sol: RoutingSolution,
    matrix: dict[tuple[str, str], float],
    capacity: dict[str, float],
) -> Command | None:
    """Weights = each serving region's share of the least-latency split x the ceiling."""
    weights = {s: _capped(share, action) for s, share in sorted(sol.shares.items())}
    weights, current, step = _hold_small_moves(inp, action, weights)
    if weights == current:
        return None
    now = _current_latency(inp, users, matrix)
    rule = (
        f"actions.routing {action.mechanism} objective latency, weights {action.min_weight}-"
        f"{action.weight_ceiling}, min change {step:g}, max utilization "
        f"{action.max_utilization:g}"
    )
    ev = region_evidence([region_forecast(inp, r) for r in weights], rule)
    extra = {f"{s}_headroom_gbps": h for s, h in sol.headroom_gbps.items()}
    extra["latency_after_ms"] = sol.latency_ms
    if now is not None:
        extra["latency_now_ms"] = now
    split = {
        c: {s: round(v, _SPLIT_DIGITS) for s, v in row.items() if v > 0}
        for c, row in sorted(sol.split.items())
    }
    return Command(
        kind=CommandKind.ROUTING,
        target=f"{action.mechanism}/{action.record}",
        before={"weights": current},
        after={"weights": weights, "split": split, "latency_ms": round(sol.latency_ms, 3)},
        reason=_latency_reason(now, sol, capacity, action.max_utilization),
        evidence=ev.model_copy(update={"forecast": {**ev.forecast, **extra}}),
        issued_at=inp.now,
        resources_changed=0,
        urgency=float(max(abs(weights[r] - current[r]) for r in weights)),
    )


def _current_latency(
    inp: PlanInput, users: UserSignals, matrix: dict[tuple[str, str], float]
) -> float | None:
    """Predicted latency with the weights in force applied to every client region's traffic
    (None when no weight is in force)."""
    total = sum(w for w in inp.routing_weights.values() if w > 0)
    if total <= 0:
        return None
    shares = {s: w / total for s, w in inp.routing_weights.items() if w > 0}
    return predicted_latency(users.region_gbps, matrix, dict.fromkeys(users.region_gbps, shares))


def _latency_reason(
    now: float | None, sol: RoutingSolution, capacity: dict[str, float], utilization: float
) -> str:
    if now is None:
        head = f"predicted request-weighted latency {sol.latency_ms:.1f} ms (no weights in force)"
    else:
        head = (
            f"predicted request-weighted latency {now:.1f} ms with the weights in force -> "
            f"{sol.latency_ms:.1f} ms ({now - sol.latency_ms:.1f} ms saved)"
        )
    room = ", ".join(
        f"{s} {sol.headroom_gbps[s]:.2f} of {capacity[s] * utilization:.2f} Gbps"
        for s in sorted(capacity)
    )
    parts = [head, f"headroom left {room}"]
    over = {s: v for s, v in sol.overload_gbps.items() if v > 0}
    if over:
        parts.append("overload " + ", ".join(f"{s} {v:.2f} Gbps" for s, v in sorted(over.items())))
    if sol.unroutable_gbps:
        lost = ", ".join(f"{c} {v:.2f} Gbps" for c, v in sorted(sol.unroutable_gbps.items()))
        parts.append(f"no latency known to any serving region for {lost}")
    return "; ".join(parts)
