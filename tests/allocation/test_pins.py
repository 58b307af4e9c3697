"""Operator pins held by the allocator each cycle (``reconciler.allocation.pins``)."""

from __future__ import annotations

import pytest

from policies.schema import Pools, RegionPool
from reconciler.allocation import GroupDemand, allocate
from reconciler.allocation.pins import allocate_pinned, pinned_demand

TOL = 1e-6


def _pools(global_gbps: float, capacity: float, rate: float) -> Pools:
    return Pools(
        global_gbps=global_gbps,
        regions={"a": RegionPool(capacity_gbps=capacity, guaranteed_gbps=rate)},
    )


def _gd(gid: str, demand: float, *, priority: int = 1, ceiling: float | None = None) -> GroupDemand:
    return GroupDemand(
        group_id=gid,
        region="a",
        demand_gbps=demand,
        guarantee_gbps=0.1,
        ceiling_gbps=ceiling,
        priority=priority,
        quantile=0.9,
    )


def test_pinned_demand_asks_for_the_pin_and_is_guaranteed_it_up_to_the_ceiling() -> None:
    d = pinned_demand(_gd("x", 1.0, ceiling=2.0), 3.0)
    assert (d.demand_gbps, d.guarantee_gbps, d.quantile) == (3.0, 2.0, None)
    assert pinned_demand(_gd("x", 1.0), 0.5).guarantee_gbps == 0.5
    with pytest.raises(ValueError, match="negative"):
        pinned_demand(_gd("x", 1.0), -1.0)


def test_a_pin_above_the_forecast_is_held_before_equal_groups_share() -> None:
    """Without the pin the two equal groups split the region; with it the pinned one gets it."""
    pools = _pools(10.0, 4.0, 4.0)
    demands = [_gd("x", 1.0), _gd("y", 5.0)]
    assert allocate(pools, demands).by_group()["x"].allocated_gbps == pytest.approx(1.0)
    res = allocate_pinned(pools, demands, {"x": 3.541})
    got = res.by_group()
    assert got["x"].allocated_gbps == pytest.approx(3.541, abs=TOL)
    assert got["y"].allocated_gbps == pytest.approx(4.0 - 3.541, abs=TOL)
    note = res.ledger_for("x").steps[-1]  # type: ignore[union-attr]
    assert note == "operator pin 3.541 Gbps (forecast demand 1.000 Gbps): held"
    assert res.ledger_for("y").steps[-1].startswith("cut ")  # type: ignore[union-attr]


def test_a_pin_below_the_forecast_caps_the_group() -> None:
    res = allocate_pinned(_pools(10.0, 10.0, 10.0), [_gd("x", 5.0)], {"x": 1.555})
    assert res.by_group()["x"].allocated_gbps == pytest.approx(1.555, abs=TOL)


def test_a_pin_takes_back_what_lower_priority_groups_borrowed() -> None:
    """Guarantees are served by priority: the pin is made whole from a lower priority's grant."""
    pools = _pools(10.0, 4.0, 4.0)
    demands = [_gd("hi", 0.5, priority=0), _gd("x", 1.0, priority=1), _gd("lo", 9.0, priority=2)]
    res = allocate_pinned(pools, demands, {"x": 3.0})
    got = res.by_group()
    assert got["x"].allocated_gbps == pytest.approx(3.0, abs=TOL)
    assert got["hi"].allocated_gbps == pytest.approx(0.5, abs=TOL)
    assert got["lo"].allocated_gbps == pytest.approx(0.5, abs=TOL)


def test_a_pin_that_cannot_fit_is_cut_and_the_ledger_says_why() -> None:
    pools = _pools(10.0, 4.0, 4.0)
    demands = [_gd("x", 1.0), _gd("y", 1.0)]
    res = allocate_pinned(pools, demands, {"x": 6.0})
    got = res.by_group()
    assert got["x"].allocated_gbps < 6.0 - 1.0
    assert got["x"].cut_gbps == pytest.approx(6.0 - got["x"].allocated_gbps, abs=TOL)
    note = res.ledger_for("x").steps[-1]  # type: ignore[union-attr]
    assert note.startswith("operator pin 6.000 Gbps (forecast demand 1.000 Gbps): cannot be held")
    assert "a has 0.000 Gbps free" in note and f"allocated {got['x'].allocated_gbps:.3f}" in note

    capped = allocate_pinned(pools, [_gd("x", 1.0, ceiling=2.0)], {"x": 3.0})
    assert capped.by_group()["x"].allocated_gbps == pytest.approx(2.0, abs=TOL)
    assert "above the class ceiling 2 Gbps" in capped.ledger_for("x").steps[-1]  # type: ignore[union-attr]


def test_pins_of_groups_without_demand_are_ignored() -> None:
    pools = _pools(10.0, 4.0, 4.0)
    demands = [_gd("x", 1.0)]
    assert allocate_pinned(pools, demands, {"gone": 2.0}) == allocate(pools, demands)
