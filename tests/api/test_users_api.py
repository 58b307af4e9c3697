"""Issue 15, section 5: ``GET /users/groups`` and ``GET /metrics/users/{group_id}`` serve what
the newest successful cycle recorded about its user groups, number for number."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from reconciler.api import create_app
from reconciler.clock import SimulatedClock
from reconciler.state import AccuracyRecord, ForecastRecord, PreAllocationRecord, StateStore
from reconciler.users.models import USER_METRICS, user_series_id
from reconciler.users.recorded import (
    PREALLOCATION_FIELDS,
    RecordedUsersError,
    read_users,
    user_group_view,
)
from tests.api.conftest import T0, H

AT = T0 + 3 * H
STEP = timedelta(minutes=5)
A, B = "ug-3fa1c2", "ug-77b0e1"
REGIONS = {A: ("us-east-1", "eu-west-1"), B: ("eu-west-1",)}
#: (group, region) -> next-step request rate quantiles; later steps add 10 % per step
REQUESTS = {
    (A, "us-east-1"): {"0.5": 100.0, "0.9": 120.5, "0.99": 150.0},
    (A, "eu-west-1"): {"0.5": 30.0, "0.9": 35.25, "0.99": 41.0},
    (B, "eu-west-1"): {"0.5": 7.0, "0.9": 9.5, "0.99": 12.0},
}


def users_section(at: Any = AT) -> dict[str, Any]:
    """The ``users`` key the record step writes into the composer snapshot."""
    return {
        "at": at.isoformat(),
        "composer": {"assign": {"u1": A}},
        "groups": [
            {
                "id": A,
                "name": "enterprise",
                "kind": "named",
                "users": 12,
                "regions": list(REGIONS[A]),
                "profile": {"hour_share_09": 0.08, "hour_share_10": 0.12, "mean_object_kb": 41.0},
                "series": [user_series_id(A, r) for r in REGIONS[A]],
            },
            {
                "id": B,
                "name": "cohort 2",
                "kind": "cohort",
                "users": 3,
                "regions": list(REGIONS[B]),
                "profile": {"hour_share_21": 0.3},
                "series": [user_series_id(B, r) for r in REGIONS[B]],
            },
            {"id": "ug-broken", "name": "x", "kind": "tribe", "users": 1},
        ],
        "signals": {
            "region_requests": {"us-east-1": 120.5, "eu-west-1": 44.75},
            "region_gbps": {"us-east-1": 0.02},
            "latency_ms": [
                {"client": "eu-west-1", "serving": "us-east-1", "ms": 84.0},
                {"client": "ap-south-1", "serving": "us-east-1", "ms": 210.0},
            ],
            "needs": {
                A: {"cpu_vcpu": 1.2, "memory_gib": 2.0, "network_gbps": 0.01, "io_mbps": 3.0}
            },
            "serving": {A: {"web": 0.8, "api": 0.2}},
        },
    }


def seed_users(store: StateStore) -> None:
    """An older cycle with another user group, then the newest: two user groups (and one the
    reader must refuse), their forecasts, scored forecasts and a pre-allocation."""
    old = {**users_section(T0), "groups": [{**users_section()["groups"][1], "id": "ug-old"}]}
    old["groups"][0]["series"] = [user_series_id("ug-old", "eu-west-1")]
    for run, at, users in (("u0", T0 + 2 * H, old), ("u1", AT, users_section())):
        store.record_run_start(run, at)
        store.save_composer_snapshot(run, at, {"composer": {}, "users": users})
        store.record_run_finish(run, at, status="succeeded", step_timings={})
    forecasts = []
    for (gid, region), q in REQUESTS.items():
        sid = user_series_id(gid, region)
        for i in range(3):
            for metric in USER_METRICS:
                scale = {"requests_per_s": 1.0, "bytes_out_gbps": 1e-4, "user_latency_ms": 0.5}
                values = {k: v * scale[metric] * (1 + 0.1 * i) for k, v in q.items()}
                forecasts.append(ForecastRecord(sid, metric, AT + i * STEP, values, "lgbm", "u1"))
    store.save_forecasts("u1", AT, forecasts)
    sid = user_series_id(A, "us-east-1")
    predicted = {"0.5": 100.0, "0.9": 120.0, "0.99": 150.0}
    store.record_accuracy(
        [
            AccuracyRecord(sid, "requests_per_s", AT - i * STEP, predicted, actual, "lgbm")
            for i, actual in enumerate((90.0, 110.0, 130.0, 160.0))
        ]
    )
    store.save_pre_allocations(
        "u1",
        AT,
        [
            PreAllocationRecord(
                A,
                cpu_need=1.2,
                cpu_allocated=1.5,
                memory_need_gib=2.0,
                memory_allocated_gib=2.0,
                network_need_gbps=0.01,
                network_allocated_gbps=None,
                io_need_iops=None,
                io_allocated_iops=None,
                io_need_mbps=3.0,
                io_allocated_mbps=4.0,
            )
        ],
    )


@pytest.fixture
def users_client(store: StateStore) -> Any:
    seed_users(store)
    with TestClient(create_app(store, clock=SimulatedClock(AT))) as c:
        yield c


def test_list_gives_each_recorded_group_with_its_p90_request_rate(
    users_client: TestClient, read_h: dict[str, str]
) -> None:
    resp = users_client.get("/users/groups", headers=read_h)
    assert resp.status_code == 200
    by_id = {g["id"]: g for g in resp.json()}
    assert set(by_id) == {A, B}  # the older cycle's group and the broken one are not listed
    a = by_id[A]
    assert (a["name"], a["kind"], a["users"]) == ("enterprise", "named", 12)
    assert a["regions"] == ["us-east-1", "eu-west-1"]
    assert a["requests_per_s_p90"] == pytest.approx(120.5 + 35.25)
    assert by_id[B]["requests_per_s_p90"] == pytest.approx(9.5)


def test_detail_holds_the_recorded_numbers(
    users_client: TestClient, store: StateStore, read_h: dict[str, str]
) -> None:
    body = users_client.get(f"/metrics/users/{A}", headers=read_h).json()
    assert body["run_id"] == "u1"
    assert body["profile"] == {"hour_share_09": 0.08, "hour_share_10": 0.12, "mean_object_kb": 41.0}
    series = {s["client_region"]: s for s in body["series"]}
    assert set(series) == {"us-east-1", "eu-west-1"}
    us = series["us-east-1"]
    assert us["series_id"] == f"users/{A}@us-east-1"
    requests = [f for f in us["forecasts"] if f["metric"] == "requests_per_s"]
    stored = store.latest_forecasts(f"users/{A}@us-east-1", "requests_per_s")
    assert [f["quantiles"] for f in requests] == [f.quantiles for f in stored]
    assert requests[0]["quantiles"] == {"0.5": 100.0, "0.9": 120.5, "0.99": 150.0}
    assert requests[0]["interval"] == [100.0, 150.0]
    assert {f["metric"] for f in us["forecasts"]} == {str(m) for m in USER_METRICS}
    (acc,) = us["accuracy"]
    # actuals 90, 110, 130, 160 against p50 100 / p90 120 / p99 150
    assert acc["points"] == 4
    assert acc["mean_absolute_error"] == pytest.approx((10 + 10 + 30 + 60) / 4)
    assert acc["p90_coverage"] == pytest.approx(0.5)
    pinball = (0.1 * 30 + 0.1 * 10 + 0.9 * 10 + 0.9 * 40) / 4
    assert acc["p90_pinball"] == pytest.approx(pinball)
    assert acc["interval_coverage"] == pytest.approx(0.5)  # 110 and 130 inside [100, 150]
    assert series["eu-west-1"]["accuracy"] == []
    pre = {m["metric"]: m for m in body["pre_allocation"]["metrics"]}
    assert pre["cpu_vcpu"] == {"metric": "cpu_vcpu", "need": 1.2, "allocated": 1.5}
    assert pre["io_mbps"]["allocated"] == 4.0 and pre["network_gbps"]["allocated"] is None
    assert "latency_ms" not in pre
    assert body["pre_allocation"]["run_id"] == "u1"
    assert body["predicted_need"]["cpu_vcpu"] == 1.2
    assert body["serving"] == [{"group_id": "web", "share": 0.8}, {"group_id": "api", "share": 0.2}]
    assert body["latency"] == [{"client": "eu-west-1", "serving": "us-east-1", "ms": 84.0}]
    b = users_client.get(f"/metrics/users/{B}", headers=read_h).json()
    assert b["pre_allocation"] is None and b["serving"] == [] and b["predicted_need"] == {}


def test_responses_match_the_openapi_document(
    users_client: TestClient, read_h: dict[str, str]
) -> None:
    schema = schemathesis.openapi.from_dict(users_client.app.openapi())  # type: ignore[attr-defined]
    checks = [status_code_conformance, content_type_conformance, response_schema_conformance]
    calls = [
        ("/users/groups", {}, read_h, 200),
        ("/metrics/users/{group_id}", {"group_id": A}, read_h, 200),
        ("/metrics/users/{group_id}", {"group_id": "ug-none"}, read_h, 404),
        ("/metrics/users/{group_id}", {"group_id": "x" * 65}, read_h, 422),
        ("/metrics/users/{group_id}", {"group_id": A}, {}, 401),
    ]
    for template, path, headers, expect in calls:
        resp = users_client.get(template.format(**path), headers=headers)
        assert resp.status_code == expect, (template, path, resp.text)
        case = schema[template]["GET"].Case(path_parameters=path, headers=headers)
        case.validate_response(resp, checks=checks)


def test_unknown_bad_and_unauthenticated(users_client: TestClient, read_h: dict[str, str]) -> None:
    missing = users_client.get("/metrics/users/ug-none", headers=read_h)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no user group 'ug-none'"}
    bad = users_client.get("/metrics/users/a%00b", headers=read_h)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "path.group_id"
    assert users_client.get("/metrics/users/" + "x" * 65, headers=read_h).status_code == 422
    assert users_client.get("/users/groups").status_code == 401
    assert users_client.get(f"/metrics/users/{A}").status_code == 401


def test_no_users_section_means_no_user_groups(
    client: TestClient, store: StateStore, read_h: dict[str, str]
) -> None:
    store.record_run_start("plain", AT)
    store.save_composer_snapshot("plain", AT, {"composer": {}, "breaker": {}})
    store.record_run_finish("plain", AT, status="succeeded", step_timings={})
    assert client.get("/users/groups", headers=read_h).json() == []
    assert client.get(f"/metrics/users/{A}", headers=read_h).status_code == 404


def test_a_newer_cycle_changes_the_cached_answer(
    users_client: TestClient, store: StateStore, read_h: dict[str, str]
) -> None:
    assert len(users_client.get("/users/groups", headers=read_h).json()) == 2
    newer = users_section(AT + H)
    newer["groups"] = newer["groups"][1:2]
    store.record_run_start("u2", AT + H)
    store.save_composer_snapshot("u2", AT + H, {"composer": {}, "users": newer})
    store.record_run_finish("u2", AT + H, status="succeeded", step_timings={})
    assert [g["id"] for g in users_client.get("/users/groups", headers=read_h).json()] == [B]


def test_reader_keeps_bad_groups_aside_and_names_a_broken_section() -> None:
    snap = read_users({"users": users_section()}, "u1")
    assert snap is not None
    assert [g.id for g in snap.users.groups] == [A, B]
    (why,) = snap.rejected
    assert why.startswith("composer snapshot of run u1: users.groups.2.kind:")
    assert read_users({"composer": {}}) is None
    with pytest.raises(RecordedUsersError, match=r"run u9: users.signals.latency_ms.0.ms"):
        broken = users_section()
        broken["signals"]["latency_ms"] = [{"client": "a", "serving": "b", "ms": -1}]
        read_users({"users": broken}, "u9")
    with pytest.raises(RecordedUsersError, match=r"users.extra: Extra inputs"):
        read_users({"users": {**users_section(), "extra": 1}}, "u9")
    # a cycle whose users analysis made no signals: no time, no signals, no composer state
    bare = {"composer": None, "groups": users_section()["groups"][1:2]}
    snap = read_users({"users": bare}, "u3")
    assert snap is not None and snap.users.at is None and snap.users.signals.needs == {}
    assert [g.id for g in snap.users.groups] == [B]
    stranger = users_section()
    stranger["groups"][0]["series"] = ["users/ug-other@us-east-1"]
    snap = read_users({"users": stranger}, "u1")
    assert snap is not None and [g.id for g in snap.users.groups] == [B]


def test_pre_allocation_fields_match_the_planner_columns(store: StateStore) -> None:
    from reconciler.steps.current import PREALLOCATION_COLUMNS

    assert {str(k): v for k, v in PREALLOCATION_COLUMNS.items()} == PREALLOCATION_FIELDS
    assert user_group_view(store, A) is None


def _scrape(client: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def test_gauges_give_each_user_group_its_request_rate_and_vcpu(
    users_client: TestClient, read_h: dict[str, str]
) -> None:
    listed = {g["id"]: g for g in users_client.get("/users/groups", headers=read_h).json()}
    found = _scrape(users_client)
    requests = {s["user_group"]: v for s, v in found["headroom_user_group_requests_per_s_p90"]}
    assert requests == {g: listed[g]["requests_per_s_p90"] for g in (A, B)}
    vcpu = found["headroom_user_group_preallocated_vcpu"]
    assert vcpu == [({"user_group": A, "user_group_name": "enterprise"}, 1.5)]
    count = {s["series"]: v for s, v in found["headroom_user_groups"]}
    assert count == {"own": 2, "other": 0}


def test_user_group_series_are_capped_by_the_top_groups_setting(store: StateStore) -> None:
    seed_users(store)
    with TestClient(create_app(store, clock=SimulatedClock(AT), metrics_top_groups=1)) as c:
        found = _scrape(c)
    requests = {s["user_group"]: v for s, v in found["headroom_user_group_requests_per_s_p90"]}
    assert requests == {A: pytest.approx(155.75), "other": pytest.approx(9.5)}
    count = {s["series"]: v for s, v in found["headroom_user_groups"]}
    assert count == {"own": 1, "other": 1}


def test_a_broken_users_section_leaves_the_other_gauges(
    client: TestClient, store: StateStore
) -> None:
    store.record_run_start("bad", AT)
    store.save_composer_snapshot("bad", AT, {"composer": {}, "users": {"at": "yesterday"}})
    store.record_run_finish("bad", AT, status="succeeded", step_timings={})
    found = _scrape(client)
    assert "headroom_user_group_requests_per_s_p90" not in found
    assert {s["series"]: v for s, v in found["headroom_user_groups"]} == {"own": 0, "other": 0}
    assert found["headroom_pool_capacity_gbps"]
    with pytest.raises(
        RecordedUsersError, match=r"run bad: users.at: Input should be a valid datetime"
    ):
        user_group_view(store, A)
