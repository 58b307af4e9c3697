"""Issue 13, finding 9: hostile ids and strings are a 422 naming the field, never a 500.

NUL and other control characters in path ids or body strings never reach the database
(PostgreSQL refuses NUL in text: a 500 before); integer ids past 2^63 - 1 are refused before
SQLite sees them (an OverflowError, a 500, before). Run on SQLite and, when
``HEADROOM_TEST_POSTGRES_URL`` is set, on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from reconciler.api import create_app, issue_token
from reconciler.state import StateStore
from tests.api.backends import any_store_fixture  # noqa: F401
from tests.api.conftest import T0

MAX = 2**63 - 1
GROUP_PATHS = ["/groups/{}", "/groups/{}/bandwidth", "/metrics/group/{}"]


@pytest.fixture
def api(any_store: StateStore) -> Iterator[tuple[TestClient, dict[str, str]]]:
    _, token = issue_token(any_store, name="w", scope="write", at=T0)
    with TestClient(create_app(any_store), raise_server_exceptions=False) as c:
        yield c, {"Authorization": f"Bearer {token}"}


def _field_error(resp: Any, field: str) -> dict[str, Any]:
    assert resp.status_code == 422, (resp.status_code, resp.text)
    errors = resp.json()["detail"]
    assert all(set(e) >= {"field", "reason"} for e in errors), errors
    found = [e for e in errors if e["field"] == field or e["field"].startswith(f"{field}.")]
    assert found, errors
    return found[0]


@pytest.mark.parametrize("bad", ["we\x00b", "\x00", "web\x01", "a\x7f", "a\nb", "x" * 65])
@pytest.mark.parametrize("template", GROUP_PATHS)
def test_bad_group_ids_in_paths_are_422(api, template: str, bad: str) -> None:
    client, h = api
    error = _field_error(
        client.get(template.format(quote(bad, safe="")), headers=h), "path.group_id"
    )
    assert error["reason"]


@pytest.mark.parametrize(
    ("method", "template", "body"),
    [("put", "/groups/{}/bandwidth", {"gbps": 1.0}), ("put", "/groups/{}/name", {"name": "n"})],
)
def test_bad_group_ids_in_write_paths_are_422(api, method, template, body) -> None:
    client, h = api
    resp = client.request(method, template.format("we%00b"), json=body, headers=h)
    _field_error(resp, "path.group_id")


GOOD = {"name": "ok", "members": ["i-1"], "pinned_gbps": 1.0}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "a\x00b"}, "body.name"),
        ({"name": "a\x1bb"}, "body.name"),
        ({"members": ["i-1", "i-\x002"]}, "body.members.1"),
        ({"members": ["i-" + "9" * 200]}, "body.members.0"),
        ({"policy_class": "gold\x00", "pinned_gbps": None}, "body.policy_class"),
        ({"tag_selector": {"team\x00": "a"}}, "body.tag_selector"),
        ({"tag_selector": {"team": "a\x00"}}, "body.tag_selector.team"),
        ({"name": "\ud800"}, "body.name"),
    ],
)
def test_bad_strings_in_a_new_group_are_422(api, change: dict[str, Any], field: str) -> None:
    client, h = api
    sent = dict(h, **{"Content-Type": "application/json"})  # json.dumps escapes a lone surrogate
    resp = client.post("/groups/create", content=json.dumps({**GOOD, **change}), headers=sent)
    error = _field_error(resp, field)
    assert error["reason"]


def test_bad_reasons_are_422(api) -> None:
    client, h = api
    resp = client.put("/groups/web/name", json={"name": "n", "reason": "x\x00"}, headers=h)
    _field_error(resp, "body.reason")
    resp = client.put("/groups/web/bandwidth", json={"gbps": 1, "reason": "\x00"}, headers=h)
    _field_error(resp, "body.reason")


def test_a_reason_may_span_lines(api) -> None:
    client, h = api
    resp = client.put("/groups/web/name", json={"name": "n", "reason": "a\n\tb"}, headers=h)
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_422(api, raw: str) -> None:
    client, h = api
    sent = dict(h, **{"Content-Type": "application/json"})
    resp = client.put("/groups/web/bandwidth", content=f'{{"gbps": {raw}}}', headers=sent)
    _field_error(resp, "body.gbps")
    body = f'{{"name": "x", "members": ["i-1"], "pinned_gbps": {raw}}}'
    resp = client.post("/groups/create", content=body, headers=sent)
    _field_error(resp, "body.pinned_gbps")


@pytest.mark.parametrize("command_id", [2**31, MAX, MAX + 1, 2**64, 10**30, -1, 0])
def test_command_ids_out_of_range_are_422(api, command_id: int) -> None:
    client, h = api
    resp = client.post(f"/commands/{command_id}/approve", headers=h)
    _field_error(resp, "path.command_id")


def test_the_largest_command_id_is_a_404(api) -> None:
    client, h = api  # command ids are 32-bit on PostgreSQL
    assert client.post(f"/commands/{2**31 - 1}/approve", headers=h).status_code == 404


@pytest.mark.parametrize("status", ["needs\x00approval", "x" * 1000])
def test_bad_command_statuses_are_422(api, status: str) -> None:
    client, h = api
    _field_error(client.get("/commands", params={"status": status}, headers=h), "query.status")


@pytest.mark.parametrize("limit", [str(MAX + 1), "1e3", "\x00"])
def test_bad_limits_are_422(api, limit: str) -> None:
    client, h = api
    _field_error(client.get("/commands", params={"limit": limit}, headers=h), "query.limit")


def test_good_ids_still_work(api) -> None:
    client, h = api
    assert client.get("/groups/web", headers=h).status_code == 200
    assert client.get("/groups/nope", headers=h).status_code == 404
    assert client.get("/groups/" + "x" * 64, headers=h).status_code == 404
