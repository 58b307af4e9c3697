"""The routing LP on small cases whose optimum is known by hand."""

from __future__ import annotations

import math

import pytest

from reconciler.routing import (
    SAME_REGION_MS,
    RoutingError,
    latency_matrix,
    predicted_latency,
    solve_routing,
)

TWO = {("a", "a"): 5.0, ("a", "b"): 30.0, ("b", "a"): 30.0, ("b", "b"): 5.0}


def test_room_everywhere_each_client_stays_home() -> None:
    sol = solve_routing({"a": 4.0, "b": 2.0}, TWO, {"a": 10.0, "b": 10.0})
    assert sol.split == {"a": {"a": 1.0, "b": 0.0}, "b": {"a": 0.0, "b": 1.0}}
    assert sol.latency_ms == pytest.approx(5.0)
    assert sol.shares == pytest.approx({"a": 4 / 6, "b": 2 / 6})
    assert sol.headroom_gbps == pytest.approx({"a": 6.0, "b": 8.0})
    assert not sol.overloaded and sol.overload_gbps == {"a": 0.0, "b": 0.0}


def test_capacity_binds_and_spills_the_least_costly_traffic() -> None:
    # a needs 10 but a holds 6: 4 Gbps go to b at 30 ms -> (6 x 5 + 4 x 30 + 2 x 5) / 12
    sol = solve_routing({"a": 10.0, "b": 2.0}, TWO, {"a": 6.0, "b": 10.0})
    assert sol.split["a"] == pytest.approx({"a": 0.6, "b": 0.4})
    assert sol.split["b"] == pytest.approx({"a": 0.0, "b": 1.0})
    assert sol.latency_ms == pytest.approx(160 / 12)
    assert sol.load_gbps == pytest.approx({"a": 6.0, "b": 6.0})
    assert sol.headroom_gbps == pytest.approx({"a": 0.0, "b": 4.0})


def test_max_utilization_shrinks_the_usable_capacity() -> None:
    sol = solve_routing({"a": 10.0, "b": 2.0}, TWO, {"a": 10.0, "b": 20.0}, max_utilization=0.5)
    assert sol.load_gbps == pytest.approx({"a": 5.0, "b": 7.0})
    assert sol.headroom_gbps == pytest.approx({"a": 0.0, "b": 3.0})
    assert not sol.overloaded


def test_cheaper_spill_is_chosen_among_three_regions() -> None:
    lat = {("a", "a"): 5.0, ("a", "b"): 40.0, ("a", "c"): 20.0, ("c", "c"): 5.0, ("b", "b"): 5.0}
    sol = solve_routing({"a": 8.0}, lat, {"a": 5.0, "b": 10.0, "c": 10.0})
    assert sol.split["a"] == pytest.approx({"a": 5 / 8, "b": 0.0, "c": 3 / 8})
    assert sol.latency_ms == pytest.approx((5 * 5 + 3 * 20) / 8)


def test_too_much_demand_is_reported_as_overload() -> None:
    # 18 Gbps for 16: the LP fills both, the 2 Gbps left over spread 6:10 by capacity
    sol = solve_routing({"a": 10.0, "b": 8.0}, TWO, {"a": 6.0, "b": 10.0})
    assert sol.overloaded
    assert sol.overload_gbps == pytest.approx({"a": 0.75, "b": 1.25})
    assert sum(sol.load_gbps.values()) == pytest.approx(18.0)
    for row in sol.split.values():
        assert sum(row.values()) == pytest.approx(1.0)
    assert sol.headroom_gbps == {"a": 0.0, "b": 0.0}


def test_pairs_without_latency_are_not_used_and_lost_clients_reported() -> None:
    lat = {("a", "a"): 5.0, ("b", "b"): 5.0}  # no cross pairs: no spill, a overloads
    sol = solve_routing({"a": 10.0, "b": 1.0, "z": 3.0}, lat, {"a": 6.0, "b": 10.0})
    assert sol.split["a"] == {"a": 1.0} and sol.split["b"] == {"b": 1.0}
    assert sol.overload_gbps == pytest.approx({"a": 4.0, "b": 0.0})
    assert sol.unroutable_gbps == {"z": 3.0} and "z" not in sol.split


def test_idle_client_points_at_its_nearest_region() -> None:
    sol = solve_routing({"a": 0.0, "b": 1.0}, TWO, {"a": 1.0, "b": 1.0})
    assert sol.split["a"] == {"a": 1.0, "b": 0.0}
    assert sol.shares == pytest.approx({"a": 0.0, "b": 1.0})


@pytest.mark.parametrize(
    ("demand", "latency", "capacity", "util", "message"),
    [
        ({"a": -1.0}, TWO, {"a": 1.0}, 1.0, "routing demand of client region 'a' (Gbps) is -1.0"),
        ({"a": math.nan}, TWO, {"a": 1.0}, 1.0, "client region 'a' (Gbps) is nan"),
        ({"a": 1.0}, TWO, {"b": -2.0}, 1.0, "capacity of serving region 'b' (Gbps) is -2.0"),
        ({"a": 1.0}, {("a", "a"): math.inf}, {"a": 1.0}, 1.0, "latency 'a' -> 'a' (ms) is inf"),
        ({"a": 1.0}, TWO, {}, 1.0, "at least one serving region"),
        ({"a": 1.0}, TWO, {"a": 1.0}, 1.5, "max_utilization is 1.5: must be in (0, 1]"),
    ],
)
def test_bad_input_is_one_clear_line(demand, latency, capacity, util, message) -> None:
    with pytest.raises(RoutingError) as err:
        solve_routing(demand, latency, capacity, max_utilization=util)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_predicted_latency_of_a_fixed_split() -> None:
    split = {"a": {"a": 0.5, "b": 0.5}, "b": {"a": 0.5, "b": 0.5}}
    assert predicted_latency({"a": 3.0, "b": 1.0}, TWO, split) == pytest.approx(17.5)
    # a pair without a latency is dropped and the rest renormalised
    assert predicted_latency({"a": 1.0}, {("a", "a"): 5.0}, split) == pytest.approx(5.0)
    assert predicted_latency({"a": 0.0}, TWO, split) == 0.0


def test_latency_matrix_prefers_measured_then_configured_then_same_region() -> None:
    got = latency_matrix(
        ["a", "b"],
        ["a", "b", "c"],
        measured={("a", "b"): 31.0},
        configured={"a": {"b": 99.0, "c": 60}, "b": {"a": 28}},
    )
    assert got == {
        ("a", "a"): SAME_REGION_MS,
        ("a", "b"): 31.0,
        ("a", "c"): 60.0,
        ("b", "a"): 28.0,
        ("b", "b"): SAME_REGION_MS,
    }


def test_surprise_room_hedges_a_volatile_client() -> None:
    # a (6 Gbps, may be 6 more) at home would need 12 of a's 10: 5/6 stay, 1/6 go to b
    calm = solve_routing({"a": 6.0, "b": 2.0}, TWO, {"a": 10.0, "b": 10.0})
    assert calm.split["a"] == pytest.approx({"a": 1.0, "b": 0.0})
    sol = solve_routing(
        {"a": 6.0, "b": 2.0}, TWO, {"a": 10.0, "b": 10.0}, surprise_gbps={"a": 6.0, "b": 0.0}
    )
    assert sol.split["a"] == pytest.approx({"a": 5 / 6, "b": 1 / 6})
    assert sol.latency_ms == pytest.approx((6 * (5 / 6 * 5 + 1 / 6 * 30) + 2 * 5) / 8)
    assert sol.load_gbps == pytest.approx({"a": 5.0, "b": 3.0})
    with pytest.raises(RoutingError, match="surprise of client region 'a' \\(Gbps\\) is -1"):
        solve_routing({"a": 6.0}, TWO, {"a": 10.0}, surprise_gbps={"a": -1.0})
