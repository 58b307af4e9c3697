"""Plan and apply across cycles on the real state store: cooldowns, the state in force,
scheduled resizes, approvals and every forecast metric reaching the planner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from reconciler.planning import PlanMetric
from reconciler.state import StateStore
from reconciler.steps.plan import plan_forecasts
from reconciler.steps.types import ForecastSet, Group, GroupSet
from tests.cycle.plan_fixture import (
    INVENTORY,
    NOW,
    WEST,
    FakeActuator,
    Harness,
    Steps,
    open_store,
    policy,
)

DEMAND = {"g1": (2.8, 3.5, 4.2), "t1": (0.8, 1.0, 1.2)}


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateStore]:
    s = open_store(tmp_path)
    yield s
    s.close()


def _pairs(out):  # type: ignore[no-untyped-def]
    return list(zip(out.plan.commands, out.applied.outcomes, strict=True))


def _resizes(out):  # type: ignore[no-untyped-def]
    return [(c, o) for c, o in _pairs(out) if c.kind == "resize"]


def _kinds(out) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {c.kind: c.after for c in out.plan.commands}


def test_second_cycle_holds_scale_cache_and_routing_by_cooldown(state: StateStore) -> None:
    steps = Steps(state, dict(DEMAND))
    h = Harness(state, steps, policy(), FakeActuator())
    _, first = h.cycle()
    assert {"scale", "edge_cache", "routing"} <= set(_kinds(first))
    assert all(o.status == "applied" for o in first.applied.outcomes), first.applied.outcomes
    steps.demand["g1"] = (6.4, 8.0, 9.6)  # more demand: new counts, nodes and weights
    _, second = h.cycle(after=timedelta(minutes=10))
    held = {s.command.kind: s.reason for s in second.plan.result.skipped}
    for kind in ("scale", "edge_cache", "routing"):
        assert kind not in _kinds(second)
        assert held[kind].startswith("cooling down"), held


def test_what_a_run_applied_before_a_later_step_failed_still_counts(state: StateStore) -> None:
    """Remediation fails after apply: the stack changed, so the applied commands are recorded
    (the run stays failed) and the next cycle neither repeats them nor ignores their cooldown."""

    class BrokenRemediation(Steps):
        def remediate(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("remediation broke")

    steps = BrokenRemediation(state, dict(DEMAND))
    actuator = FakeActuator()
    h = Harness(state, steps, policy(), actuator)
    report, first = h.cycle(expect_ok=False)
    assert "remediation broke" in (report.error or "")
    assert len(actuator.applied) == 1
    scale = next(c for c in first.plan.commands if c.kind == "scale")
    recorded = state.last_applied(["scale"])[("scale", scale.target)]
    assert recorded.after == scale.after and recorded.status == "applied"
    assert "the run failed after apply" in (recorded.outcome or "")
    assert state.latest_pre_allocations() == {}  # nothing else of the failed run is in force
    steps.demand["g1"] = (6.4, 8.0, 9.6)
    good = Steps(state, steps.demand)
    h.steps = good
    _, second = h.cycle(after=timedelta(minutes=10))
    held = {s.command.kind: s.reason for s in second.plan.result.skipped}
    assert held["scale"].startswith("cooling down"), held


def test_commands_never_applied_start_no_cooldown(state: StateStore) -> None:
    steps = Steps(state, dict(DEMAND))
    h = Harness(state, steps, policy())  # no actuator: commands are planned, not applied
    _, first = h.cycle()
    stack = {c.kind: o.status for c, o in _pairs(first) if c.kind != "preallocate"}
    assert set(stack.values()) == {"planned"}, stack
    steps.demand["g1"] = (6.4, 8.0, 9.6)
    _, second = h.cycle(after=timedelta(minutes=10))
    held = {s.command.kind: s.reason for s in second.plan.result.skipped}
    assert not any(r.startswith("cooling down") for r in held.values()), held
    assert {"scale", "edge_cache", "routing"} <= set(_kinds(second))


def test_second_identical_cycle_issues_no_repeat_commands(state: StateStore) -> None:
    actuator = FakeActuator()
    h = Harness(state, Steps(state, dict(DEMAND)), policy(), actuator)
    _, first = h.cycle()
    kinds = _kinds(first)
    assert {"scale", "bandwidth_tier", "edge_cache", "routing", "preallocate"} <= set(kinds)
    assert all(o.status == "applied" for o in first.applied.outcomes), first.applied.outcomes
    # past every cooldown: only a change of state or demand could bring a command back
    _, second = h.cycle(after=timedelta(hours=2))
    assert second.plan.commands == ()
    assert second.applied.outcome == "nothing_to_do"
    record = state.latest_pre_allocations()["t1"]
    assert (record.network_need_gbps, record.network_allocated_gbps) == (1.0, 1.0)
    assert record.cpu_need is None  # never predicted, so never recorded
    assert len(actuator.applied) == 1


def test_pre_allocation_record_of_a_failed_run_is_not_in_force(state: StateStore) -> None:
    from reconciler.steps.current import pre_allocation_record

    state.record_run_start("bad", NOW)
    state.save_pre_allocations("bad", NOW, [pre_allocation_record("t1", {}, {"network_gbps": 9.0})])
    state.record_run_finish("bad", NOW, status="failed", step_timings={})
    assert state.latest_pre_allocations() == {}


def test_pre_allocation_record_of_a_dry_run_is_not_in_force(state: StateStore) -> None:
    """A dry run previews its pre-allocations; the record in force stays the real one."""
    h = Harness(state, Steps(state, dict(DEMAND)), policy(), FakeActuator())
    h.cycle()
    real = state.latest_pre_allocations()["t1"]
    h.steps.demand["t1"] = (2.4, 3.0, 3.6)
    h.cycle(after=timedelta(hours=2), dry_run=True)
    assert state.latest_pre_allocations()["t1"] == real


def _resize_harness(state: StateStore, actuator: FakeActuator) -> Harness:
    groups = GroupSet((Group("g2", "application", ("i-4",), WEST),))
    steps = Steps(state, {"g2": (1.0, 1.2, 1.4)}, peak_at=NOW + timedelta(hours=2), groups=groups)
    return Harness(state, steps, policy(), actuator)


def _i4_type(actuator: FakeActuator) -> str:
    assert actuator.desired is not None
    (g2,) = [g for g in json.loads(actuator.desired)["groups"] if g["id"] == "g2"]
    return str(g2["instances"][0]["instance_type"])


def test_resize_scheduled_ahead_of_the_peak_waits_for_not_before(state: StateStore) -> None:
    actuator = FakeActuator()
    h = _resize_harness(state, actuator)
    _, first = h.cycle()
    resizes = _resizes(first)
    ((view, outcome),) = resizes
    assert view.after == {"instance_type": "m6i.xlarge"}
    assert view.body is not None and view.body["not_before"].startswith("2026-03-04T13:40")
    assert outcome.status == "scheduled"
    assert _i4_type(actuator) == "m6i.large"  # not stopped and started 1h40m early
    (stored,) = state.list_commands(["scheduled"])
    # a cycle before not_before: still waiting, carried, and no second resize
    _, second = h.cycle(after=timedelta(minutes=70))
    resizes = _resizes(second)
    assert [(c.id, o.status) for c, o in resizes] == [(stored.id, "scheduled")]
    assert _i4_type(actuator) == "m6i.large"
    # the first cycle at or after not_before applies it
    _, third = h.cycle(after=timedelta(minutes=35))
    resizes = _resizes(third)
    assert [(c.id, o.status) for c, o in resizes] == [(stored.id, "applied")]
    assert _i4_type(actuator) == "m6i.xlarge"
    got = state.get_command(stored.id)  # type: ignore[arg-type]
    assert got is not None and got.status == "applied"
    assert state.list_commands(["scheduled"]) == []


def test_approved_command_is_applied_by_the_next_cycle(state: StateStore) -> None:
    actuator = FakeActuator()
    h = Harness(state, Steps(state, dict(DEMAND)), policy(needs_approval=["scale"]), actuator)
    _, first = h.cycle()
    statuses = {c.kind: o.status for c, o in _pairs(first)}
    assert statuses["scale"] == "needs_approval"
    (waiting,) = state.list_commands(["needs_approval"])
    assert waiting.kind == "scale" and waiting.id is not None
    # not approved yet: the next cycle leaves it waiting and asks nothing new
    _, second = h.cycle(after=timedelta(hours=1))
    assert all(c.kind != "scale" for c in second.plan.commands)
    assert state.get_command(waiting.id).status == "needs_approval"  # type: ignore[union-attr]
    state.approve_command(waiting.id, h.clock.now(), by="test")
    _, third = h.cycle(after=timedelta(minutes=5))
    assert [(c.kind, c.id) for c in third.plan.commands] == [("scale", waiting.id)]
    assert third.applied.outcomes[0].status == "applied"
    asg = actuator.applied[-1]["groups"][0]["scaling_groups"][0]
    assert asg["desired"] == 5
    assert state.get_command(waiting.id).status == "applied"  # type: ignore[union-attr]


def test_approved_command_superseded_when_demand_changed(state: StateStore) -> None:
    steps = Steps(state, dict(DEMAND))
    h = Harness(state, steps, policy(needs_approval=["scale"]), FakeActuator())
    h.cycle()
    (waiting,) = state.list_commands(["needs_approval"])
    state.approve_command(waiting.id, h.clock.now())  # type: ignore[arg-type]
    steps.demand["g1"] = (1.2, 1.5, 1.8)  # less demand: the approved scale-out is not wanted
    _, second = h.cycle(after=timedelta(minutes=40))
    assert state.get_command(waiting.id).status == "skipped"  # type: ignore[arg-type,union-attr]
    assert all(c.id is None for c in second.plan.commands)


def test_every_planner_metric_reaches_the_planner() -> None:
    ts = NOW + timedelta(minutes=30)
    frame = pl.DataFrame(
        {
            "group_id": ["g1", "g1", "g1", "g1", "g1", "g1", "g1"],
            "metric": [
                "network_gbps",
                "network_gbps",
                "cpu_vcpu",
                "memory_gib",
                "io_mbps",
                "latency_ms",
                "queue_depth",
            ],
            "ts": [ts, ts + timedelta(minutes=5), ts, ts, ts, ts, ts],
            "p50": [1.0, 2.0, 3.0, 12.0, 80.0, 4.0, 1.0],
            "p90": [1.5, 2.5, 3.5, 14.0, 90.0, 5.0, 1.0],
            "p99": [2.0, 3.0, 4.0, 16.0, 99.0, 6.0, 1.0],
        },
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )
    got = plan_forecasts(ForecastSet(frame))["g1"]
    assert set(got) == set(PlanMetric)
    assert got[PlanMetric.NETWORK_GBPS].quantiles == {"p50": 2.0, "p90": 2.5, "p99": 3.0}
    assert got[PlanMetric.CPU_VCPU].quantiles["p90"] == 3.5
    assert got[PlanMetric.MEMORY_GIB].peak_at == ts


def test_inventory_fixture_is_unchanged() -> None:
    assert [r.id for r in INVENTORY] == ["i-1", "i-2", "i-3", "i-4"]
