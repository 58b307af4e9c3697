"""Bandwidth reaches the stack as bandwidth: every group's tier in the desired state carries
the allocator's grant as its rate, the tier's speed (within the class limit) as its ceiling,
and the class priority; a tier change publishes the new tier's rates, and a group with no tier
yet gets one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.state import StateStore
from tests.cycle.plan_fixture import FakeActuator, Harness, Steps, open_store, policy


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateStore]:
    s = open_store(tmp_path)
    yield s
    s.close()


def test_a_surge_raises_the_tier_with_the_new_rate_and_ceiling(state: StateStore) -> None:
    steps = Steps(state, {"g1": (0.3, 0.4, 0.5), "t1": (0.2, 0.3, 0.4)})
    actuator = FakeActuator()
    h = Harness(state, steps, policy(), actuator)
    _, first = h.cycle()
    assert first.applied is not None and first.applied.desired is not None
    tiers = {g.id: g.bandwidth_tier for g in first.applied.desired.groups}
    assert first.allocation is not None
    for gid, gbps in first.allocation.groups.items():
        tier = tiers[gid]
        assert tier is not None and tier.tier == "basic", (gid, tier)
        assert tier.guaranteed_mbps == pytest.approx(gbps * 1000, abs=1e-3)
        assert tier.ceiling_mbps == pytest.approx(1000)  # basic: 1 Gbps
        assert tier.priority == 1  # the class's

    steps.demand["g1"] = (3.0, 4.0, 5.0)  # a surge: basic no longer carries it
    _, second = h.cycle(after=timedelta(minutes=40))
    assert second.plan is not None and second.applied is not None
    tier_cmds = [
        (c, o)
        for c, o in zip(second.plan.commands, second.applied.outcomes, strict=True)
        if c.kind == "bandwidth_tier" and c.target == "g1"
    ]
    assert tier_cmds and tier_cmds[0][0].after == {"tier": "fast"}
    assert tier_cmds[0][1].status == "applied"
    assert second.allocation is not None
    granted = second.allocation.groups["g1"]
    published = next(g for g in actuator.applied[-1]["groups"] if g["id"] == "g1")
    assert published["bandwidth_tier"]["tier"] == "fast"
    assert published["bandwidth_tier"]["guaranteed_mbps"] == pytest.approx(granted * 1000, abs=1e-3)
    # fast is 10 Gbps, but the group may never take more than its region's pool (30 Gbps) or
    # class ceiling (none): the tier's speed is the ceiling
    assert published["bandwidth_tier"]["ceiling_mbps"] == pytest.approx(10_000)


def test_a_group_with_no_tier_yet_gets_one(state: StateStore) -> None:
    actuator = FakeActuator()
    seed = actuator.desired
    assert seed is not None
    steps = Steps(state, {"g2": (0.2, 0.3, 0.4)})
    from reconciler.steps.types import Group, GroupSet

    steps.groups = GroupSet((Group("g2", "application", ("i-4",), "eu-west-1"),))
    h = Harness(state, steps, policy(), actuator)
    _, out = h.cycle()
    assert out.applied is not None and out.applied.desired is not None
    g2 = next(g for g in out.applied.desired.groups if g.id == "g2")
    assert g2.bandwidth_tier is not None and g2.bandwidth_tier.tier == "basic"
    assert out.allocation is not None
    assert g2.bandwidth_tier.guaranteed_mbps == pytest.approx(
        out.allocation.groups["g2"] * 1000, abs=1e-3
    )
