"""Issue 11, finding 9: the numbers recorded and served agree with one another, cycle after
cycle, after remediation borrows and after an operator override.

The allocator's invariants (``reconciler/allocation/allocator.py``): the global pool's
allocation is the sum of its regions', a region's the sum of its groups', nothing is above a
class ceiling or a pool capacity; and each group's ledger ends on the grant in force. Checked on
the state store (``latest_allocations`` / ``latest_pool_states``), on the API and against the
step summaries of the run that recorded it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bench.cycle import FleetSpec, synthetic_fleet
from policies.schema import Policy, Pools, RegionPool
from reconciler.api import create_app, issue_token
from reconciler.clock import SimulatedClock
from reconciler.loop import RunReport, run_once
from reconciler.remediation import RemediationConfig
from reconciler.state import StateStore
from reconciler.steps.build import CycleSettings, build_context
from reconciler.steps.package import StepSettings
from tests.cycle.test_full_cycle import fast_policy

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TOL = 1e-6
#: a ledger states a grant as ``allocated X Gbps ...`` or, for a later change, ``... -> X Gbps``
STATED = re.compile(r"(?:^allocated |-> )(\d+(?:\.\d+)?) Gbps")


def _policy() -> Policy:
    """Two regions with room to lend; a class ceiling low enough that remediation runs into it
    (the busiest groups ask more than 1 Gbps)."""
    policy = fast_policy()
    pools = Pools(
        global_gbps=4.5,
        regions={
            "us-east-1": RegionPool(capacity_gbps=2.5, guaranteed_gbps=1.0),
            "eu-west-1": RegionPool(capacity_gbps=2.0, guaranteed_gbps=1.0),
        },
    )
    classes = dict(policy.group_classes)
    classes["standard"] = classes["standard"].model_copy(
        update={"guarantee_gbps": 0.0, "ceiling_gbps": 1.0}
    )
    return policy.model_copy(update={"pools": pools, "group_classes": classes})


def _stated(steps: list[str]) -> float | None:
    found = None
    for line in steps:
        for m in STATED.finditer(line):
            found = float(m.group(1))
    return found


def _check_recorded(state: StateStore, policy: Policy) -> dict[str, float]:
    """The recorded allocation in force keeps every invariant; returns pool -> allocated."""
    rows = state.latest_allocations()
    pools = state.latest_pool_states()
    assert rows and pools
    by_pool = {p.pool: p for p in pools}
    regions = [p for p in pools if p.parent is not None]
    top = by_pool["global"]
    assert top.allocated_gbps == pytest.approx(sum(p.allocated_gbps for p in regions), abs=TOL)
    assert top.allocated_gbps <= top.capacity_gbps + TOL
    for p in regions:
        groups = sum(r.gbps for r in rows if r.pool == p.pool)
        assert p.allocated_gbps == pytest.approx(groups, abs=TOL), p.pool
        assert p.allocated_gbps <= p.capacity_gbps + TOL, p.pool
    for r in rows:
        details = (r.ledger or {})["allocation"]
        assert details["allocated_gbps"] == pytest.approx(r.gbps, abs=TOL)
        ceiling = details["ceiling_gbps"]
        if ceiling is not None:
            assert r.gbps <= ceiling + TOL, (r.group_id, r.gbps, ceiling)
        cls = policy.group_classes.get(details["group_class"])
        if cls is not None and cls.ceiling_gbps is not None:
            assert r.gbps <= cls.ceiling_gbps + TOL
        stated = _stated(list((r.ledger or {})["steps"]))
        assert stated == pytest.approx(round(r.gbps, 3), abs=5e-4), (r.group_id, r.ledger)
    return {p.pool: p.allocated_gbps for p in pools}


def _check_summaries(report: RunReport, recorded: dict[str, float]) -> bool:
    """The remediate step states the pools it put in force; without a borrow, so does the
    allocate step. Returns whether remediation borrowed."""
    shown = {k: round(v, 3) for k, v in recorded.items()}
    remediate = report.step("remediate").summary
    assert remediate["pools"] == shown
    borrowed = remediate["actions"].get("borrow", 0) > 0
    if not borrowed:
        assert report.step("allocate").summary["pools"] == shown
    return borrowed


def _check_served(client: TestClient, h: dict[str, str], state: StateStore) -> None:
    top = client.get("/metrics/global", headers=h).json()
    regions = top["regions"]
    assert top["global_pool"]["allocated_gbps"] == pytest.approx(
        sum(r["allocated_gbps"] for r in regions), abs=TOL
    )
    assert top["allocated_gbps"] == pytest.approx(top["global_pool"]["allocated_gbps"], abs=TOL)
    for row in state.latest_allocations():
        bw = client.get(f"/groups/{row.group_id}/bandwidth", headers=h).json()
        assert bw["allocated_gbps"] == pytest.approx(row.gbps, abs=TOL)
        assert _stated(bw["ledger"]) == pytest.approx(round(row.gbps, 3), abs=5e-4), bw
        pool = bw["pool_state"]
        same = [r.gbps for r in state.latest_allocations() if r.pool == row.pool]
        assert pool["allocated_gbps"] == pytest.approx(sum(same), abs=TOL)


def test_recorded_and_served_numbers_agree_across_cycles(tmp_path: Path) -> None:
    policy = _policy()
    provider = synthetic_fleet(
        FleetSpec(resources=24, groups=4, regions=("us-east-1", "eu-west-1"), metric_days=3.2),
        NOW + timedelta(hours=1),
    )
    # remediation sees congestion at any use, and asks for twice the recent peak: it borrows
    eager = RemediationConfig(utilisation_threshold=0.05, points=1, borrow_margin=1.5)
    settings = CycleSettings(
        policy_path=ROOT / "policies" / "examples" / "default.yaml",
        history_root=str(tmp_path / "history"),
        state_dir=tmp_path / "state",
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        steps=StepSettings(remediation=eager),
    )
    clock = SimulatedClock(NOW)
    state = StateStore.open(settings.database_url or "")
    borrowed = 0
    with TestClient(create_app(state, clock=clock)) as client:
        _, read = issue_token(state, name="reader", scope="read", at=NOW)
        _, write = issue_token(state, name="writer", scope="write", at=NOW)
        h, w = {"Authorization": f"Bearer {read}"}, {"Authorization": f"Bearer {write}"}
        for cycle in range(3):
            ctx = build_context(
                settings, clock=clock, provider=provider, policy=policy, state=state
            )
            report = run_once(ctx)
            assert report.ok, report.error
            recorded = _check_recorded(state, policy)
            borrowed += _check_summaries(report, recorded)
            _check_served(client, h, state)
            if cycle == 1:  # an operator override between cycles keeps the numbers agreeing
                rows = state.latest_allocations()
                target = min(rows, key=lambda r: r.gbps)
                put = client.put(
                    f"/groups/{target.group_id}/bandwidth",
                    json={"gbps": round(target.gbps * 0.5, 3), "reason": "test"},
                    headers=w,
                )
                assert put.status_code == 200, put.text
                _check_recorded(state, policy)
                _check_served(client, h, state)
            clock.advance(timedelta(minutes=15))
    assert borrowed >= 1, "remediation never borrowed: the test lost its point"
    state.close()
