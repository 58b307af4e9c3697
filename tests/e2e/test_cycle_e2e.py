"""End to end against a moto server on loopback: the real provider, stores and steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from providers.aws.provider import AwsProvider
from providers.aws.session import AwsSessionFactory
from reconciler.clock import SimulatedClock
from reconciler.history import HistoryStore
from reconciler.iam import iam_action
from reconciler.loop import RunStatus, run_once
from reconciler.state import StateStore
from reconciler.steps.build import build_context
from tests.e2e.conftest import CREDENTIALS, Seeded
from tests.e2e.cycle_process import settings_for

ROOT = Path(__file__).resolve().parents[2]


def _provider(seeded: Seeded) -> AwsProvider:
    return AwsProvider(
        factory=AwsSessionFactory(endpoint_url=seeded.endpoint), regions=seeded.regions
    )


def _process(seeded: Seeded, db: str, history: str, holder: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, **CREDENTIALS, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.e2e.cycle_process",
            seeded.endpoint,
            db,
            history,
            seeded.now.isoformat(),
            holder,
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_full_cycle_on_moto_server(seeded: Seeded, tmp_path: Path) -> None:
    """A whole cycle over HTTP; every AWS call it makes is allowed by docs/iam-policy.json."""
    import boto3

    calls: set[tuple[str, str]] = set()
    session = boto3.Session()
    session.events.register(
        "before-call.*.*",
        lambda model, **_: calls.add((model.service_model.service_name, model.name)),
    )
    factory = AwsSessionFactory(endpoint_url=seeded.endpoint, base_session=session)
    provider = AwsProvider(factory=factory, regions=seeded.regions)
    db = f"sqlite:///{tmp_path / 'state.db'}"
    settings = settings_for(db, str(tmp_path / "history"))
    ctx = build_context(settings, clock=SimulatedClock(seeded.now), provider=provider)
    report = run_once(ctx)
    assert report.ok, report.error
    collect = report.step("collect").summary
    assert collect["resources"] >= 15 and collect["flow_records"] > 1000
    assert report.step("compose").summary["groups"] >= 4
    assert report.step("allocate").summary["total_gbps"] > 0
    assert report.step("apply").summary["outcome"] in ("stopped_at_plan", "nothing_to_do")
    state = StateStore.open(db)
    assert state.latest_allocations() and state.latest_pool_states()
    assert state.get_run(report.run_id).status == "succeeded"  # type: ignore[union-attr]
    allowed = {
        a
        for st in json.loads((ROOT / "docs" / "iam-policy.json").read_text())["Statement"]
        for a in st["Action"]
    }
    made = {iam_action(svc, op) for svc, op in calls}
    assert made, "the cycle made no AWS calls"
    assert made <= allowed, f"calls not in docs/iam-policy.json: {sorted(made - allowed)}"


@pytest.mark.slow  # two processes and two cycles (~40 s); the lease logic has fast unit tests
def test_crash_mid_cycle_then_restart_converges(seeded: Seeded, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'state.db'}"
    history = str(tmp_path / "history")
    crashed = _process(seeded, db, history, "crasher", "crash")
    crashed.wait(timeout=240)
    assert crashed.returncode == -9, crashed.communicate()[1][-2000:]
    state = StateStore.open(db)
    assert state.latest_allocations() == []  # nothing of the killed cycle is in force
    assert state.lease_holder(seeded.now) == "crasher"  # its lease is still held...
    records = HistoryStore(history).scan_flows().select(pl.len()).collect().item()
    assert records > 0  # ...and it had collected history before dying

    settings = settings_for(db, history)
    blocked = run_once(
        build_context(
            settings,
            clock=SimulatedClock(seeded.now),
            provider=_provider(seeded),
            holder="restarted",
        )
    )
    assert blocked.status is RunStatus.SKIPPED  # the lease is honoured until it expires
    later = SimulatedClock(seeded.now + timedelta(minutes=16))  # past the lease ttl (60 s)
    report = run_once(
        build_context(settings, clock=later, provider=_provider(seeded), holder="restarted")
    )
    assert report.ok, report.error
    assert state.latest_allocations()
    again = HistoryStore(history).scan_flows().select(pl.len()).collect().item()
    assert report.step("collect").summary["flow_records"] == again - records  # no double count


@pytest.mark.slow  # two processes racing for the lease (~35 s)
def test_two_reconcilers_at_once_run_one_cycle(seeded: Seeded, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'state.db'}"
    history = str(tmp_path / "history")
    StateStore.open(db).close()  # migrate once, before the race
    procs = [_process(seeded, db, history, f"r{i}") for i in range(2)]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-2000:]
        line = next(x for x in out.splitlines() if x.startswith("REPORT "))
        reports.append(json.loads(line.removeprefix("REPORT ")))
    statuses = sorted(r["status"] for r in reports)
    assert statuses == ["ok", "skipped"], [r.get("error") for r in reports]
