"""Waiting commands (approved, scheduled) across cycles, dry runs, and cooldowns counted from the
change that went out: regressions on the real plan and apply steps and the real state store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.loop import CycleOutputs
from reconciler.state import StateStore
from reconciler.steps.types import Group, GroupSet
from tests.cycle.plan_fixture import (
    GROUPS,
    INVENTORY,
    NOW,
    WEST,
    FakeActuator,
    Harness,
    Steps,
    _vm,
    open_store,
    policy,
)

DEMAND = {"g1": (2.8, 3.5, 4.2), "t1": (0.8, 1.0, 1.2)}
MORE = (3.2, 4.2, 5.0)  # g1 needs one instance more than with DEMAND


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateStore]:
    s = open_store(tmp_path)
    yield s
    s.close()


def _outcomes(out: CycleOutputs, kind: str) -> list[tuple[int | None, Any, str]]:
    assert out.plan is not None and out.applied is not None
    pairs = zip(out.plan.commands, out.applied.outcomes, strict=True)
    return [(c.id, c.after, o.status) for c, o in pairs if c.kind == kind]


def _held(out: CycleOutputs) -> dict[str, str]:
    assert out.plan is not None
    return {s.command.kind: s.reason for s in out.plan.result.skipped}


def _asg_desired(actuator: FakeActuator) -> int:
    assert actuator.desired is not None
    (g1,) = [g for g in json.loads(actuator.desired)["groups"] if g["id"] == "g1"]
    return int(g1["scaling_groups"][0]["desired"])


def _approve_only(state: StateStore, kind: str, at: Any) -> int:
    (waiting,) = [c for c in state.list_commands(["needs_approval"]) if c.kind == kind]
    assert waiting.id is not None
    state.approve_command(waiting.id, at, by="test")
    return waiting.id


# ---- 2: a waiting command is superseded only by a replacement that goes on --------------------


def _big_fleet(state: StateStore) -> Steps:
    """DEMAND on a fleet large enough that the per-cycle budget never clips asg-1's scale-out."""
    extra = [_vm(f"i-{n}", WEST) for n in range(5, 9)]
    groups = GroupSet(
        (*GROUPS.groups, Group("g3", "application", tuple(r.id for r in extra), WEST))
    )
    return Steps(state, dict(DEMAND), inventory=[*INVENTORY, *extra], groups=groups)


def test_approved_scale_superseded_by_a_bigger_one_that_is_not_held(state: StateStore) -> None:
    steps = _big_fleet(state)
    actuator = FakeActuator()
    h = Harness(state, steps, policy(needs_approval=["scale"]), actuator)
    h.cycle()
    approved = _approve_only(state, "scale", h.clock.now())
    steps.demand["g1"] = MORE
    _, second = h.cycle(after=timedelta(minutes=10))
    got = state.get_command(approved)
    assert got is not None and got.status == "skipped"
    assert got.outcome == "superseded: the newest plan wants {'desired': 6}"
    # the replacement is asked for, not held back by the approved command that never went out
    assert "scale" not in _held(second), _held(second)
    assert _outcomes(second, "scale") == [(None, {"desired": 6}, "needs_approval")]
    _approve_only(state, "scale", h.clock.now())
    _, third = h.cycle(after=timedelta(minutes=5))
    assert [s for _, _, s in _outcomes(third, "scale")] == ["applied"]
    assert _asg_desired(actuator) == 6


def test_approved_scale_applied_when_the_budget_clips_the_bigger_need_to_it(
    state: StateStore,
) -> None:
    """The need grows to 6 but the per-cycle budget clips the scale-out to the approved 5: the
    approved command goes out (it used to be superseded by the unclipped 6, then held)."""
    steps = Steps(state, dict(DEMAND))
    actuator = FakeActuator()
    h = Harness(state, steps, policy(needs_approval=["scale"]), actuator)
    h.cycle()
    approved = _approve_only(state, "scale", h.clock.now())
    steps.demand["g1"] = MORE
    _, second = h.cycle(after=timedelta(minutes=10))
    assert _outcomes(second, "scale") == [(approved, {"desired": 5}, "applied")]
    assert _asg_desired(actuator) == 5
    _, third = h.cycle(after=timedelta(minutes=10))  # 5 -> 6 waits for the scale's cooldown
    assert _held(third)["scale"].startswith("cooling down: last scale of asg-1 at 2026-03-04T12:10")


def test_approved_budget_clipped_scale_is_applied(state: StateStore) -> None:
    actuator = FakeActuator()
    p = policy(needs_approval=["scale"], max_resources_changed=1)
    h = Harness(state, Steps(state, dict(DEMAND)), p, actuator)
    _, first = h.cycle()
    assert _outcomes(first, "scale") == [(None, {"desired": 3}, "needs_approval")]
    approved = _approve_only(state, "scale", h.clock.now())
    _, second = h.cycle(after=timedelta(minutes=10))
    assert _outcomes(second, "scale") == [(approved, {"desired": 3}, "applied")]
    got = state.get_command(approved)
    assert got is not None and got.status == "applied"
    assert _asg_desired(actuator) == 3


def test_waiting_command_kept_while_its_replacement_is_held(state: StateStore) -> None:
    """Another scale of the ASG went out after the approved one was planned: the replacement is
    cooling down, so the approved command is not dropped for it (nor applied) until it can go."""
    from reconciler.state import CommandRecord

    steps = Steps(state, dict(DEMAND))
    h = Harness(state, steps, policy(needs_approval=["scale"]), FakeActuator())
    h.cycle()
    approved = _approve_only(state, "scale", h.clock.now())
    h.clock.advance(timedelta(minutes=5))
    body = {
        "kind": "scale",
        "target": "asg-1",
        "before": {"desired": 2},
        "after": {"desired": 4},
        "reason": "by hand",
        "issued_at": h.clock.now().isoformat(),
    }
    state.record_run_start("other", h.clock.now())
    state.save_commands(
        "other",
        h.clock.now(),
        [
            CommandRecord(
                "scale",
                "asg-1",
                "by hand",
                {"desired": 2},
                {"desired": 4},
                evidence={"command": body},
                status="applied",
            )
        ],
    )
    state.record_run_finish("other", h.clock.now(), status="succeeded", step_timings={})
    steps.demand["g1"] = MORE
    _, second = h.cycle(after=timedelta(minutes=5))
    assert _held(second)["scale"].startswith("cooling down: last scale of asg-1 at")
    got = state.get_command(approved)
    assert got is not None and got.status == "approved"
    assert _outcomes(second, "scale") == []
    _, third = h.cycle(after=timedelta(minutes=30))  # the hand-made scale's cooldown is over
    got = state.get_command(approved)
    assert got is not None and got.status == "skipped" and "superseded" in (got.outcome or "")
    assert _outcomes(third, "scale") == [(None, {"desired": 6}, "needs_approval")]


# ---- 3: a dry run changes no real command state ------------------------------------------------


def test_dry_run_leaves_approved_commands_alone(state: StateStore) -> None:
    steps = Steps(state, dict(DEMAND))
    h = Harness(state, steps, policy(needs_approval=["scale"]), FakeActuator())
    h.cycle()
    approved = _approve_only(state, "scale", h.clock.now())
    steps.demand["g1"] = (1.2, 1.5, 1.8)  # the approved scale-out would not be wanted
    h.cycle(after=timedelta(minutes=10), dry_run=True)
    got = state.get_command(approved)
    assert got is not None and got.status == "approved"


def test_dry_run_queues_no_approval_and_starts_no_cooldown(state: StateStore) -> None:
    steps = Steps(state, dict(DEMAND))
    actuator = FakeActuator()
    h = Harness(state, steps, policy(needs_approval=["resize"]), actuator)
    dry_report, dry = h.cycle(dry_run=True)
    assert {k for k, _ in _kinds_of(dry)} >= {"scale", "edge_cache", "routing"}
    assert actuator.applied == []
    assert state.list_commands(["needs_approval", "scheduled", "approved"]) == []
    assert state.list_commands() == []  # a dry run's commands are not the real ones
    assert state.last_applied(["scale", "edge_cache", "routing"]) == {}
    assert {c.status for c in state.commands_for_run(dry_report.run_id)} <= {"planned", "skipped"}
    _, real = h.cycle(after=timedelta(minutes=5))
    assert not any(r.startswith("cooling down") for r in _held(real).values()), _held(real)
    assert {"scale", "edge_cache", "routing"} <= {k for k, _ in _kinds_of(real)}
    assert _asg_desired(actuator) == 5


def test_dry_run_needs_approval_cannot_be_approved(state: StateStore) -> None:
    from reconciler.state import CommandStateError

    h = Harness(state, Steps(state, dict(DEMAND)), policy(needs_approval=["scale"]))
    report, _ = h.cycle(dry_run=True)
    (scale,) = [c for c in state.commands_for_run(report.run_id) if c.kind == "scale"]
    assert scale.status == "planned" and "dry run" in (scale.outcome or "")
    assert scale.id is not None
    with pytest.raises(CommandStateError):
        state.approve_command(scale.id, h.clock.now())


def _kinds_of(out: CycleOutputs) -> list[tuple[str, Any]]:
    assert out.plan is not None
    return [(c.kind, c.after) for c in out.plan.commands]


# ---- 4: the cooldown of a command applied late counts from when it was applied -----------------


def test_resize_applied_late_starts_its_cooldown_when_applied(state: StateStore) -> None:
    actuator = FakeActuator()
    groups = GroupSet((Group("g2", "application", ("i-4",), WEST),))
    steps = Steps(state, {"g2": (1.0, 1.2, 1.4)}, peak_at=NOW + timedelta(hours=2), groups=groups)
    h = Harness(state, steps, policy(), actuator)
    _, first = h.cycle()  # 12:00: resize scheduled for 13:40
    assert [s for _, _, s in _outcomes(first, "resize")] == ["scheduled"]
    _, applied = h.cycle(after=timedelta(minutes=105))  # 13:45: applied
    assert [s for _, _, s in _outcomes(applied, "resize")] == ["applied"]
    steps.demand["g2"] = (2.4, 3.0, 3.4)  # now it needs a larger size
    _, later = h.cycle(after=timedelta(minutes=5))  # 13:50
    assert _outcomes(later, "resize") == []
    assert _held(later)["resize"].startswith("cooling down: last resize of i-4 at 2026-03-04T13:45")
    types = [
        i["instance_type"]
        for desired in actuator.applied
        for g in desired["groups"]
        if g["id"] == "g2"
        for i in g["instances"]
    ]
    assert types[-1] == "m6i.xlarge" and "m6i.2xlarge" not in types  # no second stop/start
