"""plan_routing with ``objective: latency``: weights from the routing LP over user signals."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.planning import CommandKind, PlanInput, plan
from reconciler.planning.payloads import RoutingPayload, payload_of
from reconciler.users.models import UserSignals
from tests.planning.conftest import NOW, make_policy
from tests.planning.test_audit_fixes import _catalog
from tests.planning.test_planner import NET, build, fc, standalone

LATENCY_ACTIONS = """\
  - type: routing
    min_weight: 1
    objective: latency
    max_utilization: 0.9
    latency_ms:
      r1: {r2: 40}
"""

#: measured in-region 5 ms, r2 -> r1 40 ms; r1 -> r2 comes from the policy (40 ms)
MEASURED = {("r1", "r1"): 5.0, ("r2", "r2"): 5.0, ("r2", "r1"): 40.0}


def _input(region_gbps: dict[str, float] | None, actions: str = LATENCY_ACTIONS, **kw: Any):
    # allocations: r1 6 Gbps (groups a + a2), r2 10 Gbps (group b); usable at 90 %: 5.4 and 9
    groups = [
        standalone("a", "m6i.8xlarge", cls="default", region="r1"),
        standalone("a2", "m6i.8xlarge", cls="default", region="r1"),
        standalone("b", "m6i.8xlarge", cls="default", region="r2"),
    ]
    forecasts = {"a": {NET: fc(2, 4, 5)}, "a2": {NET: fc(1, 2, 3)}, "b": {NET: fc(5, 10, 12)}}
    users = (
        None
        if region_gbps is None
        else UserSignals(at=NOW, region_gbps=region_gbps, latency_ms=dict(MEASURED))
    )
    return build(make_policy(actions), _catalog(), groups, forecasts, users=users, **kw)


def _route(inp: PlanInput):
    return plan(inp).of_kind(CommandKind.ROUTING)


def test_weights_follow_the_least_latency_split() -> None:
    (route,) = _route(_input({"r1": 8.0, "r2": 4.0}, routing_weights={"r1": 255, "r2": 255}))
    # r1's clients: 5.4 Gbps at home, 2.6 spill to r2 at 40 ms; r2's 4 Gbps stay home
    after = payload_of(route)
    assert isinstance(after, RoutingPayload)
    assert after.weights == {"r1": round(255 * 5.4 / 12), "r2": round(255 * 6.6 / 12)}
    assert after.split == {"r1": {"r1": 0.675, "r2": 0.325}, "r2": {"r2": 1.0}}
    assert after.latency_ms == pytest.approx((5.4 * 5 + 2.6 * 40 + 4 * 5) / 12, abs=1e-3)
    assert route.before == {"weights": {"r1": 255, "r2": 255}}
    # equal weights in force: every client half at home (5 ms), half away (40 ms) = 22.5 ms
    assert route.reason.startswith(
        "predicted request-weighted latency 22.5 ms with the weights in force -> 12.6 ms "
        "(9.9 ms saved); headroom left r1 0.00 of 5.40 Gbps, r2 2.40 of 9.00 Gbps"
    )
    assert "overload" not in route.reason
    ev = route.evidence
    assert ev.forecast["latency_now_ms"] == pytest.approx(22.5)
    assert ev.forecast["r2_headroom_gbps"] == pytest.approx(2.4)
    assert "objective latency" in ev.policy_rule and "max utilization 0.9" in ev.policy_rule


def test_small_moves_are_held_by_the_min_change_rule() -> None:
    # computed r1 115, r2 140; the step is 10 % of 255 = 25.5
    (route,) = _route(_input({"r1": 8.0, "r2": 4.0}, routing_weights={"r1": 120, "r2": 255}))
    assert route.after["weights"] == {"r1": 120, "r2": 140}  # r1 moves 5: kept
    assert _route(_input({"r1": 8.0, "r2": 4.0}, routing_weights={"r1": 110, "r2": 150})) == []


def test_no_weights_in_force_says_so() -> None:
    (route,) = _route(_input({"r1": 8.0, "r2": 4.0}))
    assert route.reason.startswith("predicted request-weighted latency 12.6 ms (no weights")
    assert "latency_now_ms" not in route.evidence.forecast


def test_too_much_demand_is_explained_as_overload() -> None:
    (route,) = _route(_input({"r1": 12.0, "r2": 6.0}, routing_weights={"r1": 1, "r2": 1}))
    # 18 Gbps for 14.4 usable: 3.6 Gbps over, spread 5.4 : 9 by capacity
    assert "overload r1 1.35 Gbps, r2 2.25 Gbps" in route.reason
    assert "headroom left r1 0.00 of 5.40 Gbps, r2 0.00 of 9.00 Gbps" in route.reason


def test_without_user_signals_the_capacity_objective_applies() -> None:
    (route,) = _route(_input(None))
    assert route.after == {"weights": {"r1": 153, "r2": 255}}  # as with objective: capacity
    (same,) = _route(_input({"r1": 0.0, "r2": 0.0}))  # no client demand: nothing to route
    assert same.after == route.after


def test_capacity_objective_ignores_user_signals() -> None:
    capacity = LATENCY_ACTIONS.replace("objective: latency", "objective: capacity")
    (route,) = _route(_input({"r1": 8.0, "r2": 4.0}, actions=capacity))
    assert route.after == {"weights": {"r1": 153, "r2": 255}}


def test_each_region_keeps_room_for_a_client_surprise() -> None:
    """With p99 demand above p90 the LP keeps room in each serving region for the largest
    single client region's surprise (p99 - p90), so fewer of r1's clients stay at home."""
    users = UserSignals(
        at=NOW,
        region_gbps={"r1": 8.0, "r2": 4.0},
        region_gbps_high={"r1": 9.0, "r2": 4.5},
        latency_ms=dict(MEASURED),
    )
    groups = [
        standalone("a", "m6i.8xlarge", cls="default", region="r1"),
        standalone("a2", "m6i.8xlarge", cls="default", region="r1"),
        standalone("b", "m6i.8xlarge", cls="default", region="r2"),
    ]
    forecasts = {"a": {NET: fc(2, 4, 5)}, "a2": {NET: fc(1, 2, 3)}, "b": {NET: fc(5, 10, 12)}}
    inp = build(make_policy(LATENCY_ACTIONS), _catalog(), groups, forecasts, users=users)
    (route,) = _route(inp)
    split = route.after["split"]
    # without surprise room r1 keeps 0.675 of its clients; r1's surprise (1 Gbps) scaled by
    # the share it keeps at home must fit too: 8 x + 1 x <= 5.4, x = 0.6
    assert split["r1"]["r1"] == pytest.approx(0.6, abs=1e-3)
    assert "headroom left r1 0.60 of 5.40 Gbps" in route.reason
