"""Issue 11, finding 5: a real cycle on moto_server records the measured side, and the API
serves it: used Gbps and utilisation per group and pool, each member's current traffic and
share of the allocation, and the group's explanation with its traffic pattern."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from providers.aws.provider import AwsProvider
from providers.aws.session import AwsSessionFactory
from reconciler.api import create_app, issue_token
from reconciler.clock import SimulatedClock
from reconciler.loop import run_once
from reconciler.state import StateStore
from reconciler.steps.build import build_context
from reconciler.steps.package import PackageSteps
from tests.e2e.conftest import Seeded
from tests.e2e.cycle_process import settings_for


def test_cycle_records_and_serves_measured_traffic(seeded: Seeded, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'state.db'}"
    settings = settings_for(db, str(tmp_path / "history"))
    clock = SimulatedClock(seeded.now)
    provider = AwsProvider(
        factory=AwsSessionFactory(endpoint_url=seeded.endpoint), regions=seeded.regions
    )
    ctx = build_context(settings, clock=clock, provider=provider)
    report = run_once(ctx)
    assert report.ok, report.error
    steps = ctx.steps
    assert isinstance(steps, PackageSteps) and steps.demand is not None and steps.grid
    step = steps.grid.step

    # what the cycle measured: each group's demand at the latest complete grid step
    complete = [t for t in steps.demand["ts"].to_list() if t + step <= seeded.now]
    latest = max(complete)
    assert seeded.now - latest <= 2 * step
    expected = {
        str(g): float(y)
        for g, t, y in steps.demand.select("series_id", "ts", "y").iter_rows()
        if t == latest
    }
    assert sum(expected.values()) > 0

    state = StateStore.open(db)
    rows = state.latest_allocations()
    assert rows
    measured = [r for r in rows if r.group_id in expected]
    assert measured, "no recorded group has a demand series"
    for r in measured:
        assert r.used_gbps == pytest.approx(expected[r.group_id], rel=1e-9, abs=1e-12)
        assert r.member_used_gbps is not None
        assert sum(r.member_used_gbps.values()) == pytest.approx(r.used_gbps, rel=1e-6, abs=1e-9)
    pools = state.latest_pool_states()
    by_pool = {p.pool: p for p in pools}
    for p in pools:
        assert p.used_gbps is not None, p
    for p in pools:
        if p.parent is not None:
            inside = sum(r.used_gbps or 0.0 for r in rows if r.pool == p.pool)
            assert p.used_gbps == pytest.approx(inside, abs=1e-9)
    regions = sum(p.used_gbps or 0.0 for p in pools if p.parent is not None)
    assert by_pool["global"].used_gbps == pytest.approx(regions, abs=1e-9)

    with TestClient(create_app(state, clock=clock)) as client:
        _, token = issue_token(state, name="reader", scope="read", at=seeded.now)
        h = {"Authorization": f"Bearer {token}"}
        top = client.get("/metrics/global", headers=h).json()
        assert top["global_pool"]["used_gbps"] is not None
        assert top["global_pool"]["utilisation"] == pytest.approx(
            top["global_pool"]["used_gbps"] / top["global_pool"]["allocated_gbps"]
        )
        assert all(r["used_gbps"] is not None for r in top["regions"])
        assert any(r["utilisation"] for r in top["regions"])

        busy = max(measured, key=lambda r: r.used_gbps or 0.0)
        metrics = client.get(f"/metrics/group/{busy.group_id}", headers=h).json()
        now_row = metrics["traffic"][-1]
        assert now_row["used_gbps"] == pytest.approx(busy.used_gbps)
        assert now_row["utilisation"] == pytest.approx((busy.used_gbps or 0.0) / busy.gbps)

        group = client.get(f"/groups/{busy.group_id}", headers=h).json()
        assert group["used_gbps"] == pytest.approx(busy.used_gbps)
        assert group["utilisation"] == pytest.approx((busy.used_gbps or 0.0) / busy.gbps)
        resources = {r["id"]: r for r in group["resources"]}
        assert set(resources) == set(group["members"])
        member_used = busy.member_used_gbps or {}
        for rid, r in resources.items():
            assert r["current_traffic_gbps"] == pytest.approx(member_used[rid], abs=1e-12)
            share = member_used[rid] / (busy.used_gbps or 1.0)
            assert r["allocated_gbps"] == pytest.approx(busy.gbps * share, abs=1e-9)
        assert sum(r["allocated_gbps"] for r in resources.values()) == pytest.approx(busy.gbps)

        explanation = group["explanation"]
        assert explanation is not None
        traffic = explanation["traffic"]
        assert traffic["latest_gbps"] == pytest.approx(busy.used_gbps)
        assert traffic["peak_gbps"] >= traffic["mean_gbps"] > 0
        assert traffic["points"] > 1 and len(traffic["hourly_mean_gbps"]) == 24
        discovered = [
            g
            for g in client.get("/groups", headers=h).json()
            if g["kind"] == "discovered" and g["explanation"]
        ]
        assert any("community" in g["explanation"] for g in discovered)
        community = next(
            g["explanation"]["community"] for g in discovered if "community" in g["explanation"]
        )
        assert community["member_reasons"] and 0 <= community["confidence"] <= 1
    state.close()
    assert timedelta(0) < step
