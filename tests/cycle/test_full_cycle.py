"""The real steps end to end on a small synthetic fleet served by the FakeProvider."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.cycle import FleetSpec, synthetic_fleet
from policies import load_policy
from reconciler.clock import SimulatedClock
from reconciler.loop import STEP_NAMES, run_once
from reconciler.steps.build import CycleSettings, build_context

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def fast_policy():
    policy = load_policy(ROOT / "policies" / "examples" / "default.yaml")
    sel = policy.group_selection
    traffic = sel.traffic.model_copy(update={"form_cycles": 1})
    return policy.model_copy(
        update={"group_selection": sel.model_copy(update={"traffic": traffic})}
    )


@pytest.fixture
def settings(tmp_path: Path) -> CycleSettings:
    return CycleSettings(
        policy_path=ROOT / "policies" / "examples" / "default.yaml",
        history_root=str(tmp_path / "history"),
        state_dir=tmp_path / "state",
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
    )


def test_two_cycles_find_groups_forecast_allocate_and_plan(settings: CycleSettings) -> None:
    # the fleet's data runs an hour past the first cycle, so the second can score the first
    provider = synthetic_fleet(
        FleetSpec(resources=24, groups=4, metric_days=3.2), NOW + timedelta(hours=1)
    )
    clock = SimulatedClock(NOW)
    policy = fast_policy()
    ctx = build_context(settings, clock=clock, provider=provider, policy=policy)
    first = run_once(ctx)
    assert first.ok, first.error
    assert [s.name for s in first.steps] == list(STEP_NAMES)
    groups = first.step("compose").summary
    assert groups["groups"] >= 4
    assert first.step("forecast").summary["models"] == {"lightgbm": groups["groups"] - 1} or (
        first.step("forecast").summary["series"] >= 4
    )
    alloc = first.step("allocate").summary
    assert alloc["total_gbps"] > 0
    assert first.step("apply").summary["outcome"] in ("stopped_at_plan", "nothing_to_do")

    clock.advance(timedelta(minutes=15))
    second = run_once(build_context(settings, clock=clock, provider=provider, policy=policy))
    assert second.ok, second.error
    state = ctx.store.store  # type: ignore[attr-defined]
    ids = {g.id for g in state.latest_groups()}
    assert len(ids) == groups["groups"]  # stable ids across cycles
    assert state.latest_allocations()
    assert state.latest_pool_states()
    assert second.step("forecast").summary["scored_points"] > 0  # the feedback loop
    scored = [a for gid in ids for a in state.accuracy_for_group(gid)]
    assert scored and all("0.9" in a.predicted for a in scored)
