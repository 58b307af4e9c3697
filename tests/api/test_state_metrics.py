"""Issue 12, finding 8: ``/metrics`` exports what an SRE watches, read from the state store.

After two real cycles: per pool and per group (with its name) the allocation, use,
utilisation, next-step forecast quantiles, congestion signals, forecast error; the last
cycle's commands by kind and status, its step durations and the last successful cycle's time.
Group series are capped (top-N by allocation plus ``group="other"``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from reconciler.api import create_app
from reconciler.api.state_metrics import FORECAST_METRIC, OTHER
from reconciler.clock import SimulatedClock
from reconciler.state import StateStore
from tests.api.conftest import T0
from tests.api.cycled import CYCLED_AT, cycled_db_fixture, cycled_store_fixture  # noqa: F401

Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(client: TestClient) -> Samples:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    out: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def one(samples: Samples, name: str, **labels: str) -> float:
    found = [
        v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items())
    ]
    assert len(found) == 1, (name, labels, found)
    return found[0]


@pytest.fixture
def cycled_client(cycled_store: StateStore) -> Iterator[TestClient]:
    with TestClient(create_app(cycled_store, clock=SimulatedClock(CYCLED_AT))) as c:
        yield c


def test_groups_pools_forecasts_and_errors_match_the_store(
    cycled_client: TestClient, cycled_store: StateStore
) -> None:
    store = cycled_store
    m = scrape(cycled_client)
    allocations = {a.group_id: a for a in store.latest_allocations()}
    names = {g.id: g.name for g in store.latest_groups()}
    assert allocations
    for gid, a in allocations.items():
        labels = {"group": gid, "group_name": names.get(gid, gid), "pool": a.pool}
        assert one(m, "headroom_group_allocated_gbps", **labels) == pytest.approx(a.gbps)
        if a.used_gbps is not None:
            assert one(m, "headroom_group_used_gbps", **labels) == pytest.approx(a.used_gbps)
            if a.gbps > 0:
                assert one(m, "headroom_group_utilisation", **labels) == pytest.approx(
                    a.used_gbps / a.gbps
                )
        forecasts = store.latest_forecasts(gid, FORECAST_METRIC)
        if forecasts:
            first = min(forecasts, key=lambda f: f.ts)
            for q in ("0.5", "0.9", "0.99"):
                got = one(m, "headroom_group_forecast_gbps", group=gid, quantile=q)
                assert got == pytest.approx(first.quantiles[q])
        scored = store.accuracy_for_group(gid, FORECAST_METRIC, limit=12)
        if scored:
            newest = abs(scored[0].actual - scored[0].predicted["0.5"])
            assert one(m, "headroom_group_forecast_abs_error_gbps", group=gid) == pytest.approx(
                newest
            )
            misses = sum(r.actual > r.predicted["0.99"] for r in scored)
            assert one(m, "headroom_group_forecast_misses", group=gid) == misses
            assert one(m, "headroom_group_forecast_scored_points", group=gid) == len(scored)
    assert m["headroom_group_forecast_gbps"], "no forecast exported"
    assert m["headroom_group_forecast_mae_gbps"], "no forecast error exported"
    for p in store.latest_pool_states():
        assert one(m, "headroom_pool_allocated_gbps", pool=p.pool) == pytest.approx(
            p.allocated_gbps
        )
        assert one(m, "headroom_pool_capacity_gbps", pool=p.pool) == pytest.approx(p.capacity_gbps)
        if p.used_gbps is not None and p.allocated_gbps > 0:
            assert one(m, "headroom_pool_utilisation", pool=p.pool) == pytest.approx(
                p.used_gbps / p.allocated_gbps
            )


def test_last_cycle_congestion_commands_steps_and_time(
    cycled_client: TestClient, cycled_store: StateStore
) -> None:
    store = cycled_store
    m = scrape(cycled_client)
    last = store.recent_runs(1)[0]
    assert last.status == "succeeded" and last.finished is not None
    assert one(m, "headroom_cycle_last_success_timestamp_seconds") == pytest.approx(
        last.finished.timestamp()
    )
    assert one(m, "headroom_cycle_consecutive_failures") == 0
    for step, seconds in last.step_timings.items():
        assert one(m, "headroom_cycle_step_duration_seconds", step=step) == pytest.approx(seconds)
        assert one(m, "headroom_cycle_step_failures", step=step) == 0
    commands = store.commands_for_run(last.id)
    assert commands
    counted = Counter((c.kind, c.status) for c in commands)
    for (kind, status), n in counted.items():
        assert one(m, "headroom_cycle_commands", kind=kind, status=status) == n
    congested = {c.target for c in commands if c.kind.startswith("remediate.")}
    assert congested, "the cycles raised no congestion: the test lost its point"
    raised = {lab["group"] for lab, v in m["headroom_group_congestion_signals"] if v > 0}
    assert congested & raised == congested
    assert {lab["signal"] for lab, _ in m["headroom_group_congestion_signals"]} == {
        "utilisation",
        "allowance_exceeded",
        "above_forecast",
    }


def test_group_series_are_capped_with_an_other_aggregate(cycled_store: StateStore) -> None:
    store = cycled_store
    rows = {a.group_id: a for a in store.latest_allocations()}
    live = {g.id for g in store.latest_groups()} | set(rows)
    assert len(live) >= 3
    with TestClient(create_app(store, metrics_top_groups=2)) as client:
        m = scrape(client)
    series = {lab["group"]: v for lab, v in m["headroom_group_allocated_gbps"]}
    biggest = sorted(live, key=lambda g: (-(rows[g].gbps if g in rows else 0.0), g))[:2]
    assert set(series) == {*biggest, OTHER}
    assert sum(series.values()) == pytest.approx(sum(a.gbps for a in rows.values()))
    assert one(m, "headroom_groups", series="own") == 2
    assert one(m, "headroom_groups", series="other") == len(live) - 2
    groups_per_family = {
        name: {lab["group"] for lab, _ in samples}
        for name, samples in m.items()
        if name.startswith("headroom_group_")
    }
    assert all(g <= {*biggest, OTHER} for g in groups_per_family.values()), groups_per_family


def test_failed_steps_and_staleness(client: TestClient, store: StateStore) -> None:
    """The seeded store: two succeeded runs, then two that failed (one in a step)."""
    before = scrape(client)
    last_ok = one(before, "headroom_cycle_last_success_timestamp_seconds")
    for i, error in enumerate(["step forecast failed: boom", "recording the cycle failed: x"]):
        at = T0 + timedelta(hours=3 + i)
        store.record_run(
            f"f{i}", at, at, status="failed", step_timings={"collect": 0.5}, error=error
        )
    after = scrape(client)
    assert one(after, "headroom_cycle_last_success_timestamp_seconds") == last_ok
    assert one(after, "headroom_cycle_consecutive_failures") == 2
    assert one(after, "headroom_cycle_step_failures", step="forecast") == 1
    assert one(after, "headroom_cycle_step_failures", step="cycle") == 1
    assert one(after, "headroom_cycle_runs", status="failed") == 2
    assert one(after, "headroom_cycle_last_run_timestamp_seconds", status="failed") == (
        pytest.approx((T0 + timedelta(hours=4)).timestamp())
    )


def test_scrapes_reuse_the_state_until_it_changes(client: TestClient, store: StateStore) -> None:
    first = scrape(client)
    calls = Counter[str]()
    original = store.latest_allocations

    def counting() -> list:  # type: ignore[type-arg]
        calls["latest_allocations"] += 1
        return original()

    store.latest_allocations = counting  # type: ignore[method-assign]
    scrape(client)
    assert calls["latest_allocations"] == 0, "an unchanged state was read again"
    store.record_run("later", T0 + timedelta(hours=9), T0 + timedelta(hours=9), status="failed",
                     step_timings={}, error="step plan failed: x")  # fmt: skip
    again = scrape(client)
    assert calls["latest_allocations"] == 1
    assert one(again, "headroom_cycle_consecutive_failures") == 1
    assert one(first, "headroom_cycle_consecutive_failures") == 0
