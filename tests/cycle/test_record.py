from datetime import timedelta
from pathlib import Path

import pytest

from providers.fake import FakeProvider
from reconciler.clock import SimulatedClock
from reconciler.context import RunContext
from reconciler.loop import run_once
from reconciler.state import StateStore
from reconciler.steps.record import StateRecorder
from tests.cycle.fakes import T0, FakeSteps


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    s = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


def _ctx(store: StateStore, clock: SimulatedClock, steps: FakeSteps, holder: str = "a"):
    return RunContext(
        clock, FakeProvider(), None, None, StateRecorder(store, clock), steps, holder=holder
    )


def test_good_cycle_is_recorded_and_failed_one_keeps_last_allocation(store: StateStore) -> None:
    clock = SimulatedClock(T0)
    good = run_once(_ctx(store, clock, FakeSteps()))
    assert good.ok, good.error
    assert [g.id for g in store.latest_groups()] == ["g1"]
    assert [(a.group_id, a.gbps) for a in store.latest_allocations()] == [("g1", 1.5)]
    assert [c.kind for c in store.commands_for_run(good.run_id)] == ["bandwidth_tier"]
    assert store.latest_forecasts("g1")[0].quantiles == {"0.5": 1.0, "0.9": 1.5, "0.99": 2.0}
    assert store.get_run(good.run_id).status == "succeeded"

    clock.advance(timedelta(minutes=15))
    bad = run_once(_ctx(store, clock, FakeSteps(fail_at="apply")))
    assert not bad.ok
    run = store.get_run(bad.run_id)
    assert run.status == "failed" and "step apply failed" in (run.error or "")
    assert store.commands_for_run(bad.run_id) == []
    recorder = StateRecorder(store, clock)
    last = recorder.last_allocation()
    assert last is not None and last.groups == {"g1": 1.5}
    assert bad.allocation_in_force == last.at == T0


def test_lease_is_exclusive_across_recorders_and_stale_runs_are_failed(store: StateStore) -> None:
    clock = SimulatedClock(T0)
    other = StateRecorder(store, clock)
    assert other.acquire_lease("dead-process", timedelta(minutes=5))
    store.record_run_start("dead-run", T0)  # the dead process had started a run
    skipped = run_once(_ctx(store, clock, FakeSteps(), holder="b"))
    assert skipped.status == "skipped"
    clock.advance(timedelta(minutes=6))  # its lease expired
    report = run_once(_ctx(store, clock, FakeSteps(), holder="b"))
    assert report.ok
    assert store.get_run("dead-run").status == "failed"
    assert store.lease_holder(clock.now()) is None
