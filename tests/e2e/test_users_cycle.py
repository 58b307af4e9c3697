"""User behaviour through the real ``run_once`` on moto_server (issue 15): the sandbox's ALB and
CloudFront request logs -> user groups -> their forecasts -> edge caches sized from miss-ratio
curves, latency-aware routing weights and per-user-group pre-allocations, in the desired state
Pulumi applies, and the same figures in the API.

``MotoActuator`` stands in for Pulumi (it keeps the stack config and converges moto).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from infra.desired_state import DesiredState, RegionRoute, RoutingSpec
from providers.aws.provider import AwsProvider
from providers.aws.session import AwsSessionFactory
from reconciler.api import create_app, issue_token
from reconciler.clock import SimulatedClock
from reconciler.loop import CycleOutputs, RunReport, run_once
from reconciler.state import StateStore
from reconciler.steps.build import CycleSettings, build_context
from reconciler.steps.package import StepSettings
from reconciler.users.models import UserGroupKind, UserMetric
from tests.e2e.conftest import Seeded, moto_fleet
from tests.e2e.moto_actuator import MotoActuator

ROOT = Path(__file__).resolve().parents[2]
POLICY = (ROOT / "reconciler" / "demo_policy.yaml").read_text()


@pytest.fixture(scope="module")
def fleet() -> Iterator[Seeded]:
    from reconciler.sandbox import AppSpec, SandboxSpec

    spec = SandboxSpec(
        days=1.2,
        metric_hours=1.0,
        surge=None,
        apps=[
            AppSpec(name="shop", region="us-east-1", tenant="acme", public=True, uses_db=True),
            AppSpec(name="analytics", region="eu-west-1", tiers={"ingest": 2}, mbps=60),
        ],
    )
    with moto_fleet(spec) as seeded:
        yield seeded


@dataclass
class Loop:
    fleet: Seeded
    settings: CycleSettings
    actuator: MotoActuator
    clock: SimulatedClock

    def cycle(self, after: timedelta | None = None) -> tuple[RunReport, CycleOutputs]:
        if after is not None:
            self.clock.advance(after)
        provider = AwsProvider(
            factory=AwsSessionFactory(endpoint_url=self.fleet.endpoint),
            regions=self.fleet.regions,
            request_sources=self.fleet.request_sources,
        )
        ctx = build_context(
            self.settings, clock=self.clock, provider=provider, actuator=self.actuator
        )
        seen: list[CycleOutputs] = []
        ctx.observer = lambda _report, out: seen.append(out)
        report = run_once(ctx)
        assert report.ok, report.error
        return report, seen[0]


def _loop(fleet: Seeded, tmp_path: Path) -> Loop:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.replace("  default_cooldown: 30m\n", "  default_cooldown: 5m\n"))
    settings = CycleSettings(
        policy_path=policy,
        history_root=str(tmp_path / "history"),
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        state_dir=tmp_path,
        steps=StepSettings(demand_source="flows", metric_backfill=timedelta(hours=1)),
        check_policy=False,
    )
    actuator = MotoActuator(fleet.endpoint)
    # the operator's stack already declares the weighted record Headroom steers (zone, targets)
    actuator.desired = DesiredState(
        schema_version=1,
        generated_at=fleet.now,
        routing=(
            RoutingSpec(
                name="shop",
                zone_id="Z0123456789",
                record_name="shop.example.com",
                regions=(
                    RegionRoute(region="us-east-1", share=1, target="shop.us-east-1.example.com"),
                    RegionRoute(region="eu-west-1", share=1, target="shop.eu-west-1.example.com"),
                ),
            ),
        ),
    ).model_dump_json()
    return Loop(fleet, settings, actuator, SimulatedClock(fleet.now))


def _applied(out: CycleOutputs, kind: str) -> list[tuple[Any, str]]:
    assert out.plan is not None and out.applied is not None
    return [
        (c, o.status)
        for c, o in zip(out.plan.commands, out.applied.outcomes, strict=True)
        if c.kind == kind
    ]


def test_request_logs_drive_caches_routing_and_user_preallocation(
    fleet: Seeded, tmp_path: Path
) -> None:
    assert fleet.request_sources, "the sandbox names its ALB and CloudFront log sources"
    loop = _loop(fleet, tmp_path)
    report, out = loop.cycle()

    # collect: request logs into the history, every bad line counted
    seen = report.step("collect").summary["requests"]
    assert seen["requests"] > 10_000 and seen["request_objects"] > 0, seen

    # compose: the policy's named group and behaviour cohorts, with stable ids
    assert out.groups is not None
    users = {g.name: g for g in out.groups.users}
    enterprise = users["enterprise"]
    assert enterprise.kind is UserGroupKind.NAMED and len(enterprise.users) == 2
    cohorts = [g for g in out.groups.users if g.kind is UserGroupKind.COHORT]
    assert len(cohorts) >= 2 and all(g.id.startswith("ug-") for g in out.groups.users)

    # forecast: each user group's series per client region, by the same forecaster
    assert out.forecasts is not None
    frame = out.forecasts.frame
    series = f"users/{enterprise.id}@us-east-1"
    mine = frame.filter((frame["group_id"] == series) & (frame["metric"] == "requests_per_s"))
    assert mine.height > 0 and mine["p90"].max() > 0  # type: ignore[operator]
    assert set(frame["metric"].unique().to_list()) >= {str(m) for m in UserMetric}

    # plan: signals from the logs
    assert out.plan is not None and out.plan.users is not None
    signals = out.plan.users
    assert {"us-east-1", "eu-west-1"} <= set(signals.region_requests)
    assert signals.curves["us-east-1"].miss_ratio[-1] < signals.curves["us-east-1"].miss_ratio[0]
    assert signals.latency_ms and signals.hot_objects["us-east-1"]

    # edge caches sized from the curve, with what they keep and pre-warm, in the desired state
    caches = _applied(out, "edge_cache")
    assert caches, report.step("plan").summary
    cmd, status = caches[0]
    assert status == "applied", caches
    assert 0 < cmd.after["expected_hit_ratio"] <= 1 and cmd.after["prewarm"]
    assert "hit ratio" in cmd.reason
    desired = out.applied.desired if out.applied else None
    assert desired is not None
    region = cmd.target.split("/", 1)[1]
    spec = next(c for c in desired.edge_caches if c.region == region)
    assert spec.num_nodes == cmd.after["nodes"]

    # routing weights that minimise latency within each region's capacity
    routes = _applied(out, "routing")
    assert routes and routes[0][1] == "applied", routes
    route = routes[0][0]
    assert route.after["split"] and route.after["latency_ms"] >= 0
    assert "ms" in route.reason
    weights = {r.region: r.share for rt in desired.routing for r in rt.regions}
    assert weights == route.after["weights"]

    # user-group pre-allocation: a record per user group, held as capacity reservations
    pre = [(c, s) for c, s in _applied(out, "preallocate") if c.target.startswith("ug-")]
    assert pre, [c.target for c, _ in _applied(out, "preallocate")]
    assert all(s == "applied" for _, s in pre), pre
    held = {g.id: g for g in desired.groups if g.capacity_reservations}
    reserved = [c for c, _ in pre if c.after.get("reservations")]
    assert reserved, [c.after for c, _ in pre]
    assert all("req/s" in c.reason for c, _ in pre)
    for c in reserved:
        assert sum(r.count for r in held[c.target].capacity_reservations) == sum(
            r["count"] for r in c.after["reservations"]
        )

    # the API serves the same figures the cycle recorded
    assert loop.settings.database_url is not None
    store = StateStore.open(loop.settings.database_url)
    _, token = issue_token(store, name="ops", scope="read", at=loop.clock.now())
    with TestClient(create_app(store, clock=loop.clock)) as api:
        auth = {"Authorization": f"Bearer {token}"}
        listed = api.get("/users/groups", headers=auth)
        assert listed.status_code == 200, listed.text
        assert {g["id"] for g in listed.json()} == {g.id for g in out.groups.users}
        detail = api.get(f"/metrics/users/{enterprise.id}", headers=auth)
        assert detail.status_code == 200, detail.text
        body = detail.json()
        assert body["group"]["name"] == "enterprise"
        if enterprise.id in signals.needs:
            assert body["predicted_need"] == pytest.approx(signals.needs[enterprise.id])
        assert api.get("/metrics/users/ug-000000", headers=auth).status_code == 404

    # cycle 2: the same user groups, last cycle's user forecasts scored, reservations kept
    report2, out2 = loop.cycle(after=timedelta(minutes=30))
    assert out2.groups is not None
    assert {g.name: g.id for g in out2.groups.users} == {g.name: g.id for g in out.groups.users}
    assert out2.forecasts is not None
    scored = [s for s in out2.forecasts.scored if s.group_id.startswith("users/")]
    assert scored, report2.step("forecast").summary
    desired2 = out2.applied.desired if out2.applied else None
    assert desired2 is not None
    kept = {g.id for g in desired2.groups if g.capacity_reservations}
    assert {c.target for c in reserved} <= kept
