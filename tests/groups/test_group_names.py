"""Groups have human names (issue 12, finding 5): from their tags, stable across cycles, unique
among live groups, renamable by an operator through the API, shown by the API and Prometheus.

The cycle tests run the real ``run_once`` over an in-process synthetic fleet (``FakeProvider``)
whose applications are tagged ``app=shop``, ``app=search``...; the policy pins one
``analytics`` instance into a manual group named ``analytics``, so the discovered group of the
rest collides with it and gets ``analytics-2``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bench.cycle import FleetSpec, synthetic_fleet
from policies.schema import ManualGroup as ManualGroupSpec
from providers.fake import FakeProvider
from providers.models import ProviderName, Resource
from reconciler.api import create_app, issue_token
from reconciler.clock import SimulatedClock
from reconciler.groups import ComposerConfig, ManualGroup, compose, suggest_name
from reconciler.loop import CycleOutputs, run_once
from reconciler.state import StateStore
from reconciler.steps.build import CycleSettings, build_context
from reconciler.steps.types import GroupSet
from tests.api.test_state_metrics import scrape
from tests.cycle.test_full_cycle import fast_policy

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)
APPS = ("shop", "search", "billing", "analytics")
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _res(rid: str, **tags: str) -> Resource:
    return Resource(id=rid, provider=ProviderName.FAKE, account="1", region="r1", tags=tags)


# ---- the naming rules on their own ------------------------------------------------------------


def test_a_name_comes_from_the_dominant_app_tag_then_name_prefix_then_top_member() -> None:
    tags = {
        "a": {"app": "shop", "Name": "shop-web-0"},
        "b": {"app": "shop", "Name": "shop-api-0"},
        "c": {"app": "other", "Name": "x"},
        "d": {"Name": "pay-web-1"},
        "e": {"Name": "pay-db-2"},
        "f": {},
    }
    assert suggest_name(["a", "b", "c"], tags) == "shop"
    assert suggest_name(["d", "e"], tags) == "pay"
    assert suggest_name(["d", "f"], tags, lambda m: 5.0 if m == "d" else 1.0) == "pay-web-1 +1"
    assert suggest_name(["f"], tags) == "f"
    assert suggest_name(["x"], {"x": {"service": "dns"}}) == "dns"


def test_names_are_kept_unique_and_stable_and_an_operator_name_sticks() -> None:
    inv = [_res("a0", app="shop"), _res("a1", app="shop"), _res("b0", app="shop"), _res("c0")]
    cfg = ComposerConfig(form_cycles=1)
    state, _ = compose(None, [["a0", "a1"]], at=T0, config=cfg, inventory=inv)
    (first,) = state.groups.values()
    assert first.name == "shop" and first.named_by == "composer"
    later = T0 + STEP
    state, _ = compose(state, [["a0", "a1"], ["b0"]], at=later, config=cfg, inventory=inv)
    by = {g.id: g.name for g in state.groups.values()}
    assert by[first.id] == "shop"  # the older group keeps the plain name
    assert sorted(by.values()) == ["shop", "shop-2"]
    # an operator renames the newcomer; the name outlives later cycles without being passed
    other = next(gid for gid in by if gid != first.id)
    state, _ = compose(
        state,
        [["a0", "a1"], ["b0"]],
        at=later + STEP,
        config=cfg,
        inventory=inv,
        names={other: "storefront-batch"},
    )
    state, _ = compose(
        state, [["a0", "a1"], ["b0"]], at=later + 2 * STEP, config=cfg, inventory=inv
    )
    assert state.groups[other].name == "storefront-batch"
    assert state.groups[other].named_by == "operator"
    # a manual group's definition names it, and takes precedence over a discovered name
    pin = ManualGroup(id="manual-pay", name="shop", members=("c0",))
    state, _ = compose(
        state, [["a0", "a1"], ["b0"]], at=later + 3 * STEP, config=cfg, inventory=inv, manual=[pin]
    )
    names = {g.id: g.name for g in state.groups.values()}
    assert names["manual-pay"] == "shop" and names[first.id] == "shop-2"
    assert len(set(names.values())) == len(names)


def test_a_tenant_group_is_named_by_its_tag_and_value() -> None:
    inv = [_res("a0", team="acme"), _res("a1", team="acme")]
    cfg = ComposerConfig(form_cycles=1, tenant_tag_keys=("team",))
    state, _ = compose(None, [], at=T0, config=cfg, inventory=inv)
    (tenant,) = state.groups.values()
    assert tenant.name == "team=acme" and tenant.origin == "tag team=acme"


# ---- through real cycles ----------------------------------------------------------------------


@dataclass
class Fleet:
    provider: FakeProvider
    settings: CycleSettings
    clock: SimulatedClock
    state: StateStore
    pinned: str

    def cycle(self) -> GroupSet:
        policy = fast_policy()
        sel = policy.group_selection
        pin = ManualGroupSpec(
            name="analytics", members=[self.pinned], group_class=policy.default_class
        )
        policy = policy.model_copy(
            update={
                "group_selection": sel.model_copy(
                    update={"tenant_tag_keys": ["team"], "manual_groups": [pin]}
                )
            }
        )
        ctx = build_context(
            self.settings,
            clock=self.clock,
            provider=self.provider,
            policy=policy,
            state=self.state,
        )
        seen: list[CycleOutputs] = []
        ctx.observer = lambda _report, out: seen.append(out)
        report = run_once(ctx)
        assert report.ok, report.error
        self.clock.advance(STEP)
        assert seen[0].groups is not None
        return seen[0].groups


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    provider = synthetic_fleet(
        FleetSpec(resources=16, groups=4, metric_days=3.2, flow_hours=3), NOW + timedelta(hours=2)
    )
    renamed: list[Resource] = []
    for r in provider.resources:
        tags = dict(r.tags)
        if "app" in tags:
            app = APPS[int(tags["app"].rsplit("-", 1)[1])]
            tags["app"] = app
            if app == "billing":
                tags["team"] = "billing"  # a tenant group beside the application
        renamed.append(r.model_copy(update={"tags": tags}))
    provider.resources[:] = renamed
    settings = CycleSettings(
        policy_path=ROOT / "policies" / "examples" / "default.yaml",
        history_root=str(tmp_path / "history"),
        state_dir=tmp_path / "state",
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
    )
    state = StateStore.open(settings.database_url or "")
    pinned = next(r.id for r in renamed if r.tags.get("app") == "analytics")
    yield Fleet(provider, settings, SimulatedClock(NOW), state, pinned)
    state.close()


def test_cycles_name_groups_from_tags_keep_the_names_and_an_api_rename_sticks(
    fleet: Fleet,
) -> None:
    first = fleet.cycle()
    names = {g.id: g.name for g in first.groups}
    apps = {g.name: g for g in first.groups if g.kind == "application"}
    tags = {r.id: r.tags for r in fleet.provider.resources}
    for app in ("shop", "search", "billing", "analytics-2"):  # named by the members' app tag
        assert {tags[m]["app"] for m in apps[app].members} == {app.removesuffix("-2")}, names
    manual = next(g for g in first.groups if g.id == "manual-analytics")
    assert manual.name == "analytics" and manual.members == (fleet.pinned,)
    tenant = next(g for g in first.groups if g.kind == "tenant")
    assert tenant.name == "team=billing"
    assert len(set(names.values())) == len(names), names
    shared = [g for g in first.groups if g.kind == "shared"]
    assert all(g.name == "shared services" for g in shared)
    # stored beside the id
    stored = {g.id: g.name for g in fleet.state.latest_groups()}
    assert stored == names

    second = fleet.cycle()
    assert {g.id: g.name for g in second.groups} == names  # no flapping

    shop = apps["shop"].id
    with TestClient(create_app(fleet.state, clock=fleet.clock)) as client:
        _, write = issue_token(fleet.state, name="w", scope="write", at=NOW)
        _, read = issue_token(fleet.state, name="r", scope="read", at=NOW)
        w, r = {"Authorization": f"Bearer {write}"}, {"Authorization": f"Bearer {read}"}
        assert (
            client.put(f"/groups/{shop}/name", json={"name": "storefront"}, headers=r).status_code
            == 403
        )
        resp = client.put(f"/groups/{shop}/name", json={"name": "storefront"}, headers=w)
        assert resp.status_code == 200, resp.text
        assert resp.json()["name"] == "storefront" and resp.json()["id"] == shop
        assert client.get(f"/groups/{shop}", headers=r).json()["name"] == "storefront"
        taken = client.put(f"/groups/{shop}/name", json={"name": "search"}, headers=w)
        assert taken.status_code == 409 and "search" in taken.text
        missing = client.put("/groups/grp-nope/name", json={"name": "x"}, headers=w)
        assert missing.status_code == 404

        third = fleet.cycle()
        fourth = fleet.cycle()
        for gs in (third, fourth):
            assert next(g for g in gs.groups if g.id == shop).name == "storefront"
        got = client.get(f"/groups/{shop}", headers=r).json()
        assert got["name"] == "storefront"
        listed = {g["id"]: g["name"] for g in client.get("/groups", headers=r).json()}
        assert listed[shop] == "storefront" and listed[apps["search"].id] == "search"
        samples = scrape(client)
        labels = {
            lab["group"]: lab["group_name"]
            for lab, _ in samples.get("headroom_group_allocated_gbps", [])
            if "group_name" in lab
        }
        assert labels.get(shop) == "storefront", labels
        assert labels.get(apps["search"].id) == "search"
