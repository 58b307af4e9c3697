"""Request records -> 5-minute buckets with latency histograms, and the SHARDS-sampled stream."""

from __future__ import annotations

import polars as pl

from policies.users import TenantKey
from providers.models import NetworkInterface, ProviderName, Resource
from reconciler.users.aggregate import (
    address_map,
    object_hash,
    request_buckets,
    sample_accesses,
)
from reconciler.users.identity import hash_tenant, identify
from reconciler.users.models import (
    ACCESS_SCHEMA,
    ANONYMOUS,
    LATENCY_EDGES_MS,
    REQUEST_BUCKET_SCHEMA,
)
from tests.users.frames import at, record, records

KEY = b"k"


def _identified(*rows: dict[str, object]) -> pl.DataFrame:
    return identify(records(*rows), TenantKey(), KEY)


def test_address_map_reads_private_ips_of_every_interface() -> None:
    a = Resource(
        id="i-a",
        provider=ProviderName.AWS,
        account="1",
        region="us-east-1",
        interfaces=(
            NetworkInterface(id="eni-1", private_ips=("10.0.0.1", "10.0.0.2")),
            NetworkInterface(id="eni-2", private_ips=("10.0.1.1",), public_ips=("3.3.3.3",)),
        ),
    )
    b = Resource(
        id="i-b",
        provider=ProviderName.AWS,
        account="1",
        region="us-east-1",
        interfaces=(NetworkInterface(id="eni-3", private_ips=("10.0.0.1",)),),
    )
    assert address_map([a, b]) == {"10.0.0.1": "i-a", "10.0.0.2": "i-a", "10.0.1.1": "i-a"}


def test_buckets_sum_per_five_minutes_with_histograms_hits_and_errors() -> None:
    frame = _identified(
        record(ts=at(0), latency_ms=0.5, bytes_out=100),
        record(ts=at(1), latency_ms=10.0, bytes_out=200, status=503),
        record(ts=at(4.9), latency_ms=45_000.0, bytes_out=300, origin_ms=None),
        record(ts=at(2), latency_ms=None, target_ip="10.9.9.9"),  # unknown target, latency
        record(ts=at(6), latency_ms=10.5),  # next bucket
        record(
            ts=at(3),
            log_kind="cloudfront",
            client_region="eu-west-1",
            target_ip=None,
            origin_ms=None,
            cache_result="RefreshHit",
            latency_ms=30.0,
        ),
        record(
            ts=at(3), log_kind="cloudfront", target_ip=None, origin_ms=None, cache_result="Miss"
        ),
        record(ts=at(3), path="/", method="GET"),  # anonymous
    )
    out = request_buckets(frame, {"10.0.0.1": "i-a"})
    assert out.schema == pl.Schema(REQUEST_BUCKET_SCHEMA)
    acme = hash_tenant("acme", KEY)
    first = out.filter(
        (pl.col("ts") == at(0)) & (pl.col("log_kind") == "alb") & (pl.col("resource_id") == "i-a")
    ).filter(pl.col("user") == acme)
    row = first.row(0, named=True)
    assert (row["requests"], row["bytes_out"], row["errors"]) == (3, 600, 1)
    assert row["latency_count"] == 3 and row["latency_sum_ms"] == 45_010.5
    hist = row["latency_hist"]
    assert len(hist) == len(LATENCY_EDGES_MS) + 1 and sum(hist) == 3
    assert hist[0] == 1  # 0.5 ms <= 1 ms
    assert hist[LATENCY_EDGES_MS.index(10)] == 1  # an edge's value belongs to that bucket
    assert hist[-1] == 1  # past 30 s: the open bucket
    assert row["origin_ms_sum"] == 20.0
    unresolved = out.filter(pl.col("resource_id").is_null() & (pl.col("log_kind") == "alb"))
    assert unresolved.row(0, named=True)["latency_count"] == 0
    assert sum(unresolved.row(0, named=True)["latency_hist"]) == 0
    later = out.filter(pl.col("ts") == at(5))
    assert later.get_column("latency_hist").to_list()[0][LATENCY_EDGES_MS.index(15)] == 1
    edge = out.filter(pl.col("log_kind") == "cloudfront")
    assert edge.get_column("hits").sum() == 1 and edge.get_column("requests").sum() == 2
    assert out.filter(pl.col("user") == ANONYMOUS).get_column("requests").sum() == 1
    assert out.get_column("requests").sum() == 8


def test_object_hash_is_stable_blake2b() -> None:
    assert object_hash("a.example.com/x") == object_hash("a.example.com/x")
    assert 0 <= object_hash("anything") < 1
    # a fixed value: stored samples depend on it, so it must not change across versions
    assert object_hash("app.example.com/{tenant}/api/items") == 0.6108218891228505


def test_sampling_keeps_every_access_of_a_kept_object_and_about_rate_of_objects() -> None:
    rows = []
    for i in range(2000):
        for j in range(1 + i % 3):
            rows.append(record(ts=at(j), path=f"/acme/obj/{i}"))
    rows.append(record(method="POST", path="/acme/obj/1"))  # not cacheable: never an access
    frame = _identified(*rows)
    out = sample_accesses(frame, 0.1)
    assert out.schema == pl.Schema(ACCESS_SCHEMA)
    objects = out.get_column("object").unique().to_list()
    assert 150 <= len(objects) <= 250  # ~10 % of 2000
    for obj in objects:
        i = int(obj.rsplit("/", 1)[1])
        assert out.filter(pl.col("object") == obj).height == 1 + i % 3
        assert object_hash(obj) < 0.1
        assert obj.startswith("app.example.com/{tenant}/obj/")
    assert out.get_column("hit").null_count() == out.height  # ALB rows: not a cache
    assert sample_accesses(frame, 1.0).height == sum(1 + i % 3 for i in range(2000))
    assert out.get_column("ts").is_sorted()


def test_cloudfront_accesses_carry_hits() -> None:
    frame = _identified(
        record(log_kind="cloudfront", cache_result="Hit", path="/acme/a"),
        record(log_kind="cloudfront", cache_result="Miss", path="/acme/a"),
        record(log_kind="cloudfront", cache_result=None, path="/acme/a"),
    )
    assert sample_accesses(frame, 1.0).get_column("hit").to_list() == [True, False, False]
