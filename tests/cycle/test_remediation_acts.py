"""Remediation acts through the same path as the plan (issue 11, finding 3): what borrowing
could not cover becomes planner commands (same guards), applied on top of the desired state the
apply step produced; a borrow restates the groups' bandwidth tiers. Both are recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.cycle import FleetSpec, synthetic_fleet
from infra.desired_state import DesiredState
from policies.schema import Pools, RegionPool
from reconciler.clock import SimulatedClock
from reconciler.loop import CycleOutputs, run_once
from reconciler.remediation import RemediationConfig
from reconciler.state import StateStore
from reconciler.steps.build import CycleSettings, build_context
from reconciler.steps.package import StepSettings
from tests.cycle.plan_fixture import FakeActuator
from tests.cycle.test_full_cycle import fast_policy

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def _run(
    tmp_path: Path, pools: Pools, remediation: RemediationConfig
) -> tuple[CycleOutputs, FakeActuator, StateStore]:
    policy = fast_policy().model_copy(update={"pools": pools})
    provider = synthetic_fleet(
        FleetSpec(resources=8, groups=4, metric_days=3.2), NOW + timedelta(hours=1)
    )
    settings = CycleSettings(
        policy_path=ROOT / "policies" / "examples" / "default.yaml",
        history_root=str(tmp_path / "history"),
        state_dir=tmp_path / "state",
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        steps=StepSettings(remediation=remediation),
    )
    actuator = FakeActuator(desired=None)
    state = StateStore.open(settings.database_url or "")
    ctx = build_context(
        settings,
        clock=SimulatedClock(NOW),
        provider=provider,
        policy=policy,
        state=state,
        actuator=actuator,
    )
    seen: list[CycleOutputs] = []
    ctx.observer = lambda _report, out: seen.append(out)
    report = run_once(ctx)
    assert report.ok, report.error
    return seen[0], actuator, state


def test_a_remediation_scale_lands_in_the_desired_state(tmp_path: Path) -> None:
    # a pool far below the fleet's use: borrowing cannot cover it, remediation asks to scale
    pools = Pools(
        global_gbps=1.0, regions={"us-east-1": RegionPool(capacity_gbps=1.0, guaranteed_gbps=0.5)}
    )
    eager = RemediationConfig(utilisation_threshold=0.05, points=1, borrow_margin=1.5)
    out, actuator, state = _run(tmp_path, pools, eager)
    rem = out.remediation
    assert rem is not None and rem.plan is not None and rem.applied is not None
    scaled = {a.group_id for a in rem.actions if a.kind == "scale"}
    assert scaled
    pairs = list(zip(rem.plan.commands, rem.applied.outcomes, strict=True))
    landed = [(c, o) for c, o in pairs if o.status == "applied"]
    assert landed, pairs
    for c, _ in landed:
        assert c.reason.startswith("remediation: ") and c.body is not None
        assert c.body["group_id"] in scaled
    # the remediation's change is in the last desired state put on the stack, on top of the
    # apply step's own: every group keeps its bandwidth tier
    assert len(actuator.applied) >= 2
    last = DesiredState.model_validate(actuator.applied[-1])
    types = {i.import_id: i.instance_type for g in last.groups for i in g.instances}
    for c, _ in landed:
        if c.kind == "resize":
            assert types[c.target] == c.after["instance_type"]
    assert out.applied is not None and out.applied.desired is not None
    before = {g.id for g in out.applied.desired.groups if g.bandwidth_tier is not None}
    assert before <= {g.id for g in last.groups if g.bandwidth_tier is not None}
    # recorded: the commands as applied (cooldowns count them), the scale action as applied
    stored = {(c.kind, c.target): c.status for c in state.list_commands()}
    for c, _ in landed:
        assert stored[(c.kind, c.target)] == "applied"
    actions = {c.target: c.status for c in state.list_commands() if c.kind == "remediate.scale"}
    applied_groups = {c.body["group_id"] for c, _ in landed if c.body}
    assert all(actions[g] == "applied" for g in applied_groups)
    state.close()


def test_a_borrow_restates_the_tiers_in_the_desired_state(tmp_path: Path) -> None:
    # room to lend: remediation borrows, and the grants it puts in force reach the stack
    pools = Pools(
        global_gbps=8.0, regions={"us-east-1": RegionPool(capacity_gbps=8.0, guaranteed_gbps=1.0)}
    )
    eager = RemediationConfig(utilisation_threshold=0.05, points=1, borrow_margin=1.5)
    out, actuator, state = _run(tmp_path, pools, eager)
    rem = out.remediation
    assert rem is not None and rem.allocation is not None
    borrowed = [a for a in rem.actions if a.kind == "borrow"]
    assert borrowed, rem.actions
    last = DesiredState.model_validate(actuator.applied[-1])
    tiers = {g.id: g.bandwidth_tier for g in last.groups}
    for a in borrowed:
        tier = tiers[a.group_id]
        assert tier is not None
        granted = rem.allocation.groups[a.group_id]
        assert tier.guaranteed_mbps == pytest.approx(granted * 1000, abs=1e-3)
        assert granted > (a.before_gbps or 0.0)
    recorded = {r.group_id: r.gbps for r in state.latest_allocations()}
    for a in borrowed:
        assert recorded[a.group_id] == pytest.approx(rem.allocation.groups[a.group_id])
    state.close()
