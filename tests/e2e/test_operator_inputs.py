"""Operator inputs stick: through the real cycle (``run_once``) against a moto server.

A policy manual group's class, a group made with ``POST /groups/create`` and a bandwidth pin set
with ``PUT /groups/{id}/bandwidth`` must each shape the allocation the next cycles record and the
API serves, not only the row the operator wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from forecasting.cache import ModelCache
from providers.aws.provider import AwsProvider
from providers.aws.session import AwsSessionFactory
from providers.models import Resource
from reconciler.api import create_app, issue_token
from reconciler.clock import SimulatedClock
from reconciler.demo import DEMO_POLICY
from reconciler.loop import RunReport, run_once
from reconciler.state import AllocationRecord, StateStore
from reconciler.steps.build import CycleSettings, build_context
from tests.e2e.conftest import Seeded
from tests.e2e.cycle_process import settings_for

CYCLE = timedelta(minutes=5)
#: the class the policy's manual group and the API's group ask for
CRITICAL = {"guarantee_gbps": 0.1, "ceiling_gbps": 0.8, "priority": 0, "weight": 1}


@dataclass
class Rig:
    """One state database shared by the cycle and the API, and a clock both read."""

    seeded: Seeded
    provider: AwsProvider
    settings: CycleSettings
    store: StateStore
    clock: SimulatedClock
    api: TestClient
    headers: dict[str, str]
    models: ModelCache

    def cycle(self) -> RunReport:
        """One real cycle at the clock's time; the clock then moves on by one cycle."""
        ctx = build_context(
            self.settings,
            clock=SimulatedClock(self.clock.now()),
            provider=self.provider,
            state=self.store,
            models=self.models,
        )
        report = run_once(ctx)
        assert report.ok, report.error
        self.clock.advance(CYCLE)
        return report

    def inventory(self) -> list[Resource]:
        return self.provider.inventory()

    def allocation(self, group_id: str) -> AllocationRecord:
        rows = {a.group_id: a for a in self.store.latest_allocations()}
        assert group_id in rows, f"{group_id} was not allocated; allocated: {sorted(rows)}"
        return rows[group_id]


@pytest.fixture
def rig(seeded: Seeded, tmp_path: Path) -> Iterator[Rig]:
    """The demo policy plus a ``critical`` class and a policy manual group (app=billing) in it."""
    policy = yaml.safe_load(DEMO_POLICY.read_text())
    policy["group_classes"]["critical"] = CRITICAL
    # no tenant groups: they hold their members beside the application groups by design
    policy["group_selection"]["tenant_tag_keys"] = []
    policy["group_selection"]["manual_groups"] = [
        {"name": "billing", "match_tags": {"app": "billing"}, "group_class": "critical"}
    ]
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    db = f"sqlite:///{tmp_path / 'state.db'}"
    settings = replace(settings_for(db, str(tmp_path / "history")), policy_path=path)
    store = StateStore.open(db)
    clock = SimulatedClock(seeded.now)
    provider = AwsProvider(
        factory=AwsSessionFactory(endpoint_url=seeded.endpoint), regions=seeded.regions
    )
    _, token = issue_token(store, name="operator", scope="write", at=seeded.now)
    with TestClient(create_app(store, clock=clock)) as api:
        yield Rig(
            seeded=seeded,
            provider=provider,
            settings=settings,
            store=store,
            clock=clock,
            api=api,
            headers={"Authorization": f"Bearer {token}"},
            models=ModelCache(),
        )
    store.close()


def _ids(inventory: list[Resource], **tags: str) -> list[str]:
    return sorted(r.id for r in inventory if all(r.tags.get(k) == v for k, v in tags.items()))


def test_policy_manual_group_is_allocated_in_its_class(rig: Rig) -> None:
    """(a) ``group_class: critical`` reaches the allocator: the record shows the class, its
    priority and guarantee; other groups get the policy's default class."""
    rig.cycle()
    billing = _ids(rig.inventory(), app="billing")
    group = rig.store.get_group("manual-billing")
    assert group is not None and group.kind == "manual"
    assert set(billing) <= set(group.members)
    assert group.policy_class == "critical"

    ledger = rig.allocation("manual-billing").ledger or {}
    stored = ledger["allocation"]
    assert stored["group_class"] == "critical"
    assert stored["priority"] == CRITICAL["priority"]
    assert stored["guarantee_gbps"] == pytest.approx(CRITICAL["guarantee_gbps"])
    assert stored["ceiling_gbps"] == pytest.approx(CRITICAL["ceiling_gbps"])
    assert stored["guaranteed_gbps"] == pytest.approx(
        min(CRITICAL["guarantee_gbps"], stored["demand_gbps"])
    )

    served = rig.api.get("/groups/manual-billing/bandwidth", headers=rig.headers)
    assert served.status_code == 200, served.text
    assert any("class critical (priority 0" in line for line in served.json()["ledger"])

    others = [a for a in rig.store.latest_allocations() if a.group_id != "manual-billing"]
    assert others
    for a in others:
        assert (a.ledger or {})["allocation"]["group_class"] == "standard", a.group_id
        other = rig.store.get_group(a.group_id)
        assert other is not None and other.policy_class == "standard", a.group_id


def test_group_created_through_the_api_is_composed_forecast_and_allocated(rig: Rig) -> None:
    """(b) The next cycle after ``POST /groups/create`` keeps the group with its members and
    class, forecasts it and allocates it."""
    members = _ids(rig.inventory(), app="search", tier="api")
    assert len(members) == 2
    made = rig.api.post(
        "/groups/create",
        json={"name": "search-api", "members": members, "policy_class": "critical"},
        headers=rig.headers,
    )
    assert made.status_code == 201, made.text
    gid = made.json()["id"]

    report = rig.cycle()
    assert report.step("compose").summary["kinds"].get("manual", 0) == 2  # policy's + the API's
    group = rig.store.get_group(gid)
    assert group is not None and group.dissolved_at is None
    assert list(group.members) == members
    assert group.kind == "manual" and group.policy_class == "critical"
    assert group.explanation and group.explanation.get("source") == "api"
    # its members left the discovered groups (a manual group holds them alone)
    for g in rig.store.latest_groups():
        if g.id != gid:
            assert not set(members) & set(g.members), g.id

    forecasts = rig.store.latest_forecasts(gid, "network_gbps")
    assert forecasts, "the API's group was not forecast"
    stored = (rig.allocation(gid).ledger or {})["allocation"]
    assert stored["group_class"] == "critical" and stored["priority"] == 0
    assert stored["demand_gbps"] > 0
    served = rig.api.get(f"/groups/{gid}/bandwidth", headers=rig.headers).json()
    assert served["allocated_gbps"] == pytest.approx(rig.allocation(gid).gbps)
    assert served["allocated_gbps"] > 0

    rig.cycle()  # and it stays: same id, same members, still allocated
    again = rig.store.get_group(gid)
    assert again is not None and list(again.members) == members
    assert rig.allocation(gid).gbps > 0


def test_bandwidth_pin_holds_for_three_cycles(rig: Rig) -> None:
    """(c) A ``PUT /groups/{id}/bandwidth`` pin is what the next three cycles record and the API
    serves; a stored pin that cannot fit is explained in the ledger."""
    rig.cycle()
    search = set(_ids(rig.inventory(), app="search"))
    shop = set(_ids(rig.inventory(), app="shop"))
    groups = rig.store.latest_groups()
    pinned = next(g.id for g in groups if search & set(g.members) and g.kind == "discovered")
    capped = next(g.id for g in groups if shop & set(g.members) and g.kind == "discovered")
    pin = 0.35  # above its forecast (~0.2 Gbps), within its class ceiling (0.6) and its pool
    assert rig.allocation(pinned).gbps < pin - 0.1

    rig.clock.advance(timedelta(minutes=1))
    put = rig.api.put(
        f"/groups/{pinned}/bandwidth",
        json={"gbps": pin, "reason": "launch week"},
        headers=rig.headers,
    )
    assert put.status_code == 200, put.text
    assert put.json()["allocated_gbps"] == pytest.approx(pin)
    # a pin kept from when the class ceiling was higher: above today's 0.6 Gbps ceiling
    rig.store.set_pinned_bandwidth(capped, 0.9, rig.clock.now(), reason="old contract")

    for _ in range(3):
        report = rig.cycle()
        assert rig.allocation(pinned).run_id == report.run_id
        served = rig.api.get(f"/groups/{pinned}/bandwidth", headers=rig.headers).json()
        assert served["pinned"] is True and served["pinned_gbps"] == pytest.approx(pin)
        assert served["allocated_gbps"] == pytest.approx(pin, abs=1e-6)
        assert rig.allocation(pinned).gbps == pytest.approx(pin, abs=1e-6)
        assert any("operator pin 0.350 Gbps" in line for line in served["ledger"])

        cut = rig.api.get(f"/groups/{capped}/bandwidth", headers=rig.headers).json()
        assert cut["pinned_gbps"] == pytest.approx(0.9)
        assert cut["allocated_gbps"] == pytest.approx(0.6, abs=1e-6)  # the ceiling, not less
        why = [line for line in cut["ledger"] if "operator pin 0.900 Gbps" in line]
        assert why and "class ceiling" in why[-1], cut["ledger"]
