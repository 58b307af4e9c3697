from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from reconciler.api.tokens import hash_secret, issue_token, parse_token, verify_token
from reconciler.state import StateStore
from tests.api.conftest import T0

READS = ["/groups", "/groups/web", "/groups/web/bandwidth", "/metrics/group/web", "/metrics/global"]
WRITES = [
    ("post", "/groups/create", {"name": "x", "members": ["i-9"], "pinned_gbps": 1.0}),
    ("put", "/groups/web/bandwidth", {"gbps": 5.0}),
]


@pytest.mark.parametrize("path", READS)
def test_reads_need_a_token(client: TestClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"
    assert "missing bearer token" in resp.json()["detail"]
    bad = client.get(path, headers={"Authorization": "Bearer hr_000000000000_" + "x" * 30})
    assert bad.status_code == 401 and "invalid or revoked" in bad.json()["detail"]
    junk = client.get(path, headers={"Authorization": "Bearer nonsense"})
    assert junk.status_code == 401


@pytest.mark.parametrize("path", READS)
def test_read_and_write_tokens_may_read(client, path, read_h, write_h) -> None:
    assert client.get(path, headers=read_h).status_code == 200
    assert client.get(path, headers=write_h).status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_changes_need_write_scope(client, method, path, body, read_h) -> None:
    assert client.request(method, path, json=body).status_code == 401
    resp = client.request(method, path, json=body, headers=read_h)
    assert resp.status_code == 403
    assert "scope 'read'; this needs 'write'" in resp.json()["detail"]


def test_revoked_token_is_refused_once_the_cache_expires(client, store, clock, read_h) -> None:
    token = read_h["Authorization"].split()[1]
    token_id, _ = parse_token(token)
    assert client.get("/groups", headers=read_h).status_code == 200
    store.revoke_token(token_id, T0)
    assert client.get("/groups", headers=read_h).status_code == 200  # cached for 2 s
    clock.advance(timedelta(seconds=2))
    assert client.get("/groups", headers=read_h).status_code == 401


def test_without_a_cache_revocation_is_immediate(store: StateStore, read_h) -> None:
    from reconciler.api import create_app

    c = TestClient(create_app(store, token_cache=timedelta(0)))
    assert c.get("/groups", headers=read_h).status_code == 200
    store.revoke_token(parse_token(read_h["Authorization"].split()[1])[0], T0)
    assert c.get("/groups", headers=read_h).status_code == 401


def test_tokens_are_stored_hashed_and_use_is_recorded(client, store: StateStore) -> None:
    record, token = issue_token(store, name="ci", scope="read", at=T0)
    token_id, secret = parse_token(token)
    _, salt, digest = store.token_secret(token_id)  # type: ignore[misc]
    assert secret not in digest and digest == hash_secret(salt, secret)
    assert verify_token(store, token) == record
    assert verify_token(store, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    client.get("/groups", headers={"Authorization": f"Bearer {token}"})
    assert store.list_tokens()[-1].last_used_at is not None


def test_issue_token_rejects_bad_scope_and_name(store: StateStore) -> None:
    with pytest.raises(ValueError, match="scope 'admin'"):
        issue_token(store, name="x", scope="admin", at=T0)
    with pytest.raises(ValueError, match="name is empty"):
        issue_token(store, name="  ", scope="read", at=T0)


def test_health_docs_and_prometheus_need_no_token(client: TestClient, read_h) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok", "database": "ok"}
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/groups/{group_id}/bandwidth" in spec["paths"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    client.get("/groups/web", headers=read_h)
    text = client.get("/metrics").text
    assert (
        'headroom_http_requests_total{method="GET",route="/groups/{group_id}",status="200"}' in text
    )
    assert "headroom_http_request_duration_seconds_bucket" in text
    assert 'headroom_pool_capacity_gbps{pool="global"} 20.0' in text
    assert 'headroom_pool_used_gbps{pool="global"} 9.0' in text


def test_each_app_has_its_own_registry(store: StateStore) -> None:
    from reconciler.api import create_app

    a, b = TestClient(create_app(store)), TestClient(create_app(store))
    a.get("/healthz")
    assert 'route="/healthz"' in a.get("/metrics").text
    assert 'route="/healthz"' not in b.get("/metrics").text
