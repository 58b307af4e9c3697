"""Faults for the state store and the lease, shared by the state tests and the fault corpus
(``tests/corpus/state/cases.json``): a holder killed with SIGKILL, a process killed half way
through recording, a cycle overtaken while it runs, and databases that cannot be used."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

from providers.fake import FakeProvider
from reconciler.clock import Clock, SimulatedClock, SystemClock
from reconciler.context import RunContext
from reconciler.loop import RunReport, RunStatus, run_once
from reconciler.state import StateStore
from reconciler.state.engine import make_engine, make_session_factory
from reconciler.steps.record import StateRecorder
from tests.cycle.fakes import FakeSteps

__all__ = [
    "LEASE_TTL",
    "ROOT",
    "Overtaken",
    "broken_database",
    "crash_while_recording",
    "cycle",
    "store_with",
    "takeover_after_sigkill",
]

ROOT = Path(__file__).resolve().parents[2]
LEASE_TTL = timedelta(seconds=60)


def cycle(
    store: StateStore,
    clock: Clock,
    steps: FakeSteps,
    holder: str,
    ttl: timedelta = LEASE_TTL,
) -> RunReport:
    """One cycle of ``steps`` recorded in ``store`` by ``holder``."""
    ctx = RunContext(clock, FakeProvider(), None, None, StateRecorder(store, clock), steps)
    ctx.holder, ctx.lease_ttl = holder, ttl
    return run_once(ctx)


class Overtaken(FakeSteps):
    """Its lease runs out during step ``at`` (the clock jumps two ttls); ``then`` runs there,
    e.g. another reconciler taking the lease over."""

    def __init__(self, clock: SimulatedClock, at: str, then: Callable[[], Any] | None = None):
        super().__init__()
        self.clock, self.at, self.then = clock, at, then

    def _enter(self, name: str) -> None:
        super()._enter(name)
        if name == self.at:
            self.clock.advance(LEASE_TTL * 2)
            if self.then is not None:
                self.then()


# ---- processes that die -----------------------------------------------------------------------
_HOLDER = """
import sys, time
from datetime import timedelta
from reconciler.clock import SystemClock
from reconciler.state import StateStore
from tests.cycle.fakes import FakeSteps
from tests.state.faults import cycle

class Hang(FakeSteps):
    def collect(self, ctx):
        print("holding", flush=True)
        time.sleep(3600)

store = StateStore.open(sys.argv[1], migrate=False)
cycle(store, SystemClock(), Hang(), "doomed", timedelta(seconds=float(sys.argv[2])))
"""


def takeover_after_sigkill(tmp_path: Path, ttl: timedelta) -> tuple[RunReport, float, bool]:
    """A process takes the lease and hangs in its first step; two ttls later (its heartbeat
    holding the lease meanwhile) it is killed with SIGKILL and another reconciler tries a cycle
    every 50 ms. Returns the cycle that ran, the seconds from the kill to its start, and
    whether the lease was still the killed holder's just before the kill."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = StateStore.open(url)
    holder = _python(_HOLDER, url, str(ttl.total_seconds()))
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        time.sleep(ttl.total_seconds() * 2)
        held = store.lease_holder(SystemClock().now()) == "doomed"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        killed = attempt = time.monotonic()
        report = cycle(store, SystemClock(), FakeSteps(), "survivor", ttl)
        while report.status is RunStatus.SKIPPED and attempt - killed < 60:
            time.sleep(0.05)
            attempt = time.monotonic()
            report = cycle(store, SystemClock(), FakeSteps(), "survivor", ttl)
        return report, attempt - killed, held
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        store.close()


_CRASHER = """
import os, signal, sys
from datetime import datetime
from reconciler.clock import SimulatedClock
from reconciler.state import StateStore
from tests.state.faults import cycle
from tests.state.test_record_atomic import Steps

store = StateStore.open(sys.argv[1], migrate=False)
write = getattr(store, sys.argv[2])

def crash(*args, **kwargs):
    write(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # inside the recording transaction, after this write

setattr(store, sys.argv[2], crash)
clock = SimulatedClock(datetime.fromisoformat(sys.argv[3]))
cycle(store, clock, Steps(group="g2", gbps=4.0), "crasher")
"""


def crash_while_recording(url: str, write: str, at: str) -> int:
    """Run a cycle in another process that is killed (SIGKILL) just after the recorder's
    ``write`` inside the recording transaction; returns its exit code (-9)."""
    proc = _python(_CRASHER, url, write, at)
    proc.communicate(timeout=120)
    return proc.returncode


def _python(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


# ---- databases that cannot be used ------------------------------------------------------------
def store_with(url: str, *pragmas: str) -> StateStore:
    """A store on ``url`` whose connections also run ``pragmas`` (after Headroom's own)."""
    engine = make_engine(url)

    def apply(dbapi_conn: Any, _record: Any) -> None:
        for pragma in pragmas:
            dbapi_conn.execute(pragma)

    event.listen(engine, "connect", apply)
    return StateStore(make_session_factory(engine), engine)


def broken_database(tmp_path: Path, fault: str) -> tuple[str, Path]:
    """A SQLite database URL with ``fault``, and the path the error must name."""
    path = tmp_path / "state.db"
    if fault == "missing_folder":
        path = tmp_path / "gone" / "deeper" / "state.db"
        return f"sqlite:///{path}", path.parent
    if fault == "folder_is_a_file":
        (tmp_path / "plain").write_text("not a folder")
        path = tmp_path / "plain" / "state.db"
        return f"sqlite:///{path}", path.parent
    if fault == "path_is_a_folder":
        path.mkdir()
        return f"sqlite:///{path}", path
    StateStore.open(f"sqlite:///{path}").close()
    if fault == "read_only":  # root ignores file modes: SQLite's read-only open mode instead
        return f"sqlite:///file:{path}?mode=ro&uri=true", path
    if fault == "corrupt":
        path.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    elif fault == "truncated":
        _checkpoint(path)
        path.write_bytes(path.read_bytes()[:1500])
    elif fault == "text_file":
        path.write_text("this is a note, not a database\n")
    elif fault != "healthy":
        raise ValueError(f"unknown database fault {fault!r}")
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    return f"sqlite:///{path}", path


def _checkpoint(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
