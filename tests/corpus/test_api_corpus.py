"""Every hostile API request in ``tests/corpus/api`` (see ``cases.json``) against the real app:
the expected 4xx, never a 5xx, never a 2xx without a valid token (whose body is then never
read), and an error body that names the field (issue 13, findings 7-9). Run on SQLite and,
when ``HEADROOM_TEST_POSTGRES_URL`` is set, on PostgreSQL.

Each case gives ``method``, ``path`` (percent-encoded, with any query), ``auth`` (``none``,
``unknown``, ``read`` or ``write``), extra ``headers``, a body (``body``: JSON; ``raw``: text
sent as is; ``generate``: a generator below, made lazily) and ``expect``; ``field`` is the
field the 422 must name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.api import create_app, issue_token
from reconciler.state import StateStore
from tests.api.asgi import Answer, call, zeros
from tests.api.backends import any_store_fixture  # noqa: F401
from tests.api.conftest import T0, seeded_template  # noqa: F401
from tests.corpus.bounded import within

HERE = Path(__file__).parent / "api"
CASES: list[dict[str, Any]] = json.loads((HERE / "cases.json").read_text())
UNKNOWN = "hr_0123456789ab_" + "x" * 32
CHUNK = 64 * 1024


def _members(count: int) -> Iterator[bytes]:
    ids = ", ".join(f'"i-{i:017x}"' for i in range(count))
    yield f'{{"name": "big", "members": [{ids}], "pinned_gbps": 1}}'.encode()


def _nested(depth: int) -> Iterator[bytes]:
    yield b"[" * depth + b"]" * depth


def _invalid_utf8() -> Iterator[bytes]:
    yield b'{"name": "\xff\xfe"}'


GENERATORS: dict[str, Callable[..., Iterator[bytes]]] = {
    "spaces": lambda size: zeros(size, CHUNK),
    "members": _members,
    "nested": _nested,
    "invalid_utf8": _invalid_utf8,
}


def _body(case: dict[str, Any]) -> tuple[Iterator[bytes], int | None]:
    """The body's chunks and, when the case declares it, its length."""
    if "generate" in case:
        spec = dict(case["generate"])
        chunks = GENERATORS[spec.pop("name")](**spec)
        return chunks, spec.get("size")
    if "raw" in case:
        data = case["raw"].encode()
    elif "body" in case:
        data = json.dumps(case["body"]).encode()
    else:
        return iter(()), 0
    return iter([data]), len(data)


def _headers(case: dict[str, Any], store: StateStore, length: int | None) -> dict[str, str]:
    headers: dict[str, str] = {"Content-Type": "application/json"}
    if case["auth"] in ("read", "write"):
        _, token = issue_token(store, name=case["auth"], scope=case["auth"], at=T0)
        headers["Authorization"] = f"Bearer {token}"
    elif case["auth"] == "unknown":
        headers["Authorization"] = f"Bearer {UNKNOWN}"
    if case.get("declare_length") and length is not None:
        headers["Content-Length"] = str(length)
    headers.update(case.get("headers", {}))
    return headers


def _fields(answer: Answer) -> list[str]:
    detail = answer.json()["detail"]
    return [e["field"] for e in detail] if isinstance(detail, list) else []


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_hostile_request_is_refused_with_the_field(
    case: dict[str, Any], any_store: StateStore
) -> None:
    app = create_app(any_store)
    chunks, length = _body(case)
    headers = _headers(case, any_store, length)
    with within(20):
        answer = call(app, case["method"], case["path"], chunks, headers)
    assert answer.status < 500, answer.body[:500]
    assert answer.status == case["expect"], answer.body[:500]
    if case["auth"] in ("none", "unknown"):
        assert not 200 <= answer.status < 300
        assert answer.pulled == 0 or answer.status in (404, 405), "read a body without a token"
    detail = answer.json()["detail"]
    assert detail, answer.body
    if "field" in case:
        field = case["field"]
        found = _fields(answer)
        assert any(f == field or f.startswith(f"{field}.") for f in found), found
        assert all(e["reason"] for e in detail)
    else:
        assert isinstance(detail, str) and detail.strip()
