"""A cycle is recorded in one transaction, and readers see only runs that finished and succeeded.

Issue 11 ("the seam to redesign"): the recorder used to open a transaction per write, so a
failure half way left part of a cycle in force, and the composer's "previous state" could be an
unfinished run's snapshot. These run on SQLite and, with ``HEADROOM_TEST_POSTGRES_URL``, on
PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from sqlalchemy import event

from providers.fake import FakeProvider
from reconciler.clock import SimulatedClock
from reconciler.context import RunContext
from reconciler.loop import CycleOutputs, RunReport, run_once
from reconciler.remediation.types import RemediationResult
from reconciler.state import (
    AllocationRecord,
    CommandRecord,
    ForecastRecord,
    PoolRecord,
    StateStore,
)
from reconciler.steps.current import pre_allocation_record
from reconciler.steps.record import StateRecorder
from reconciler.steps.types import (
    Allocation,
    ApplyOutcome,
    ApplyResult,
    CommandOutcome,
    CommandView,
    ForecastSet,
    Group,
    GroupChange,
    GroupSet,
    Plan,
    PoolAllocation,
    Scored,
)
from tests.cycle.fakes import T0, FakeSteps

LATER = timedelta(minutes=15)
#: Every write the recorder makes for a good cycle, in order (the last ones see the most done).
WRITES = (
    "save_composition",
    "save_composer_snapshot",
    "save_forecasts",
    "record_accuracy",
    "save_allocations",
    "save_pre_allocations",
    "save_commands",
    "update_commands",
)


@dataclass
class Steps(FakeSteps):
    """A cycle that writes every kind of row: one group with an event, the composer's and the
    breaker's state, a forecast and a scored one, an allocation and its pool, a pre-allocation
    and an applied bandwidth command."""

    group: str = "g1"
    gbps: float = 1.5
    seen: list[str] = field(default_factory=list)

    def compose(self, ctx: RunContext, analysis: Any) -> GroupSet:
        self._enter("compose")
        return GroupSet(
            (Group(self.group, "application", (f"i-{self.group}",), "us-east-1"),),
            events=(GroupChange(self.group, "formed", "new traffic"),),
            state={"ids": {f"i-{self.group}": self.group}},
        )

    def forecast(self, ctx: RunContext, groups: GroupSet) -> ForecastSet:
        self._enter("forecast")
        now = ctx.clock.now()
        frame = pl.DataFrame(
            {
                "group_id": [self.group],
                "metric": ["network_gbps"],
                "ts": [now],
                "p50": [self.gbps / 2],
                "p90": [self.gbps],
                "p99": [self.gbps * 2],
            }
        )
        scored = Scored(self.group, "network_gbps", now, {"0.5": 1.0}, self.gbps, "lightgbm")
        return ForecastSet(frame, {self.group: "lightgbm"}, scored=(scored,))

    def allocate(self, ctx: RunContext, groups: GroupSet, forecasts: ForecastSet) -> Allocation:
        self._enter("allocate")
        return Allocation(
            ctx.clock.now(),
            {self.group: self.gbps},
            (PoolAllocation("us-east-1", None, 10.0, self.gbps),),
            {self.group: "us-east-1"},
        )

    def plan(self, ctx: Any, groups: Any, forecasts: Any, allocation: Any) -> Plan:
        self._enter("plan")
        need = {"network_gbps": self.gbps}
        command = CommandView("bandwidth_tier", self.group, "1g", f"{self.gbps}g", "p90 forecast")
        return Plan(
            (command,),
            preallocation_needs={self.group: need},
            preallocations={self.group: need},
        )

    def apply(self, ctx: RunContext, groups: Any, allocation: Any, plan: Plan) -> ApplyResult:
        self._enter("apply")
        return ApplyResult(ApplyOutcome.APPLIED, "up", outcomes=(CommandOutcome("applied"),))

    def remediate(
        self, ctx: Any, groups: Any, forecasts: Any, allocation: Any, plan: Any, applied: Any
    ) -> RemediationResult:
        self._enter("remediate")
        return RemediationResult((), (), (), allocation, breaker_state={"open": [self.group]})


def _cycle(
    store: StateStore,
    clock: SimulatedClock,
    steps: FakeSteps,
    recorder: StateRecorder | None = None,
) -> RunReport:
    recorder = recorder or StateRecorder(store, clock)
    return run_once(RunContext(clock, FakeProvider(), None, None, recorder, steps, holder="a"))


def _visible(store: StateStore, clock: SimulatedClock) -> dict[str, Any]:
    """What every reader of the state in force returns (the cycle's and the API's)."""
    recorder = StateRecorder(store, clock)
    last = recorder.last_allocation()
    groups = ("g1", "g2")
    return {
        "previous_state": recorder.previous_state(),
        "last_allocation": None if last is None else (last.at, last.groups, last.pools),
        "latest_allocations": [(a.run_id, a.group_id, a.gbps) for a in store.latest_allocations()],
        "allocated_gbps": store.latest_allocated_gbps(),
        "pools": [(p.pool, p.allocated_gbps) for p in store.latest_pool_states()],
        "groups": [(g.id, g.members) for g in store.latest_groups(include_dissolved=True)],
        "forecasts": {g: [f.quantiles for f in store.latest_forecasts(g)] for g in groups},
        "history": {g: [a.run_id for a in store.allocation_history(g)] for g in groups},
        "accuracy": {g: [a.actual for a in store.accuracy_for_group(g)] for g in groups},
        "events": [(e.group_id, e.kind, e.run_id) for e in store.recent_events()],
        "pre_allocations": {
            g: (r.network_need_gbps, r.network_allocated_gbps)
            for g, r in store.latest_pre_allocations().items()
        },
        "commands": [(c.run_id, c.target, c.status) for c in store.list_commands()],
        "last_applied": {k: c.after for k, c in store.last_applied(["bandwidth_tier"]).items()},
    }


def _fail_once(store: StateStore, name: str, on_the_way: Callable[[], None]) -> None:
    """Make the store's ``name`` write raise the first time it is called (after ``on_the_way``)."""
    real = getattr(store, name)
    calls = {"n": 0}

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            on_the_way()
            raise OSError(f"injected failure in {name}")
        return real(*args, **kwargs)

    setattr(store, name, failing)


@pytest.mark.parametrize("failing", WRITES)
def test_a_failure_while_recording_leaves_nothing_of_the_cycle_in_force(
    store: StateStore, failing: str
) -> None:
    clock = SimulatedClock(T0)
    good = _cycle(store, clock, Steps())
    assert good.ok, good.error
    before = _visible(store, clock)
    assert before["groups"] == [("g1", ("i-g1",))] and before["allocated_gbps"] == {"g1": 1.5}
    assert before["previous_state"] == {
        "composer": {"ids": {"i-g1": "g1"}},
        "breaker": {"open": ["g1"]},
    }

    clock.advance(LATER)
    during: list[dict[str, Any]] = []

    def look_from_another_connection() -> None:
        # what a reader (the API, another process) sees while the cycle is half written
        with ThreadPoolExecutor(1) as pool:
            during.append(pool.submit(_visible, store, clock).result())

    _fail_once(store, failing, look_from_another_connection)
    bad = _cycle(store, clock, Steps(group="g2", gbps=4.0))

    assert not bad.ok and f"injected failure in {failing}" in (bad.error or "")
    run = store.get_run(bad.run_id)
    assert run is not None and run.status == "failed" and run.finished is not None
    assert f"injected failure in {failing}" in (run.error or "")
    assert during == [before], "a reader saw part of an unfinished cycle"
    after = _visible(store, clock)
    # what reached the stack before recording failed is recorded, as applied (a failed run's
    # applied commands are real: cooldowns and the settings in force see them) ...
    applied = store.commands_for_run(bad.run_id)
    assert [(c.target, c.status) for c in applied] == [("g2", "applied")]
    assert "the run failed after apply" in (applied[0].outcome or "")
    assert after.pop("last_applied") == {
        **before.pop("last_applied"),
        ("bandwidth_tier", "g2"): "4.0g",
    }
    # ... and nothing else of it: the previous cycle's groups, allocation and state stay in force
    assert after == before
    assert StateRecorder(store, clock).last_allocation().groups == {"g1": 1.5}  # type: ignore[union-attr]

    clock.advance(LATER)
    again = _cycle(store, clock, Steps(group="g2", gbps=4.0))
    assert again.ok, again.error
    assert _visible(store, clock)["allocated_gbps"] == {"g2": 4.0}


def test_a_failure_while_recording_a_failed_run_still_marks_it_failed(store: StateStore) -> None:
    """When even the failed run's applied commands cannot be written, the run row still is."""
    clock = SimulatedClock(T0)
    assert _cycle(store, clock, Steps()).ok
    before = _visible(store, clock)
    clock.advance(LATER)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    store.save_commands = broken  # type: ignore[method-assign]
    bad = _cycle(store, clock, Steps(group="g2", gbps=4.0, fail_at="remediate"))
    assert not bad.ok and "disk full" in (bad.error or "")
    run = store.get_run(bad.run_id)
    assert run is not None and run.status == "failed" and "disk full" in (run.error or "")
    assert store.commands_for_run(bad.run_id) == []
    assert _visible(store, clock) == before


def test_an_unfinished_run_is_never_previous_state_or_latest_allocation(
    store: StateStore,
) -> None:
    """A run row without success (its process killed, or another writer mid-way) is invisible."""
    clock = SimulatedClock(T0)
    assert _cycle(store, clock, Steps()).ok
    before = _visible(store, clock)

    at = T0 + LATER
    store.record_run_start("half", at)
    store.save_composer_snapshot("half", at, {"composer": {"ids": {"x": "g9"}}, "breaker": {}})
    store.save_forecasts(
        "half", at, [ForecastRecord("g1", "network_gbps", at, {"0.5": 9.0}, "l", "h")]
    )
    store.save_allocations(
        "half", at, [AllocationRecord("g1", "us-east-1", 9.0)], [PoolRecord("us-east-1", 10, 9)]
    )
    store.save_pre_allocations("half", at, [pre_allocation_record("g1", {}, {"network_gbps": 9.0})])
    store.save_commands(
        "half", at, [CommandRecord("bandwidth_tier", "g1", "p90", "1.5g", "9g", status="applied")]
    )
    assert _visible(store, clock) == before

    # once the next lease holder marks it failed, only what its apply step put on the stack counts
    store.record_run_finish("half", at, status="failed", step_timings={})
    after = _visible(store, clock)
    assert after.pop("last_applied") == {("bandwidth_tier", "g1"): "9g"}
    before.pop("last_applied")
    assert after == before


@contextmanager
def _counting(store: StateStore) -> Iterator[dict[str, int]]:
    """Count connection checkouts, transactions begun, commits and rollbacks on the engine."""
    engine = store.engine
    assert engine is not None
    counts = {"checkout": 0, "begin": 0, "commit": 0, "rollback": 0}
    lock = threading.Lock()

    def hook(name: str) -> Callable[..., None]:
        def count(*_: Any) -> None:
            with lock:
                counts[name] += 1

        return count

    hooks = {name: hook(name) for name in counts}
    for name, fn in hooks.items():
        event.listen(engine, name, fn)
    try:
        yield counts
    finally:
        for name, fn in hooks.items():
            event.remove(engine, name, fn)


class CountingRecorder(StateRecorder):
    """The production recorder, counting what one ``record`` does on the database."""

    def __init__(self, store: StateStore, clock: SimulatedClock) -> None:
        super().__init__(store, clock)
        self.counts: list[dict[str, int]] = []

    def record(self, report: RunReport, outputs: CycleOutputs) -> None:
        with _counting(self.store) as counts:
            try:
                super().record(report, outputs)
            finally:
                self.counts.append(dict(counts))


ONE_TRANSACTION = {"checkout": 1, "begin": 1, "commit": 1, "rollback": 0}


def test_a_cycle_is_recorded_in_one_transaction(store: StateStore) -> None:
    clock = SimulatedClock(T0)
    recorder = CountingRecorder(store, clock)
    first = _cycle(store, clock, Steps(), recorder)
    clock.advance(LATER)
    second = _cycle(store, clock, Steps(group="g2", gbps=4.0), recorder)  # groups dissolve, move
    clock.advance(LATER)
    failed = _cycle(store, clock, Steps(fail_at="remediate"), recorder)  # applied, then failed
    assert first.ok and second.ok and not failed.ok
    assert store.get_run(failed.run_id).status == "failed"  # type: ignore[union-attr]
    assert [c.status for c in store.commands_for_run(failed.run_id)] == ["applied"]
    assert recorder.counts == [ONE_TRANSACTION] * 3


def test_a_failed_recording_rolls_back_then_marks_the_run_failed_once(store: StateStore) -> None:
    clock = SimulatedClock(T0)
    recorder = CountingRecorder(store, clock)
    _fail_once(store, "save_allocations", lambda: None)
    report = _cycle(store, clock, Steps(), recorder)
    assert not report.ok
    # the cycle's transaction rolled back; one short one wrote the failed run and its commands
    assert recorder.counts == [{"checkout": 2, "begin": 2, "commit": 1, "rollback": 1}]
    assert store.get_run(report.run_id).status == "failed"  # type: ignore[union-attr]
