"""The lease is re-checked inside the transaction that records a cycle (issue 13, finding 12).

Two cycles overlapped when the first one's lease expired during its last step, and both
recorded ``succeeded``. Now recording starts with a compare-and-set on the lease row, so a cycle
that lost its lease records nothing and says ``lease_lost``. SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from reconciler.clock import SimulatedClock
from reconciler.loop import RunReport, RunStatus
from reconciler.state import StateStore
from tests.cycle.fakes import FakeSteps
from tests.state.conftest import T0
from tests.state.faults import LEASE_TTL, Overtaken, cycle

TTL = LEASE_TTL


def test_two_overlapping_cycles_record_exactly_one_success(store: StateStore) -> None:
    clock = SimulatedClock(T0)
    second: list[RunReport] = []
    first_steps = Overtaken(
        clock, "remediate", lambda: second.append(cycle(store, clock, FakeSteps(), "b"))
    )
    first = cycle(store, clock, first_steps, "a")

    assert second[0].ok, second[0].error
    assert first.status is RunStatus.LEASE_LOST
    assert "lease" in (first.error or "") and "nothing of it was recorded" in (first.error or "")
    assert store.get_run(first.run_id) is None
    assert [(r.id, r.status) for r in store.recent_runs()] == [(second[0].run_id, "succeeded")]
    assert store.commands_for_run(first.run_id) == []
    assert store.lease_holder(clock.now()) is None


def test_an_expired_lease_nobody_took_still_records_nothing(store: StateStore) -> None:
    clock = SimulatedClock(T0)
    report = cycle(store, clock, Overtaken(clock, "remediate"), "a")
    assert report.status is RunStatus.LEASE_LOST
    assert store.recent_runs() == []


def test_losing_the_lease_before_a_step_stops_the_cycle_and_records_nothing(
    store: StateStore,
) -> None:
    clock = SimulatedClock(T0)
    steps = Overtaken(clock, "forecast", lambda: store.acquire_lease("b", clock.now(), TTL))
    report = cycle(store, clock, steps, "a")
    assert report.status is RunStatus.LEASE_LOST
    assert "allocate" not in steps.calls
    assert store.recent_runs() == []
    assert store.lease_holder(clock.now()) == "b"  # the new holder's lease is left alone


def test_hold_lease_is_true_only_for_the_unexpired_holder(
    store: StateStore,
) -> None:
    assert store.acquire_lease("a", T0, TTL)
    with store.transaction():
        assert store.hold_lease("a", T0 + timedelta(seconds=30))
        store.record_run("kept", T0, T0, status="succeeded", step_timings={})
    later = T0 + TTL * 2
    with store.transaction():
        assert not store.hold_lease("a", later)  # expired, nobody took it: not ours either
    assert store.acquire_lease("b", later, TTL)
    with store.transaction():
        assert not store.hold_lease("a", later)
        assert store.hold_lease("b", later)
    assert [r.id for r in store.recent_runs()] == ["kept"]


def test_a_takeover_waits_for_the_recording_transaction(db_url: str, store: StateStore) -> None:
    """While a holder records, a contender whose clock says the lease expired cannot take it
    over until that transaction commits: the fence is a row lock (PostgreSQL) or the write
    lock (SQLite), not a read followed by a write."""
    other = StateStore.open(_same_database(db_url, store), migrate=False)
    try:
        assert store.acquire_lease("a", T0, TTL)
        took: list[bool] = []
        contender = threading.Thread(
            target=lambda: took.append(other.acquire_lease("b", T0 + TTL * 2, TTL))
        )
        with store.transaction():
            assert store.hold_lease("a", T0 + timedelta(seconds=30))
            store.record_run("a-run", T0, T0, status="succeeded", step_timings={})
            contender.start()
            time.sleep(0.5)
            assert took == [], "the contender took the lease while it was being recorded under"
        contender.join(timeout=30)
        assert took == [True]  # after the commit it was expired: the takeover goes ahead
        assert store.get_run("a-run") is not None
    finally:
        other.close()


def _same_database(db_url: str, store: StateStore) -> str:
    engine = store.engine
    assert engine is not None
    if not db_url.startswith("sqlite"):
        return db_url
    return engine.url.render_as_string(hide_password=False)
