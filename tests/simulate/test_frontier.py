from __future__ import annotations

import math

import pytest

from reconciler.simulate.frontier import (
    EqualCost,
    Point,
    SlackGoal,
    at_congestion,
    at_cost,
    excess_pct,
    pareto,
)


def pt(strategy, knob, congested, cost, default=False, excess=10.0, trace="t"):
    return Point(
        trace=trace,
        strategy=strategy,
        knob=knob,
        default=default,
        congested=congested,
        intervals=1000,
        unmet=0.0,
        unmet_unit="GB",
        cost=cost,
        cost_unit="Gbps-h",
        slack_pct=0.0,
        excess_slack_pct=excess,
    )


OURS = [pt("headroom", "a", 50, 10.0), pt("headroom", "b", 9, 20.0), pt("headroom", "c", 0, 40.0)]


def test_at_cost_takes_the_fewest_congested_that_costs_no_more():
    assert at_cost(OURS, 25.0).knob == "b"
    assert at_cost(OURS, 20.0).knob == "b"  # equal cost counts
    assert at_cost(OURS, 100.0).knob == "c"
    assert at_cost(OURS, 9.99) is None


def test_pareto_drops_dominated_points():
    worse = pt("headroom", "d", 60, 30.0)
    assert [p.knob for p in pareto([*OURS, worse])] == ["a", "b", "c"]


def test_equal_cost_ratio_per_peer_and_worst_is_headline():
    peers = [
        pt("target-tracking", "0.7", 19, 22.0, default=True),
        pt("target-tracking", "0.9", 90, 12.0),  # not the default: not compared
        pt("static-peak", "peak", 0, 45.0, default=True),
        pt("perfect-foresight", "", 0, 5.0, default=True),  # a limit, never a peer
    ]
    head = EqualCost([*OURS, *peers])
    ratios = {m.peer.strategy: m.ratio for m in head.matches}
    assert ratios == {"target-tracking": pytest.approx(10 / 20), "static-peak": 1.0}
    assert head.worst.peer.strategy == "static-peak"
    assert head.line().startswith("simulate_congestion_ratio_at_equal_cost: 1.00 (worst peer t/")
    assert "ours 0.000% vs peer 0.000% at cost 45 Gbps-h" in head.line()
    assert "no (1 of 2" in head.goal_line()


def test_equal_cost_without_a_cheap_enough_point_is_infinite():
    head = EqualCost([*OURS, pt("static-peak", "p90", 5, 8.0, default=True)])
    assert math.isinf(head.worst.ratio)
    assert "no point this cheap" in head.line()


def test_equal_cost_compares_within_a_trace_only():
    other = pt("headroom", "x", 0, 1.0, trace="u")
    head = EqualCost([*OURS, other, pt("static-peak", "peak", 3, 5.0, default=True)])
    assert math.isinf(head.worst.ratio)


def test_slack_goal_takes_least_excess_at_no_more_congestion():
    ours = [pt("headroom", "a", 5, 10.0, excess=4.0), pt("headroom", "b", 1, 20.0, excess=20.0)]
    peer = pt("vpa-style", "p90", 2, 30.0, default=True, excess=30.0)
    assert at_congestion(ours, 2).knob == "b"
    goal = SlackGoal([*ours, peer])
    assert goal.rows()[0][-1] == pytest.approx(20 / 30)
    assert goal.verdicts == {"t": False}
    assert excess_pct(130.0, 100.0) == pytest.approx(30.0)
