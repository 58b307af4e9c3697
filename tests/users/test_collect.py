"""collect_requests: log objects -> history, each once, rejects kept, users counted."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

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

    monkeypatch.setattr(collect, "buckets_by_source", broken)  # the batch fails...
    monkeypatch.setattr(collect, "request_buckets", broken)  # ...and the object alone too
    alb, _ = _chunks()
    report = collect_requests(Logs(alb), store, WINDOW, UsersPolicy(), INVENTORY)
    assert report.requests == 0 and report.rejected == 5
    assert report.rejected_by_reason["unstorable object"] == 3
    assert store.is_ingested(alb.source)


def _many(n: int, classes: int) -> list[RequestChunk]:
    """``n`` objects, each with ``classes`` request classes used a different number of times
    (more than MAX_CLASSES: the bounded classes differ from object to object)."""
    out = []
    for i in range(n):
        source = f"s3://logs/alb/{i}.gz#e"
        rows = [
            record(
                source=source,
                ts=at(i + j % 7),
                path=f"/t{j % 3}/c{(j + i) % classes}/x{j % 5}",
                latency_ms=float(j % 40) + 0.1 * i,
            )
            for j in range(3 * classes)
            for _ in range(1 + (j + i) % 4)
        ]
        out.append(RequestChunk(source, RequestLogKind.ALB, records(*rows)))
    return out


def test_a_batch_stores_what_each_object_alone_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reconciler.users.collect as collect

    chunks = _many(5, 40)
    policy = UsersPolicy(sample_rate=0.5)
    together = HistoryStore(str(tmp_path / "together"))
    report = collect_requests(Logs(*chunks), together, WINDOW, policy, INVENTORY)
    monkeypatch.setattr(collect, "BATCH_OBJECTS", 1)
    alone = HistoryStore(str(tmp_path / "alone"))
    one = collect_requests(Logs(*chunks), alone, WINDOW, policy, INVENTORY)
    assert report.summary() == one.summary() and report.requests == sum(
        c.records.height for c in chunks
    )
    for scan in (HistoryStore.scan_requests, HistoryStore.scan_accesses):
        got, want = scan(together).collect(), scan(alone).collect()
        assert got.height > 0
        # float sums (latency, origin time) may differ in the last bit: a group's sum depends
        # on how Polars splits the rows over its threads, alone as well (1 vs 2 threads);
        # every other column is the same bit for bit
        floats = [c for c, t in got.schema.items() if t == pl.Float64]
        assert got.drop(floats).equals(want.drop(floats))
        assert_frame_equal(got.select(floats), want.select(floats), rel_tol=1e-12, abs_tol=0)
    assert got.get_column("object").n_unique() > 1  # sampled accesses of several objects
    classes = together.scan_requests().collect().get_column("request_class")
    assert "other" in classes.to_list()  # each object kept only its own most frequent


def test_a_failed_batch_quarantines_only_the_unstorable_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reconciler.users.collect as collect

    good, bad = _many(2, 3)
    real = collect.request_buckets

    def fussy(identified: pl.DataFrame, addresses: Mapping[str, str]) -> pl.DataFrame:
        if "1.gz" in identified.get_column("source")[0]:
            raise pl.exceptions.ComputeError("boom")
        return real(identified, addresses)

    def broken(*_: object) -> dict[str, pl.DataFrame]:
        raise pl.exceptions.ComputeError("boom")

    monkeypatch.setattr(collect, "buckets_by_source", broken)
    monkeypatch.setattr(collect, "request_buckets", fussy)
    store = HistoryStore(str(tmp_path / "h"))
    report = collect_requests(Logs(good, bad), store, WINDOW, UsersPolicy(), INVENTORY)
    assert report.requests == good.records.height
    assert report.rejected_by_reason == {"unstorable object": bad.records.height}
    assert store.is_ingested(good.source) and store.is_ingested(bad.source)


def test_objects_read_before_a_provider_error_are_stored(tmp_path: Path) -> None:
    first, second = _many(2, 3)

    class Failing(Logs):
        def request_records(
            self,
            window: TimeWindow,
            tenant_field: str | None = None,
            edge_regions: Mapping[str, str] | None = None,
        ) -> Iterator[RequestChunk]:
            yield first
            raise RuntimeError("AccessDenied on the next object")

    store = HistoryStore(str(tmp_path / "h"))
    with pytest.raises(RuntimeError, match="AccessDenied"):
        collect_requests(Failing(), store, WINDOW, UsersPolicy(), INVENTORY)
    assert store.is_ingested(first.source) and not store.is_ingested(second.source)
    assert store.scan_requests().collect().get_column("requests").sum() == first.records.height
