"""Every fault in ``tests/corpus/state/cases.json`` against the state store and the lease
(issue 13, findings 12, 13 and 15): processes killed while recording or while holding the lease,
leases that run out mid-cycle, databases that cannot be used, URLs and writes that carry
secrets. For each: no exception escapes and no traceback is printed, no part of an unfinished
or overtaken cycle is in force, no password, salt or hash is ever shown, and it ends in time.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from reconciler.api.tokens import issue_token
from reconciler.cli import app, explain
from reconciler.clock import SimulatedClock
from reconciler.loop import RunReport, RunStatus
from reconciler.state import StateStore
from reconciler.steps.types import ForecastSet
from tests.corpus.bounded import within
from tests.cycle.fakes import T0, FakeSteps
from tests.state.faults import (
    Overtaken,
    broken_database,
    crash_while_recording,
    cycle,
    store_with,
    takeover_after_sigkill,
)
from tests.state.test_record_atomic import Steps, _visible

HERE = Path(__file__).parent / "state"
CASES: list[dict[str, Any]] = json.loads((HERE / "cases.json").read_text())
SECRET = "s3cret"
HEX = re.compile(r"[0-9a-f]{32,}")  # a token's salt (32 hex) or salted hash (64)
LATER = timedelta(minutes=15)

Case = dict[str, Any]


def _sqlite(tmp_path: Path) -> tuple[str, StateStore]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    return url, StateStore.open(url)


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def crash_while_recording_case(case: Case, tmp_path: Path) -> str:
    url, store = _sqlite(tmp_path)
    clock = SimulatedClock(T0)
    assert cycle(store, clock, Steps(), "a").ok
    before = _visible(store, clock)
    clock.advance(LATER)
    assert crash_while_recording(url, case["write"], clock.now().isoformat()) == -9
    assert _visible(store, clock) == before, "part of the killed cycle is in force"
    assert [r.status for r in store.recent_runs()] == ["succeeded"]
    clock.advance(LATER)  # the killed holder's lease has run out
    again = cycle(store, clock, Steps(group="g2", gbps=4.0), "a")
    assert again.ok, again.error
    assert _visible(store, clock)["allocated_gbps"] == {"g2": 4.0}
    store.close()
    return again.error or ""


def lease_expires_case(case: Case, tmp_path: Path) -> str:
    _, store = _sqlite(tmp_path)
    clock = SimulatedClock(T0)
    others: list[RunReport] = []

    def take_over() -> None:
        others.append(cycle(store, clock, FakeSteps(), "b"))

    then = take_over if case["taken_over"] else None
    first = cycle(store, clock, Overtaken(clock, case["step"], then), "a")
    assert first.status is RunStatus.LEASE_LOST, first.error
    assert store.get_run(first.run_id) is None and store.commands_for_run(first.run_id) == []
    succeeded = [r.id for r in store.recent_runs() if r.status == "succeeded"]
    assert succeeded == [r.run_id for r in others if r.ok]
    assert len(succeeded) == (1 if case["taken_over"] else 0)
    store.close()
    return first.error or ""


def holder_killed_case(case: Case, tmp_path: Path) -> str:
    ttl = timedelta(seconds=case["ttl"])
    report, took, held = takeover_after_sigkill(tmp_path, ttl)
    assert held and report.ok, report.error
    assert took <= ttl.total_seconds() + 0.5, f"took over {took:.1f} s after the kill"
    return report.error or ""


def database_case(case: Case, tmp_path: Path) -> str:
    url, named = broken_database(tmp_path, case["fault"])
    result = CliRunner().invoke(app, ["token", "create", "--scope", "write", "--database-url", url])
    line = _one_line(result.output)
    assert result.exit_code == 1 and line.startswith("error: "), result.output
    assert str(named) in line and case["expect"] in line, line
    return result.output


def cycle_on_database_case(case: Case, tmp_path: Path) -> str:
    url, named = broken_database(tmp_path, case["fault"])
    store = StateStore.open(url, migrate=False)
    report = cycle(store, SimulatedClock(T0), FakeSteps(), "a")
    assert report.status is RunStatus.FAILED
    line = _one_line(report.error or "")
    assert str(named) in line and case["expect"] in line, line
    store.close()
    return line


def store_fault_case(case: Case, tmp_path: Path) -> str:
    url, store = _sqlite(tmp_path)
    store.close()
    return STORE_FAULTS[case["fault"]](url, case)


def _locked(url: str, case: Case) -> str:
    store = store_with(url, "PRAGMA busy_timeout=200")
    path = url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        report = cycle(store, SimulatedClock(T0), FakeSteps(), "a")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert report.status is RunStatus.FAILED and path in (report.error or "")
    store.close()
    return _one_line(report.error or "")


class LongForecast(Steps):
    """A forecast of 5,000 points: more rows than the free space of the file's pages holds."""

    def forecast(self, ctx: Any, groups: Any) -> ForecastSet:
        out = super().forecast(ctx, groups)
        ts = [ctx.clock.now() + timedelta(minutes=5 * i) for i in range(5000)]
        frame = pl.DataFrame({"ts": ts}).join(out.frame.drop("ts"), how="cross")
        return replace(out, frame=frame)


def _disk_full_cycle(url: str, case: Case) -> str:
    pages = sqlite3.connect(url.removeprefix("sqlite:///")).execute("PRAGMA page_count")
    store = store_with(url, f"PRAGMA max_page_count={pages.fetchone()[0] + 2}")
    clock = SimulatedClock(T0)
    report = cycle(store, clock, LongForecast(), "a")
    assert report.status is RunStatus.FAILED, report.error
    assert store.latest_allocations() == [] and store.latest_groups() == []
    assert [r.status for r in store.recent_runs()] in ([], ["failed"])
    store.close()
    return _one_line(report.error or "")


def _disk_full_token(url: str, case: Case) -> str:
    pages = sqlite3.connect(url.removeprefix("sqlite:///")).execute("PRAGMA page_count")
    store = store_with(url, f"PRAGMA max_page_count={pages.fetchone()[0]}")
    with pytest.raises(Exception) as caught:
        issue_token(store, name="x" * 200_000, scope="write", at=T0)
    store.close()
    code, message = explain(caught.value)
    assert code == 1 and not HEX.search(str(caught.value))
    return _one_line(message)


def _unique_token(url: str, case: Case) -> str:
    store = StateStore.open(url, migrate=False)
    salt, digest = "5a17" * 8, "4a54" * 16
    store.add_token("t1", name="x", scope="read", salt=salt, secret_hash=digest, at=T0)
    with pytest.raises(Exception) as caught:
        store.add_token("t1", name="y", scope="read", salt=salt, secret_hash=digest, at=T0)
    store.close()
    code, message = explain(caught.value)
    assert code == 1 and salt not in str(caught.value) and digest not in str(caught.value)
    return _one_line(message)


STORE_FAULTS: dict[str, Callable[[str, Case], str]] = {
    "locked": _locked,
    "disk_full_cycle": _disk_full_cycle,
    "disk_full_token": _disk_full_token,
    "unique_token": _unique_token,
}


def url_case(case: Case, tmp_path: Path) -> str:
    result = CliRunner().invoke(app, ["token", "list", "--database-url", case["url"]])
    assert result.exit_code != 0 and case["expect"] in " ".join(result.output.split())
    try:
        StateStore.open(case["url"]).close()
    except Exception as exc:
        assert SECRET not in str(exc) and SECRET not in explain(exc)[1]
    else:
        pytest.fail("a database URL that cannot work was opened")
    return result.output


KINDS: dict[str, Callable[[Case, Path], str]] = {
    "crash_while_recording": crash_while_recording_case,
    "lease_expires": lease_expires_case,
    "holder_killed": holder_killed_case,
    "database": database_case,
    "cycle_on_database": cycle_on_database_case,
    "store_fault": store_fault_case,
    "url": url_case,
}


def test_the_corpus_is_large_and_every_case_has_a_kind() -> None:
    assert len(CASES) >= 20
    assert {c["kind"] for c in CASES} == set(KINDS)
    assert len({c["id"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_state_fault(case: Case, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with within(case["seconds"]):
        said = KINDS[case["kind"]](case, tmp_path)
    out, err = capfd.readouterr()
    shown = "\n".join((said, out, err))
    assert "Traceback" not in shown, shown[-3000:]
    assert SECRET not in shown and not HEX.search(said), shown[-3000:]
    if case["kind"] in ("database", "store_fault", "cycle_on_database"):
        assert case["expect"] in said, said
