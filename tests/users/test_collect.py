"""collect_requests: log objects -> history, each once, rejects kept, users counted."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from policies.users import TenantKey, UsersPolicy
from providers.base import RequestLogProvider
from providers.models import (
    NetworkInterface,
    ProviderName,
    RejectedRecord,
    RequestChunk,
    RequestLogKind,
    Resource,
    TimeWindow,
)
from reconciler.history import HistoryStore
from reconciler.users.collect import collect_requests
from reconciler.users.identity import hash_tenant
from tests.users.frames import T0, at, record, records

WINDOW = TimeWindow(start=T0, end=T0 + timedelta(hours=1))
INVENTORY = [
    Resource(
        id="i-a",
        provider=ProviderName.AWS,
        account="1",
        region="us-east-1",
        interfaces=(NetworkInterface(id="eni-a", private_ips=("10.0.0.1",)),),
    )
]


class Logs:
    """A request-log provider serving fixed chunks; records what it was asked."""

    def __init__(self, *chunks: RequestChunk) -> None:
        self.chunks = chunks
        self.calls: list[tuple[TimeWindow, str | None]] = []
        self.edges: list[Mapping[str, str] | None] = []

    def request_records(
        self,
        window: TimeWindow,
        tenant_field: str | None = None,
        edge_regions: Mapping[str, str] | None = None,
    ) -> Iterator[RequestChunk]:
        self.calls.append((window, tenant_field))
        self.edges.append(edge_regions)
        yield from self.chunks


def _chunks() -> tuple[RequestChunk, RequestChunk]:
    alb = RequestChunk(
        "s3://logs/alb/1.log.gz#e1",
        RequestLogKind.ALB,
        records(
            record(ts=at(1), path="/acme/api/a", query="secret=1"),
            record(ts=at(2), path="/globex/api/b"),
            record(ts=None, path="/acme/api/c"),
            record(ts=at(3), path="/"),
        ),
        [RejectedRecord("s3://logs/alb/1.log.gz#e1", 9, "x y", "bad field count: 2 of 29")],
    )
    edge = RequestChunk(
        "s3://logs/cf/1.gz#e1",
        RequestLogKind.CLOUDFRONT,
        records(record(ts=at(4), log_kind="cloudfront", cache_result="Hit", target_ip=None)),
    )
    return alb, edge


def test_collect_stores_each_object_once_and_counts(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("H15_COLLECT_SALT", "k1")
    store = HistoryStore(str(tmp_path / "h"))
    policy = UsersPolicy(salt_env="H15_COLLECT_SALT", sample_rate=1.0)
    provider = Logs(*_chunks())
    assert isinstance(provider, RequestLogProvider)
    report = collect_requests(provider, store, WINDOW, policy, INVENTORY)
    assert provider.calls == [(WINDOW, None)]
    assert (report.objects, report.skipped, report.requests, report.rejected) == (2, 0, 4, 2)
    assert dict(report.rejected_by_reason) == {"bad field count": 1, "no timestamp": 1}
    assert report.users == 2  # acme and globex; anonymous is not counted
    assert report.summary() == {
        "request_objects": 2,
        "request_objects_skipped": 0,
        "requests": 4,
        "requests_rejected": 2,
        "request_users": 2,
    }
    stored = store.scan_requests().collect()
    assert stored.get_column("requests").sum() == 4
    acme = hash_tenant("acme", b"k1")
    mine = stored.filter(pl.col("user") == acme).sort("log_kind")
    assert mine.select("log_kind", "resource_id").rows() == [("alb", "i-a"), ("cloudfront", None)]
    quarantined = store.quarantine()
    assert "acme" not in " ".join(quarantined.get_column("raw").to_list())
    accesses = store.scan_accesses().collect()
    assert accesses.height == 4 and not any("acme" in o for o in accesses["object"])
    again = collect_requests(provider, store, WINDOW, policy, INVENTORY)
    assert (again.objects, again.skipped, again.requests, again.users) == (2, 2, 0, 0)
    assert store.scan_requests().collect().get_column("requests").sum() == 4


def test_a_field_key_is_asked_of_the_provider(tmp_path: Path) -> None:
    store = HistoryStore(str(tmp_path / "h"))
    chunk = RequestChunk(
        "s3://logs/cf/2.gz#e1",
        RequestLogKind.CLOUDFRONT,
        records(record(log_kind="cloudfront", tenant_raw="acme"), record(log_kind="cloudfront")),
    )
    provider = Logs(chunk)
    policy = UsersPolicy(
        tenant_key=TenantKey(source="field", name="cs(Cookie)"), edge_regions={"XYZ": "eu-west-1"}
    )
    report = collect_requests(provider, store, WINDOW, policy, [])
    assert provider.calls == [(WINDOW, "cs(Cookie)")]
    assert provider.edges == [{"XYZ": "eu-west-1"}]  # the policy's edge codes reach the parser
    assert report.users == 1


def test_an_unstorable_object_is_quarantined_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = HistoryStore(str(tmp_path / "h"))
    import reconciler.users.collect as collect

    def broken(*_: object) -> pl.DataFrame:
        raise pl.exceptions.ComputeError("boom")

    monkeypatch.setattr(collect, "request_buckets", broken)
    alb, _ = _chunks()
    report = collect_requests(Logs(alb), store, WINDOW, UsersPolicy(), INVENTORY)
    assert report.requests == 0 and report.rejected == 5
    assert report.rejected_by_reason["unstorable object"] == 3
    assert store.is_ingested(alb.source)
