"""Issue 13, finding 7: no unauthenticated request costs memory.

The token is checked from the headers before any of the body is read; a body larger than the
limit is refused with 413 (up front from ``Content-Length``, or as soon as a streamed body
passes it); a group's member list is capped with a 422 naming ``body.members``.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from reconciler.api import create_app
from reconciler.api.limits import ApiLimits
from reconciler.state import StateStore
from tests.api.asgi import call, zeros

BIG = 300 * 1024 * 1024  # the 300 MB request of the finding, made lazily
MIB = 1024 * 1024


def test_defaults_are_documented_and_sane() -> None:
    limits = ApiLimits()
    assert limits.max_body_bytes == MIB and limits.max_group_members == 5000


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer hr_000000000000_" + "x" * 30}])
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_huge_body_without_a_valid_token_is_never_read(
    store: StateStore, headers: dict[str, str], declared: bool
) -> None:
    sent = dict(headers, **({"Content-Length": str(BIG)} if declared else {}))
    answer = call(create_app(store), "POST", "/groups/create", zeros(BIG), sent)
    assert answer.status == 401, answer.body
    assert answer.pulled == 0
    assert "token" in answer.json()["detail"]


def test_a_read_token_on_a_write_route_is_refused_before_the_body(store, read_h) -> None:
    answer = call(create_app(store), "POST", "/groups/create", zeros(BIG), read_h)
    assert answer.status == 403 and answer.pulled == 0


def test_a_declared_length_over_the_limit_is_refused_up_front(store, write_h) -> None:
    sent = dict(write_h, **{"Content-Length": str(BIG)})
    answer = call(create_app(store), "POST", "/groups/create", zeros(BIG), sent)
    assert answer.status == 413 and answer.pulled == 0
    assert answer.json() == {"detail": f"request body over the limit of {MIB} bytes"}


def test_a_streamed_body_is_cut_off_just_past_the_limit(store, write_h) -> None:
    answer = call(create_app(store), "PUT", "/groups/web/bandwidth", zeros(BIG), write_h)
    assert answer.status == 413, answer.body
    assert answer.pulled <= MIB + 64 * 1024
    assert answer.json() == {"detail": f"request body over the limit of {MIB} bytes"}


def test_the_body_limit_is_configurable(store: StateStore, write_h) -> None:
    c = TestClient(create_app(store, limits=ApiLimits(max_body_bytes=64)))
    resp = c.put("/groups/web/bandwidth", json={"gbps": 1.0, "reason": "x" * 100}, headers=write_h)
    assert resp.status_code == 413
    assert resp.json()["detail"] == "request body over the limit of 64 bytes"
    assert c.put("/groups/web/bandwidth", json={"gbps": 1.0}, headers=write_h).status_code != 413


def _create(members: int) -> dict[str, object]:
    return {"name": "big", "members": [f"i-{i:08x}" for i in range(members)], "pinned_gbps": 1}


def test_member_lists_are_capped_with_a_422_naming_the_field(client, write_h) -> None:
    resp = client.post("/groups/create", json=_create(5001), headers=write_h)
    assert resp.status_code == 422
    (error,) = resp.json()["detail"]
    assert error["field"] == "body.members"
    assert "at most 5000" in error["reason"]
    assert client.post("/groups/create", json=_create(5000), headers=write_h).status_code == 201


def test_the_member_cap_is_configurable(store: StateStore, write_h) -> None:
    c = TestClient(create_app(store, limits=ApiLimits(max_group_members=10)))
    resp = c.post("/groups/create", json=_create(11), headers=write_h)
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["field"] == "body.members"
    assert "at most 10" in resp.json()["detail"][0]["reason"]
    assert c.post("/groups/create", json=_create(10), headers=write_h).status_code == 201


def test_limits_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        ApiLimits(max_body_bytes=0)
    with pytest.raises(ValueError, match="max_group_members"):
        ApiLimits(max_group_members=0)


def test_limits_from_the_environment() -> None:
    env = {"HEADROOM_API_MAX_BODY_BYTES": "2048", "HEADROOM_API_MAX_GROUP_MEMBERS": "7"}
    assert ApiLimits.from_env(env) == ApiLimits(max_body_bytes=2048, max_group_members=7)
    assert ApiLimits.from_env({}) == ApiLimits()
    with pytest.raises(ValueError, match="HEADROOM_API_MAX_BODY_BYTES"):
        ApiLimits.from_env({"HEADROOM_API_MAX_BODY_BYTES": "lots"})


def test_a_body_under_the_limit_still_works(client, write_h) -> None:
    body = json.dumps(_create(3)).encode()
    assert len(body) < MIB
    sent = dict(write_h, **{"Content-Type": "application/json"})
    resp = client.post("/groups/create", content=body, headers=sent)
    assert resp.status_code == 201


def test_every_route_needing_a_token_refuses_before_reading(store: StateStore) -> None:
    app = create_app(store)
    secured = [
        (method.upper(), path.replace("{group_id}", "web").replace("{command_id}", "1"))
        for path, ops in app.openapi()["paths"].items()
        for method, op in ops.items()
        if op.get("security")
    ]
    assert len(secured) == 12
    for method, path in secured:
        answer = call(app, method, path, zeros(BIG, chunk=MIB))
        assert (answer.status, answer.pulled) == (401, 0), (method, path)


def test_serve_reads_the_limits_from_the_environment(monkeypatch, capsys) -> None:
    import typer

    from reconciler.api.cli import api_limits

    monkeypatch.setenv("HEADROOM_API_MAX_BODY_BYTES", "4096")
    assert api_limits() == ApiLimits(max_body_bytes=4096)
    monkeypatch.setenv("HEADROOM_API_MAX_GROUP_MEMBERS", "0")
    with pytest.raises(typer.Exit) as caught:
        api_limits()
    assert caught.value.exit_code == 2
    assert "max_group_members must be 1 to 100000, got 0" in capsys.readouterr().err
