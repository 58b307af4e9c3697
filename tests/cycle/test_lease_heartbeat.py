"""A short lease renewed by a heartbeat while a cycle runs (issue 13, finding 13).

With a 15-minute ttl renewed only between steps, a holder killed with ``kill -9`` blocked every
cycle for up to 15 minutes. The ttl is now a minute (``HEADROOM_LEASE_TTL``), renewed every
ttl/3 from a heartbeat thread; a refused renewal stops the cycle, which records nothing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from providers.fake import FakeProvider
from reconciler.clock import SimulatedClock
from reconciler.context import DEFAULT_LEASE_TTL, LEASE_TTL_ENV, RunContext, lease_ttl_setting
from reconciler.loop import RunStatus, run_once
from reconciler.state.heartbeat import LeaseHeartbeat
from reconciler.steps.types import Collected
from tests.cycle.fakes import T0, FakeSteps, MemoryStore

TTL = timedelta(seconds=0.3)  # the heartbeat renews every 0.1 s


def _on_heartbeat() -> bool:
    return threading.current_thread().name.endswith("-heartbeat")


@dataclass
class WatchedStore(MemoryStore):
    """Counts the renewals made by the heartbeat thread; ``refuse`` makes them fail."""

    beats: int = 0
    refuse: bool = False
    raise_on_beat: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def renew_lease(self, holder: str, ttl: timedelta) -> bool:
        if not _on_heartbeat():
            return super().renew_lease(holder, ttl)
        with self.lock:
            self.beats += 1
        if self.raise_on_beat:
            raise ConnectionError("database unreachable")
        if self.refuse:
            self.holder = "thief"  # our lease ran out and another reconciler took it
            return False
        return super().renew_lease(holder, ttl)


class SlowCollect(FakeSteps):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def collect(self, ctx: RunContext) -> Collected:
        time.sleep(self.seconds)
        return super().collect(ctx)


def _ctx(steps: FakeSteps, store: MemoryStore) -> RunContext:
    ctx = RunContext(SimulatedClock(T0), FakeProvider(), None, None, store, steps, holder="a")
    ctx.lease_ttl = TTL
    return ctx


def test_the_heartbeat_renews_every_third_of_the_ttl_while_a_step_runs() -> None:
    store = WatchedStore()
    report = run_once(_ctx(SlowCollect(1.0), store))
    assert report.ok, report.error
    assert 5 <= store.beats <= 12  # ~9 in 1 s at 0.1 s; a loaded machine beats less often
    assert len(store.runs) == 1


def test_a_refused_renewal_stops_the_cycle_and_nothing_is_recorded() -> None:
    store, steps = WatchedStore(refuse=True), SlowCollect(0.5)
    report = run_once(_ctx(steps, store))
    assert report.status is RunStatus.LEASE_LOST
    assert report.failed_step().name == "analyze"  # type: ignore[union-attr]
    assert "nothing of it was recorded" in (report.error or "")
    assert steps.calls[-1] == "collect" and store.runs == []
    assert store.beats == 1  # the heartbeat stopped at the first refusal


def test_renewals_that_keep_failing_count_as_a_lost_lease() -> None:
    store = WatchedStore(raise_on_beat=True)
    report = run_once(_ctx(SlowCollect(0.6), store))
    assert report.status is RunStatus.LEASE_LOST
    assert "kept failing" in (report.error or "") and "database unreachable" in report.error
    assert store.runs == []


def test_the_heartbeat_stops_when_the_cycle_ends() -> None:
    store = WatchedStore()
    assert run_once(_ctx(SlowCollect(0.25), store)).ok
    beats = store.beats
    time.sleep(0.4)
    assert store.beats == beats
    assert not [t for t in threading.enumerate() if t.name.endswith("-heartbeat")]


def test_the_heartbeat_reports_why_it_lost_the_lease() -> None:
    answers = iter([True, False])
    with LeaseHeartbeat(lambda: next(answers), TTL) as beat:
        time.sleep(0.5)
    assert beat.renewals == 1 and beat.lost
    assert beat.reason == "the cycle lease expired or was taken over"
    with pytest.raises(ValueError, match="must be positive"):
        LeaseHeartbeat(lambda: True, timedelta(0))


def test_the_lease_ttl_is_a_minute_unless_set() -> None:
    assert lease_ttl_setting({}) == DEFAULT_LEASE_TTL == timedelta(seconds=60)
    assert lease_ttl_setting({LEASE_TTL_ENV: " 90 "}) == timedelta(seconds=90)
    for bad in ("abc", "0", "-5", "nan", "1e9"):
        with pytest.raises(ValueError, match=f"{LEASE_TTL_ENV}=.* is not a number of seconds"):
            lease_ttl_setting({LEASE_TTL_ENV: bad})
    assert RunContext(SimulatedClock(T0), FakeProvider(), None, None, None, None).lease_ttl == (
        DEFAULT_LEASE_TTL
    )


def test_the_handler_and_the_cycle_settings_take_the_ttl_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pathlib import Path

    from reconciler.handler import HandlerConfigError, config_from_env
    from reconciler.steps.build import CycleSettings

    env = {"HEADROOM_DATABASE_URL": "sqlite://", "HEADROOM_HISTORY_URL": "s3://b/p"}
    assert config_from_env(env, {})["lease_ttl"] == DEFAULT_LEASE_TTL
    assert config_from_env({**env, LEASE_TTL_ENV: "75"}, {})["lease_ttl"] == timedelta(seconds=75)
    with pytest.raises(HandlerConfigError, match=f"{LEASE_TTL_ENV}='x' is not a number"):
        config_from_env({**env, LEASE_TTL_ENV: "x"}, {})
    monkeypatch.setenv(LEASE_TTL_ENV, "45")
    assert CycleSettings(Path("policy.yaml"), "history").lease_ttl == timedelta(seconds=45)
    monkeypatch.delenv(LEASE_TTL_ENV)
    assert CycleSettings(Path("policy.yaml"), "history").lease_ttl == DEFAULT_LEASE_TTL
