"""Issue 12, finding 7: the OpenAPI document matches what the API really answers.

After two real cycles have written state, every operation in the document is called (successes
and the errors it documents), and each real response is checked against the document with
schemathesis: the status code is documented, the content type and the body match its schema.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from reconciler.api import create_app, issue_token
from reconciler.clock import SimulatedClock
from reconciler.state import CommandRecord, StateStore
from tests.api.cycled import CYCLED_AT, cycled_db_fixture, cycled_store_fixture  # noqa: F401

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


class Caller:
    """Calls the app and validates each response against the operation it documents."""

    def __init__(self, client: TestClient, schema: Any) -> None:
        self.client = client
        self.schema = schema
        self.seen: set[tuple[str, str]] = set()
        self.statuses: list[tuple[str, str, int]] = []

    def __call__(
        self,
        method: str,
        template: str,
        expect: int,
        *,
        path: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> Any:
        url = template.format(**{k: quote(str(v), safe="") for k, v in (path or {}).items()})
        if content is not None:
            headers = dict(headers or {}, **{"Content-Type": "application/json"})
        resp = self.client.request(
            method, url, params=query, json=body, content=content, headers=headers
        )
        assert resp.status_code == expect, (method, url, resp.status_code, resp.text)
        operation = self.schema[template][method.upper()]
        sent: dict[str, Any] = {"body": body, "media_type": "application/json"} if body else {}
        case = operation.Case(
            path_parameters=path or {}, query=query or {}, headers=headers or {}, **sent
        )
        case.validate_response(resp, checks=CHECKS)
        self.seen.add((method.upper(), template))
        self.statuses.append((method.upper(), template, resp.status_code))
        return resp.json()


@pytest.fixture
def caller(cycled_store: StateStore) -> Any:
    app = create_app(cycled_store, clock=SimulatedClock(CYCLED_AT))
    schema = schemathesis.openapi.from_dict(app.openapi())
    with TestClient(app) as client:
        yield Caller(client, schema)


def _token(store: StateStore, scope: str) -> dict[str, str]:
    _, token = issue_token(store, name=scope, scope=scope, at=CYCLED_AT)
    return {"Authorization": f"Bearer {token}"}


def test_every_operation_answers_as_documented(caller: Caller, cycled_store: StateStore) -> None:
    store = cycled_store
    r, w = _token(store, "read"), _token(store, "write")
    call = caller

    call("get", "/healthz", 200)
    groups = call("get", "/groups", 200, headers=r)
    assert groups, "the cycles formed no group"
    everything = {"kind": "discovered", "include_dissolved": "true"}
    call("get", "/groups", 200, query=everything, headers=r)
    call("get", "/groups", 401)
    call("get", "/groups", 401, headers={"Authorization": "Bearer not-a-token"})
    allocated, scored = [], []
    for g in groups:
        gid = {"group_id": g["id"]}
        call("get", "/groups/{group_id}", 200, path=gid, headers=r)
        bw = call("get", "/groups/{group_id}/bandwidth", 200, path=gid, headers=r)
        if bw["pool"] is not None:
            allocated.append(g["id"])
        metrics = call("get", "/metrics/group/{group_id}", 200, path=gid, headers=r)
        if metrics["accuracy"] and metrics["forecasts"]:
            scored.append(g["id"])
        call("get", "/metrics/group/{group_id}", 200, path=gid, query={"history": 1}, headers=r)
    assert allocated, "no group has an allocation: the bandwidth schema went unchecked"
    assert scored, "the second cycle scored no forecast: the accuracy schema went unchecked"
    nope = {"group_id": "nope"}
    call("get", "/groups/{group_id}", 404, path=nope, headers=r)
    call("get", "/groups/{group_id}/bandwidth", 404, path=nope, headers=r)
    call("get", "/metrics/group/{group_id}", 404, path=nope, headers=r)
    call("get", "/metrics/group/{group_id}", 422, path=nope, query={"history": 0}, headers=r)
    call("get", "/groups/{group_id}", 422, path={"group_id": "a\x00b"}, headers=r)
    call("get", "/groups/{group_id}/bandwidth", 422, path={"group_id": "x" * 65}, headers=r)
    call("get", "/groups", 422, query={"kind": "bogus"}, headers=r)
    top = call("get", "/metrics/global", 200, headers=r)
    assert call("get", "/users/groups", 200, headers=r) == []  # the cycles read no request logs
    call("get", "/users/groups", 401)
    user = "/metrics/users/{group_id}"  # a recorded group's 200: tests/api/test_users_api.py
    call("get", user, 404, path={"group_id": "ug-none"}, headers=r)
    call("get", user, 422, path={"group_id": "x" * 65}, headers=r)
    assert top["global_pool"] is not None and top["regions"]

    first = {"group_id": allocated[0]}
    call("put", "/groups/{group_id}/bandwidth", 403, path=first, body={"gbps": 0.1}, headers=r)
    call("put", "/groups/{group_id}/bandwidth", 200, path=first, body={"gbps": 0.01}, headers=w)
    call("put", "/groups/{group_id}/bandwidth", 409, path=first, body={"gbps": 9e5}, headers=w)
    call("put", "/groups/{group_id}/bandwidth", 422, path=first, body={"gbps": -1}, headers=w)
    call("put", "/groups/{group_id}/bandwidth", 404, path=nope, body={"gbps": 1}, headers=w)
    named = "/groups/{group_id}/name"
    call("put", named, 403, path=first, body={"name": "renamed"}, headers=r)
    assert call("put", named, 200, path=first, body={"name": "renamed"}, headers=w)["name"]
    call("put", named, 409, path={"group_id": allocated[1]}, body={"name": "renamed"}, headers=w)
    call("put", named, 422, path=first, body={"name": ""}, headers=w)
    call("put", named, 404, path=nope, body={"name": "x"}, headers=w)
    call("put", named, 401, path=first, body={"name": "x"})
    call("put", named, 413, path=first, content=b'{"name": "' + b"x" * 2**20 + b'"}', headers=w)
    call("put", named, 400, path=first, content=b'{"name": "\xff"}', headers=w)

    made = {"name": "checkout", "members": ["i-x"], "pinned_gbps": 0.1}
    call("post", "/groups/create", 201, body=made, headers=w)
    call("post", "/groups/create", 409, body=made, headers=w)
    call("post", "/groups/create", 422, body={"name": "x"}, headers=w)
    call("post", "/groups/create", 422, body={**made, "name": "a\x00"}, headers=w)
    call("post", "/groups/create", 413, content=b" " * (2**20 + 1), headers=w)

    run = store.recent_runs(1)[0]
    (waiting,) = store.save_commands(
        run.id,
        CYCLED_AT,
        [CommandRecord(kind="resize", target="i-x", reason="test", status="needs_approval")],
    )
    listed = call("get", "/commands", 200, headers=r)
    assert any(c["kind"].startswith("remediate.") for c in listed), "no remediation recorded"
    call("get", "/commands", 200, query={"status": "needs_approval", "limit": 5}, headers=r)
    call("get", "/commands", 422, query={"status": "bogus"}, headers=r)
    approve = "/commands/{command_id}/approve"
    call("post", approve, 200, path={"command_id": waiting}, headers=w)
    call("post", approve, 409, path={"command_id": waiting}, headers=w)
    call("post", approve, 404, path={"command_id": 10**9}, headers=w)
    call("post", approve, 422, path={"command_id": "x"}, headers=w)
    call("post", approve, 422, path={"command_id": 2**63}, headers=w)
    call("post", approve, 403, path={"command_id": waiting}, headers=r)

    documented = {
        (method.upper(), path)
        for path, ops in call.schema.raw_schema["paths"].items()
        for method in ops
    }
    assert documented - call.seen == set(), "operations never called"


CONFLICTS = {
    ("post", "/groups/create"),
    ("put", "/groups/{group_id}/bandwidth"),
    ("put", "/groups/{group_id}/name"),
    ("post", "/commands/{command_id}/approve"),
}
MODELS = {
    "400": "ErrorOut",
    "401": "ErrorOut",
    "403": "ErrorOut",
    "404": "ErrorOut",
    "409": "RefusedOut",
    "413": "ErrorOut",
    "422": "ValidationErrorOut",
}


def _expected_errors(method: str, path: str, op: dict[str, Any]) -> set[str]:
    expected = set()
    if op.get("security"):
        expected |= {"401", "403"}
    if "{" in path:
        expected |= {"404", "422"}
    if op.get("parameters"):
        expected.add("422")
    if "requestBody" in op:
        expected |= {"400", "413", "422"}
    if (method, path) in CONFLICTS:
        expected.add("409")
    return expected


def test_every_operation_documents_its_error_responses_with_their_bodies(
    cycled_store: StateStore,
) -> None:
    doc = create_app(cycled_store).openapi()
    checked = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            responses = op["responses"]
            errors = {code for code in responses if code.startswith("4")}
            assert errors == _expected_errors(method, path, op), (method, path)
            for code in errors:
                schema = responses[code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": f"#/components/schemas/{MODELS[code]}"}, (path, code)
                assert responses[code]["description"], (path, code)
            checked += len(errors)
    assert checked == 51  # 13 operations
    assert "HTTPValidationError" not in doc["components"]["schemas"]
