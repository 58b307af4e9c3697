"""Issue 13, finding 8: junk requests cannot grow the Prometheus registry or the read cache.

Request metrics are labelled with known methods and route templates only (anything else is
``other`` / ``unmatched``); the read cache is keyed on the validated parameters, not the raw
query string, and bounded by entries and bytes.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from reconciler.api import create_app
from reconciler.api.cache import ResponseCache
from reconciler.api.metrics import KNOWN_METHODS
from reconciler.state import StateStore

JUNK = 1000


def _series(client: TestClient) -> set[tuple[str, str]]:
    metrics = client.app.state.metrics  # type: ignore[attr-defined]
    found: set[tuple[str, str]] = set()
    for family in metrics.registry.collect():
        if family.name.startswith("headroom_http_"):
            for sample in family.samples:
                found.add((sample.labels["method"], sample.labels["route"]))
    return found


def _sample_count(client: TestClient) -> int:
    metrics = client.app.state.metrics  # type: ignore[attr-defined]
    return sum(
        len(family.samples)
        for family in metrics.registry.collect()
        if family.name.startswith("headroom_http_")
    )


def test_junk_methods_and_paths_create_no_new_series(client: TestClient, read_h) -> None:
    client.get("/groups", headers=read_h)
    client.get("/nowhere")
    baseline = _sample_count(client)
    for i in range(JUNK):
        client.request(f"X{i:04d}", "/groups", headers=read_h)
        client.request(f"J{i:04d}", f"/junk/{i}")
        client.get(f"/junk/{i}?a={i}")
    series = _series(client)
    methods = {m for m, _ in series}
    routes = {r for _, r in series}
    assert methods <= set(KNOWN_METHODS) | {"other"}
    assert routes <= {"/groups", "unmatched"}
    # 3,000 junk requests added one method label and a few status codes: tens of samples
    assert _sample_count(client) - baseline < 60, sorted(series)


def test_junk_queries_share_one_cache_entry(client: TestClient, read_h) -> None:
    cache = client.app.state.ctx.cache  # type: ignore[attr-defined]
    for i in range(JUNK):
        assert client.get(f"/groups?junk{i}={i}", headers=read_h).status_code == 200
        client.get(f"/metrics/global?x={'y' * (i % 50)}&i={i}", headers=read_h)
        client.get(f"/groups/web?cachebust={i}", headers=read_h)
    assert len(cache) == 3
    assert cache.hits >= 3 * JUNK - 3


def test_valid_but_many_parameters_stay_within_the_bounds(store: StateStore, read_h) -> None:
    c = TestClient(create_app(store, response_cache_size=50, response_cache_bytes=200_000))
    cache = c.app.state.ctx.cache  # type: ignore[attr-defined]
    for i in range(1, JUNK + 1):
        assert c.get(f"/metrics/group/web?history={i}", headers=read_h).status_code == 200
    assert len(cache) <= 50 and cache.bytes <= 200_000


def test_an_unknown_group_kind_is_a_422_not_a_new_entry(client: TestClient, read_h) -> None:
    resp = client.get("/groups?kind=bogus", headers=read_h)
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["field"] == "query.kind"


def test_the_cache_is_bounded_by_bytes_too() -> None:
    cache = ResponseCache(max_entries=100, max_bytes=10)
    for key in ("a", "b", "c"):
        cache.put((key,), 1, b"1234")
    assert cache.bytes <= 10 and len(cache) == 2
    assert cache.get(("a",), 1) is None and cache.get(("c",), 1) == b"1234"
    cache.put(("huge",), 1, b"x" * 11)  # larger than the whole cache: not kept
    assert cache.get(("huge",), 1) is None and cache.bytes <= 10


def test_the_kinds_the_api_accepts_are_the_kinds_the_store_knows() -> None:
    from typing import get_args

    from reconciler.api.schemas import GroupKind
    from reconciler.state.models import GROUP_KINDS

    assert get_args(GroupKind) == GROUP_KINDS
