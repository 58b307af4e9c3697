"""A lease holder killed with ``kill -9`` is replaced within about one ttl (issue 13, finding 13).

A real process takes the lease and hangs in its first step while its heartbeat keeps the lease
alive well past one ttl; after SIGKILL another reconciler's cycle runs within the ttl (plus a
little scheduling slack), where it used to wait up to 15 minutes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from providers.fake import FakeProvider
from reconciler.clock import SystemClock
from reconciler.context import RunContext
from reconciler.loop import RunReport, RunStatus, run_once
from reconciler.state import StateStore
from reconciler.steps.record import StateRecorder
from tests.cycle.fakes import FakeSteps

ROOT = Path(__file__).resolve().parents[2]
TTL = timedelta(seconds=3)

_HOLDER = """
import sys, time
from datetime import timedelta
from providers.fake import FakeProvider
from reconciler.clock import SystemClock
from reconciler.context import RunContext
from reconciler.loop import run_once
from reconciler.state import StateStore
from reconciler.steps.record import StateRecorder
from tests.cycle.fakes import FakeSteps

class Hang(FakeSteps):
    def collect(self, ctx):
        print("holding", flush=True)
        time.sleep(3600)

clock = SystemClock()
store = StateStore.open(sys.argv[1], migrate=False)
ctx = RunContext(clock, FakeProvider(), None, None, StateRecorder(store, clock), Hang(),
                 holder="doomed", lease_ttl=timedelta(seconds=float(sys.argv[2])))
run_once(ctx)
"""


def _cycle(store: StateStore) -> RunReport:
    clock = SystemClock()
    recorder = StateRecorder(store, clock)
    ctx = RunContext(clock, FakeProvider(), None, None, recorder, FakeSteps(), holder="survivor")
    ctx.lease_ttl = TTL
    return run_once(ctx)


def test_a_holder_killed_with_sigkill_is_replaced_within_the_ttl(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = StateStore.open(url)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url, str(TTL.total_seconds())],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        time.sleep(TTL.total_seconds() * 2)  # two ttls into its first step: the heartbeat holds
        assert store.lease_holder(SystemClock().now()) == "doomed"
        assert _cycle(store).status is RunStatus.SKIPPED

        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        killed = attempt = time.monotonic()
        report = _cycle(store)
        while report.status is RunStatus.SKIPPED and attempt - killed < 60:
            time.sleep(0.05)
            attempt = time.monotonic()
            report = _cycle(store)
        took = attempt - killed  # when the cycle that got the lease started
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        store.close()

    assert report.ok, report.error
    print(f"takeover {took:.2f} s after kill -9 (ttl {TTL.total_seconds():g} s)")
    assert took <= TTL.total_seconds() + 0.5, f"took over {took:.1f} s after the kill"
    reopened = StateStore.open(url, migrate=False)
    assert [r.status for r in reopened.recent_runs()] == ["succeeded"]
    reopened.close()
