"""``run_once`` with ``engine: dask``: the cycle's history queries run on a LocalCluster of two
worker processes and the cycle decides what the embedded engine decides; a worker lost
mid-query is replaced by Dask; a cluster that cannot answer fails the step cleanly."""

from __future__ import annotations

import os
import signal
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from policies.schema import Engine
from providers.models import TimeWindow
from reconciler.clock import SimulatedClock
from reconciler.history import HistoryStore
from reconciler.history.dask_engine import DaskHistory, EngineError
from reconciler.history.engine import close_clients
from reconciler.loop import run_once
from reconciler.steps.build import CycleSettings, build_context
from tests.cycle.test_full_cycle import ROOT, fast_policy
from tests.dask.conftest import FLOWS, NOW, fill
from tests.dask.slowfs import SlowFS

#: Not on 5-minute marks: answered from the records, one (slow) file read per source and hour.
ODD = TimeWindow(start=FLOWS.start + timedelta(seconds=7), end=FLOWS.end)


@pytest.fixture(autouse=True)
def _close_kept_clients():
    yield
    close_clients()


def _settings(tmp: Path, name: str) -> CycleSettings:
    (tmp / name).mkdir()
    return CycleSettings(
        policy_path=ROOT / "policies" / "examples" / "default.yaml",
        history_root=str(tmp / name / "history"),
        state_dir=tmp / name / "state",
        database_url=f"sqlite:///{tmp / name / 'state.db'}",
        model_store="",
    )


def _cycle(tmp: Path, name: str, engine: Engine):
    from bench.cycle import FleetSpec, synthetic_fleet

    provider = synthetic_fleet(FleetSpec(resources=24, groups=4, metric_days=3.2), NOW)
    policy = fast_policy().model_copy(update={"engine": engine})
    ctx = build_context(
        _settings(tmp, name), clock=SimulatedClock(NOW), provider=provider, policy=policy
    )
    return ctx, run_once(ctx)


@pytest.mark.slow  # two whole cycles with LightGBM fits: about a minute here
def test_run_once_on_dask_decides_what_the_embedded_engine_decides(tmp_path, cluster) -> None:
    address = cluster.scheduler_address  # type: ignore[attr-defined]
    dask_ctx, on_dask = _cycle(tmp_path, "dask", Engine(kind="dask", scheduler=address))
    assert on_dask.ok, on_dask.error
    assert isinstance(dask_ctx.steps.queries, DaskHistory)  # type: ignore[attr-defined]
    local_ctx, local = _cycle(tmp_path, "local", Engine())
    assert local.ok, local.error
    assert isinstance(local_ctx.steps.queries, HistoryStore)  # type: ignore[attr-defined]
    for step in ("analyze", "compose"):  # from the edges: the same traffic graph and groups
        assert on_dask.step(step).summary == local.step(step).summary, step
    # the forecast step's input, from the metric points: per resource the same row for row;
    # per group the same up to the order Polars adds members in (group ids are minted per
    # state database, so they are left out)
    for name, drop, exact in (("resource_gbps", [], True), ("group_demand", ["group_id"], False)):
        frames = [getattr(c.steps, name).drop(drop) for c in (dask_ctx, local_ctx)]
        frames = [f.sort(f.columns) for f in frames]
        assert frames[1].height > 1000, name
        assert_frame_equal(frames[0], frames[1], check_exact=exact, rel_tol=1e-12)
    fc_dask, fc_local = on_dask.step("forecast").summary, local.step("forecast").summary
    assert fc_dask["series"] == fc_local["series"] >= 4
    assert fc_dask["models"] == fc_local["models"]


@pytest.mark.slow  # slow reads, so the kill lands mid-query: 25 s here
def test_a_worker_killed_mid_query_is_replaced_and_the_answer_is_the_same(
    tmp_path, cluster, client
) -> None:
    expected = fill(HistoryStore(str(tmp_path / "h"))).edges(ODD)
    slow = HistoryStore(str(tmp_path / "h"), fs=SlowFS(delay=0.3))
    pids = client.run(os.getpid)  # type: ignore[attr-defined]
    victim = sorted(pids.values())[0]  # a worker process this test's cluster started
    killer = threading.Timer(1.5, os.kill, (victim, signal.SIGKILL))
    killer.start()
    try:
        got = DaskHistory(slow, client).edges(ODD)  # type: ignore[arg-type]
    finally:
        killer.cancel()
    assert victim not in client.run(os.getpid).values()  # type: ignore[attr-defined]
    assert got.equals(expected)


def test_a_cluster_with_no_worker_fails_the_step_and_the_cycle_records_nothing(tmp_path) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address=None) as c:
        engine = Engine(kind="dask", scheduler=c.scheduler_address, timeout=timedelta(seconds=2))
        ctx, report = _cycle(tmp_path, "none", engine)
    assert not report.ok
    failed = report.failed_step()
    assert failed is not None and failed.name == "analyze"
    assert "gave no answer in 2 s" in (failed.error or "")
    assert EngineError.__name__ in (failed.error or "") or "Dask cluster" in (failed.error or "")
    state = ctx.store.store  # type: ignore[attr-defined]
    assert not state.latest_groups() and not state.latest_allocations()
