import threading
import time
from datetime import UTC, datetime

import pytest

from providers.fake import FakeProvider
from reconciler.clock import SimulatedClock
from reconciler.context import RunContext
from reconciler.scheduler import build_scheduler, cron_trigger, cycle_job, next_run
from tests.cycle.fakes import T0, FakeSteps, MemoryStore


def test_cron_trigger_rejects_bad_expression_naming_it() -> None:
    with pytest.raises(ValueError, match=r"schedule cron '\*/15 \* \*' \(UTC\) is not valid"):
        cron_trigger("*/15 * *")


def test_scheduler_fires_on_policy_cron() -> None:
    sched = build_scheduler("*/15 * * * *", lambda: None)
    now = datetime(2026, 1, 5, 10, 7, tzinfo=UTC)
    assert next_run(sched, now) == datetime(2026, 1, 5, 10, 15, tzinfo=UTC)
    job = sched.get_job("headroom-cycle")
    assert job.max_instances == 1 and job.coalesce


def test_cycle_job_runs_a_cycle_and_survives_a_broken_context() -> None:
    store = MemoryStore()
    seen = []

    def make() -> RunContext:
        return RunContext(SimulatedClock(T0), FakeProvider(), None, None, store, FakeSteps())

    assert cycle_job(make, seen.append)() is not None
    assert len(seen) == 1 and seen[0].ok

    def broken() -> RunContext:
        raise OSError("database unreachable")

    assert cycle_job(broken, seen.append)() is None
    assert len(seen) == 1


def test_started_scheduler_runs_the_job() -> None:
    fired = threading.Event()
    sched = build_scheduler("* * * * *", fired.set)
    sched.start()
    try:
        sched.add_job(fired.set, id="now")
        assert fired.wait(5)
        # let the scheduler thread drop the finished one-off job before shutting down (else
        # shutdown can empty the job store under it: JobLookupError in its thread)
        deadline = time.monotonic() + 5
        while sched.get_job("now") is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sched.get_job("now") is None
    finally:
        sched.shutdown(wait=True)
