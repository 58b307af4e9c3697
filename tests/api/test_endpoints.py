from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from reconciler.api import create_app
from reconciler.state import StateStore


def test_list_and_get_groups(client: TestClient, read_h) -> None:
    groups = {g["id"]: g for g in client.get("/groups", headers=read_h).json()}
    assert set(groups) == {"web", "batch", "api"}
    assert groups["web"]["members"] == ["i-1", "i-2"] and groups["web"]["member_count"] == 2
    assert groups["web"]["allocated_gbps"] == pytest.approx(6.0)
    shared = client.get("/groups", params={"kind": "shared-services"}, headers=read_h).json()
    assert [g["id"] for g in shared] == ["api"]
    one = client.get("/groups/batch", headers=read_h).json()
    assert one["kind"] == "discovered" and one["allocated_gbps"] > 0
    missing = client.get("/groups/nope", headers=read_h)
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


def test_create_manual_group(client: TestClient, write_h, store: StateStore) -> None:
    body = {"name": "checkout", "members": ["i-7", "i-8"], "pinned_gbps": 2.5}
    resp = client.post("/groups/create", json=body, headers=write_h)
    assert resp.status_code == 201, resp.text
    made = resp.json()
    assert made["id"].startswith("m-") and made["kind"] == "manual"
    assert made["pinned"] is True and made["pinned_gbps"] == 2.5
    assert store.get_group(made["id"]).members == ("i-7", "i-8")  # type: ignore[union-attr]
    assert store.recent_events(made["id"])[0].kind == "formed"
    again = client.post("/groups/create", json=body, headers=write_h)
    assert again.status_code == 409 and "checkout" in again.json()["detail"]
    by_tag = client.post(
        "/groups/create",
        json={
            "name": "tenant-a",
            "kind": "tenant",
            "tag_selector": {"tenant": "a"},
            "policy_class": "gold",
        },
        headers=write_h,
    )
    assert by_tag.status_code == 201 and by_tag.json()["id"].startswith("t-")
    too_big = client.post(
        "/groups/create",
        json={"name": "huge", "members": ["i-1"], "pinned_gbps": 500},
        headers=write_h,
    )
    assert too_big.status_code == 409 and "above the global pool capacity" in too_big.text


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"members": ["i-1"], "pinned_gbps": 1}, "body.name", "Field required"),
        ({"name": "x", "pinned_gbps": 1}, "body", "give members or a tag_selector"),
        ({"name": "x", "members": ["i-1"]}, "body", "give pinned_gbps or a policy_class"),
        (
            {"name": "x", "members": ["i-1"], "pinned_gbps": -1},
            "body.pinned_gbps",
            "greater than or equal to 0",
        ),
        (
            {"name": "x", "members": ["i-1", "i-1"], "pinned_gbps": 1},
            "body.members",
            "members listed twice: i-1",
        ),
        (
            {"name": "x", "members": ["i-1"], "pinned_gbps": 1, "colour": "red"},
            "body.colour",
            "Extra inputs are not permitted",
        ),
    ],
)
def test_invalid_bodies_get_422_with_field_and_reason(client, write_h, body, field, reason) -> None:
    resp = client.post("/groups/create", json=body, headers=write_h)
    assert resp.status_code == 422
    errors = resp.json()["detail"]
    assert any(e["field"] == field and reason in e["reason"] for e in errors), errors


def test_get_bandwidth(client: TestClient, read_h) -> None:
    bw = client.get("/groups/web/bandwidth", headers=read_h).json()
    assert bw["pool"] == "us-east-1" and bw["allocated_gbps"] == pytest.approx(6.0)
    assert bw["used_gbps"] == 4.0 and bw["run_id"] == "r1" and bw["ledger"]
    assert bw["pool_state"]["capacity_gbps"] == 12.0 and bw["pinned"] is False
    assert client.get("/groups/nope/bandwidth", headers=read_h).status_code == 404


def test_put_bandwidth_override_within_capacity(client, write_h, read_h, store) -> None:
    resp = client.put(
        "/groups/web/bandwidth", json={"gbps": 8.0, "reason": "launch"}, headers=write_h
    )
    assert resp.status_code == 200, resp.text
    bw = resp.json()
    assert bw["allocated_gbps"] == pytest.approx(8.0) and bw["pinned_gbps"] == 8.0
    assert bw["run_id"].startswith("override-")
    assert any("operator override" in step for step in bw["ledger"])
    assert client.get("/groups/web/bandwidth", headers=read_h).json()["allocated_gbps"] == 8.0
    event = store.recent_events("web")[0]
    assert event.kind == "overridden" and event.reason == "launch"


def test_put_bandwidth_that_cannot_fit_is_refused_with_reason(client, write_h, store) -> None:
    over_ceiling = client.put("/groups/web/bandwidth", json={"gbps": 11.0}, headers=write_h)
    assert over_ceiling.status_code == 409
    assert "above the class ceiling" in over_ceiling.json()["detail"]["reason"]
    no_room = client.put("/groups/batch/bandwidth", json={"gbps": 11.5}, headers=write_h)
    assert no_room.status_code == 409
    assert "us-east-1 has" in no_room.json()["detail"]["reason"]
    assert store.get_group("batch").pinned is False  # type: ignore[union-attr]
    bad = client.put("/groups/web/bandwidth", json={"gbps": "lots"}, headers=write_h)
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "body.gbps"
    missing = client.put("/groups/nope/bandwidth", json={"gbps": 1}, headers=write_h)
    assert missing.status_code == 404


def test_put_bandwidth_before_any_allocation(tmp_path, write_h) -> None:
    from reconciler.api import issue_token
    from tests.api.conftest import T0

    empty = StateStore.open(f"sqlite:///{tmp_path / 'empty.db'}")
    from reconciler.state import GroupRecord

    empty.save_composition(T0, [GroupRecord("g", "g", "discovered", T0, ("i-1",))])
    _, token = issue_token(empty, name="w", scope="write", at=T0)
    c = TestClient(create_app(empty))
    resp = c.put(
        "/groups/g/bandwidth", json={"gbps": 1}, headers={"Authorization": f"Bearer {token}"}
    )
    assert (
        resp.status_code == 409 and "no allocation is in force" in resp.json()["detail"]["reason"]
    )
    empty.close()


def test_injected_override_checker_is_used(store: StateStore, write_h) -> None:
    calls = []

    def refuse(result, group_id, gbps):
        calls.append((group_id, gbps))
        raise ValueError("maintenance window: overrides frozen")

    c = TestClient(create_app(store, override=refuse))
    resp = c.put("/groups/web/bandwidth", json={"gbps": 1.0}, headers=write_h)
    assert resp.status_code == 409 and resp.json()["detail"]["reason"] == (
        "maintenance window: overrides frozen"
    )
    assert calls == [("web", 1.0)]


def test_group_metrics(client: TestClient, read_h) -> None:
    m = client.get("/metrics/group/web", headers=read_h).json()
    assert m["group"]["id"] == "web"
    assert [t["run_id"] for t in m["traffic"]] == ["r0", "r1"]
    assert [t["used_gbps"] for t in m["traffic"]] == [3.0, 4.0]
    (fc,) = m["forecasts"]
    assert fc["median"] == 4.0 and fc["interval"] == [2.0, 6.0]
    assert fc["interval_levels"] == [0.1, 0.9]
    (acc,) = m["accuracy"]
    assert acc["points"] == 2 and acc["mean_absolute_error"] == pytest.approx(2.0)
    assert acc["interval_coverage"] == pytest.approx(0.5)
    assert m["events"][0]["kind"] == "formed"
    short = client.get("/metrics/group/web", params={"history": 1}, headers=read_h).json()
    assert [t["run_id"] for t in short["traffic"]] == ["r1"]
    bad = client.get("/metrics/group/web", params={"history": 0}, headers=read_h)
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "query.history"
    assert client.get("/metrics/group/nope", headers=read_h).status_code == 404


def test_global_metrics(client: TestClient, read_h) -> None:
    g = client.get("/metrics/global", headers=read_h).json()
    assert g["global_pool"]["pool"] == "global" and g["global_pool"]["capacity_gbps"] == 20.0
    assert g["global_pool"]["used_gbps"] == 9.0
    assert {r["pool"] for r in g["regions"]} == {"us-east-1", "eu-west-1"}
    assert g["groups"] == 3
    assert g["allocated_gbps"] == pytest.approx(g["global_pool"]["allocated_gbps"])


def test_healthz_reports_an_unreachable_database(tmp_path) -> None:
    from sqlalchemy.exc import OperationalError

    store = StateStore.open(f"sqlite:///{tmp_path / 'h.db'}")

    def broken() -> None:
        raise OperationalError("SELECT 1", {}, Exception("gone"))

    store.ping = broken  # type: ignore[method-assign]
    resp = TestClient(create_app(store)).get("/healthz")
    assert resp.status_code == 503 and resp.json()["status"] == "degraded"
    store.close()


@pytest.mark.postgres
def test_api_against_postgres(tmp_path) -> None:
    from reconciler.api import issue_token
    from tests.api.conftest import T0, seed
    from tests.state.helpers import database_url

    with database_url("postgres", tmp_path) as url:
        store = StateStore.open(url)
        seed(store)
        _, w = issue_token(store, name="w", scope="write", at=T0)
        h = {"Authorization": f"Bearer {w}"}
        c = TestClient(create_app(store))
        assert c.get("/healthz").json()["database"] == "ok"
        made = c.post(
            "/groups/create",
            json={"name": "pg", "members": ["i-1"], "policy_class": "gold"},
            headers=h,
        )
        assert made.status_code == 201
        assert c.put("/groups/web/bandwidth", json={"gbps": 8.0}, headers=h).status_code == 200
        m = c.get("/metrics/group/web", headers=h).json()
        assert m["traffic"][-1]["gbps"] == pytest.approx(8.0)
        assert c.get("/metrics/global", headers=h).json()["groups"] == 3
        store.close()
