from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from reconciler.api import create_app
from reconciler.api.cache import ResponseCache
from reconciler.state import GroupEventRecord, StateStore
from tests.api.conftest import T0


def test_reads_are_served_from_cache_until_the_state_changes(
    client: TestClient, store: StateStore, read_h
) -> None:
    cache = client.app.state.ctx.cache  # type: ignore[attr-defined]
    first = client.get("/metrics/group/web", headers=read_h).json()
    assert client.get("/metrics/group/web", headers=read_h).json() == first
    assert cache.hits == 1
    # another process (here: the store directly) records an event: the next read sees it
    store.save_composition(T0, [], [GroupEventRecord("web", "grew", "i-9 joined", T0)])
    fresh = client.get("/metrics/group/web", headers=read_h).json()
    assert [e["kind"] for e in fresh["events"]] == ["grew", "formed"]
    assert cache.hits == 1


def test_query_strings_are_cached_separately_and_404s_are_not(client, read_h) -> None:
    short = client.get("/metrics/group/web", params={"history": 1}, headers=read_h).json()
    full = client.get("/metrics/group/web", headers=read_h).json()
    assert len(short["traffic"]) == 1 and len(full["traffic"]) == 2
    assert client.get("/groups/nope", headers=read_h).status_code == 404
    assert client.get("/groups/nope", headers=read_h).status_code == 404


def test_cache_can_be_turned_off(store: StateStore, read_h) -> None:
    c = TestClient(create_app(store, response_cache_size=0))
    assert c.app.state.ctx.cache is None  # type: ignore[attr-defined]
    assert c.get("/metrics/global", headers=read_h).status_code == 200


def test_response_cache_is_a_bounded_lru() -> None:
    cache = ResponseCache(max_entries=2)
    cache.put(("a",), 1, b"A")
    cache.put(("b",), 1, b"B")
    assert cache.get(("a",), 1) == b"A"  # a is now the most recent
    cache.put(("c",), 1, b"C")
    assert cache.get(("b",), 1) is None and cache.get(("a",), 1) == b"A" and len(cache) == 2
    assert cache.get(("a",), 2) is None  # another state version
    with pytest.raises(ValueError, match="at least 1"):
        ResponseCache(0)
