from datetime import timedelta

import pytest

from providers.fake import FakeProvider
from reconciler.clock import SimulatedClock
from reconciler.context import RunContext
from reconciler.loop import STEP_NAMES, RunStatus, StepStatus, run_once
from tests.cycle.fakes import T0, FakeSteps, MemoryStore


def _ctx(steps: FakeSteps, store: MemoryStore, holder: str = "a") -> RunContext:
    return RunContext(
        clock=SimulatedClock(T0),
        provider=FakeProvider(),
        policy=None,
        history=None,
        store=store,
        steps=steps,
        holder=holder,
    )


def test_full_cycle_runs_every_step_in_order_and_records_it() -> None:
    steps, store = FakeSteps(), MemoryStore()
    report = run_once(_ctx(steps, store))
    assert report.status is RunStatus.OK
    assert steps.calls == list(STEP_NAMES)
    assert [s.name for s in report.steps] == list(STEP_NAMES)
    assert all(s.status is StepStatus.OK and s.seconds >= 0 for s in report.steps)
    assert report.step("compose").summary["groups"] == 1
    assert report.step("plan").summary == {
        "commands": 1,
        "kinds": {"bandwidth_tier": 1},
        "held_back": 0,
    }
    assert store.runs == [report]
    assert report.allocation_in_force == T0
    assert store.holder is None  # lease released


@pytest.mark.parametrize("failing", ["analyze", "plan", "apply", "remediate"])
def test_failing_step_fails_run_and_keeps_last_good_allocation(failing: str) -> None:
    store = MemoryStore()
    good = run_once(_ctx(FakeSteps(), store))
    assert good.ok
    ctx = _ctx(FakeSteps(fail_at=failing), store)
    ctx.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    report = run_once(ctx)
    assert report.status is RunStatus.FAILED
    assert report.error is not None and f"step {failing} failed" in report.error
    assert "injected failure" in report.error
    failed = report.failed_step()
    assert failed is not None and failed.name == failing
    after = STEP_NAMES[STEP_NAMES.index(failing) + 1 :]
    assert [s.name for s in report.steps if s.status is StepStatus.SKIPPED] == list(after)
    assert len(store.allocations) == 1  # nothing of the failed cycle is in force
    assert report.allocation_in_force == T0


def test_second_holder_is_refused_while_lease_is_live() -> None:
    store = MemoryStore()
    store.acquire_lease("other", timedelta(minutes=15))
    steps = FakeSteps()
    report = run_once(_ctx(steps, store, holder="me"))
    assert report.status is RunStatus.SKIPPED
    assert "lease" in (report.error or "")
    assert steps.calls == []
    store.clock_now = T0 + timedelta(minutes=16)  # holder died: lease expired
    assert run_once(_ctx(steps, store, holder="me")).ok


def test_record_failure_fails_the_run() -> None:
    class Broken(MemoryStore):
        def record(self, report, outputs) -> None:
            raise OSError("disk full")

    report = run_once(_ctx(FakeSteps(), Broken()))
    assert report.status is RunStatus.FAILED
    assert "recording the cycle failed: OSError: disk full" in (report.error or "")
    assert report.allocation_in_force is None


def test_losing_the_lease_mid_cycle_stops_before_the_next_step() -> None:
    store = MemoryStore()

    class Thief(FakeSteps):
        def forecast(self, ctx, groups):
            out = super().forecast(ctx, groups)
            store.holder = "thief"  # our lease expired and someone else took it
            return out

    steps = Thief()
    report = run_once(_ctx(steps, store))
    assert report.status is RunStatus.LEASE_LOST
    assert report.failed_step().name == "allocate"  # type: ignore[union-attr]
    assert "lease" in (report.error or "") and "nothing of it was recorded" in report.error
    assert "apply" not in steps.calls
    assert store.allocations == [] and store.runs == []
