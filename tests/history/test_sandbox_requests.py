"""The sandbox's request logs: documented key layouts, every line parsed by the real parsers,
tenants in both regions, a cache that behaves like one, the popularity shift, determinism."""

from __future__ import annotations

import gzip
import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from moto import mock_aws
from pydantic import ValidationError

from providers.aws.requestsources import RequestLogSource, discover_cloudfront_sources
from providers.aws.session import AwsSessionFactory
from providers.models import RequestLogKind, TimeWindow
from reconciler.sandbox import SandboxInfo, SandboxSpec, seed_sandbox
from reconciler.sandbox_requests import RequestSpec, TenantSpec

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
SHIFT_HOURS = 3.0
SPEC = SandboxSpec(  # the default apps that get an ALB (shop: public; analytics: log-only)
    days=0.25,
    metrics=False,
    apps=[a for a in SandboxSpec().apps if a.name in ("shop", "analytics")],
    requests=RequestSpec(shift_hours=SHIFT_HOURS, requests_per_minute=60, ttl_hours=1),
)
TENANTS = {t.name for t in RequestSpec().tenants}

_ALB_KEY = re.compile(
    r"^alb/AWSLogs/123456789012/elasticloadbalancing/(?P<region>[a-z0-9-]+)/"
    r"(?P<day>\d{4}/\d{2}/\d{2})/123456789012_elasticloadbalancing_(?P=region)_"
    r"app\.(?P<lb>[a-z0-9-]+)\.[0-9a-f]{16}_(?P<end>\d{8}T\d{4}Z)_(?P<ip>[0-9.]+)_"
    r"[0-9a-z]+\.log\.gz$"
)
_CF_KEY = re.compile(
    r"^cloudfront/(?P<dist>[A-Z0-9]+)\.(?P<hour>\d{4}-\d{2}-\d{2}-\d{2})\.\w+\.gz$"
)


@dataclass(frozen=True)
class Seeded:
    info: SandboxInfo
    bodies: dict[str, bytes]  # request-log key -> object
    records: pl.DataFrame  # every object read through the sources (REQUEST_SCHEMA)
    rejects: int
    target_ips: set[str]  # every instance's private address
    eni_ips: set[str]  # every network interface's private address
    discovered: list[RequestLogSource]
    read: set[str]  # the keys the sources read over the whole period
    flows: list[pl.DataFrame]  # each flow-log object's bytes by address pair and interval
    seconds: float


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)


def _seed(
    spec: SandboxSpec, factory: AwsSessionFactory | None = None, *, read: bool = True
) -> Seeded:
    factory = factory or AwsSessionFactory()
    t0 = time.perf_counter()
    info = seed_sandbox(spec, START, factory)
    seconds = time.perf_counter() - t0
    s3 = factory.client("s3", "us-east-1")
    bodies: dict[str, bytes] = {}
    if spec.requests is not None:
        bucket = spec.requests.bucket
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                bodies[obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    # every object through the sources the sandbox returns and A1's parsers behind them: the
    # whole period plus the delivery lags (ALB 5 min after its interval, CloudFront 1 h after
    # its hour)
    window = TimeWindow(start=info.start, end=info.end + timedelta(hours=3))
    sources = info.request_sources if read else []
    chunks = [c for src in sources for c in src.chunks(s3, window)]
    read_keys = {c.source.split("/", 3)[3].rsplit("#", 1)[0] for c in chunks}
    ips: set[str] = set()
    enis: set[str] = set()
    for region in info.regions:
        ec2 = factory.client("ec2", region)
        for r in ec2.describe_instances()["Reservations"]:
            ips |= {i["PrivateIpAddress"] for i in r["Instances"]}
        enis |= {
            n["PrivateIpAddress"] for n in ec2.describe_network_interfaces()["NetworkInterfaces"]
        }
    flows = s3.list_objects_v2(Bucket=spec.bucket).get("Contents", [])
    flow_frames = [
        _flow_records(s3.get_object(Bucket=spec.bucket, Key=o["Key"])["Body"].read())
        for o in sorted(flows, key=lambda o: re.sub(r"fl-[0-9a-z]+", "", o["Key"]))
    ]
    return Seeded(
        info,
        bodies,
        pl.concat([c.records for c in chunks]) if chunks else pl.DataFrame(),
        sum(len(c.rejected) for c in chunks),
        ips,
        enis,
        discover_cloudfront_sources(factory.client("cloudfront", "us-east-1"), spec.account),
        read_keys,
        flow_frames,
        seconds,
    )


def _flow_records(body: bytes) -> pl.DataFrame:
    """Bytes per address pair, port and interval, NAT gateways left out (moto picks their
    addresses, and the ids the source ports are made from, anew on each run)."""
    if body.startswith(b"PAR1"):
        frame = pl.read_parquet(io.BytesIO(body))
    else:
        frame = pl.read_csv(io.BytesIO(gzip.decompress(body)), separator=" ")
    keys = ["srcaddr", "dstaddr", "dstport", "start"]
    ours = r"^(10\.\d\.1\.\d+|198\.51\.100\.7|52\.216\.8\.10)$"
    frame = frame.filter(
        pl.col("srcaddr").str.contains(ours) & pl.col("dstaddr").str.contains(ours)
    )
    return frame.group_by(keys).agg(pl.col("bytes").sum()).sort(keys)


@pytest.fixture(scope="module")
def seeded() -> Iterator[Seeded]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with mock_aws():
            got = _seed(SPEC)
    yield got


def test_objects_in_the_documented_key_layouts(seeded: Seeded) -> None:
    alb = [m for k in seeded.bodies if (m := _ALB_KEY.match(k))]
    cdn = [m for k in seeded.bodies if (m := _CF_KEY.match(k))]
    assert len(alb) + len(cdn) == len(seeded.bodies) == seeded.info.request_objects
    # one object per load balancer node and 5 minutes, named by the interval's end
    assert {(m["region"], m["lb"]) for m in alb} == {
        ("us-east-1", "shop-lb"),
        ("eu-west-1", "analytics-lb"),
    }
    for m in alb:
        end = datetime.strptime(m["end"], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
        assert end.minute % 5 == 0 and m["day"] == f"{end:%Y/%m/%d}"
        assert seeded.info.start < end <= seeded.info.end + timedelta(minutes=5)
    shop_ends = {m["end"] for m in alb if m["lb"] == "shop-lb"}
    assert len(shop_ends) == sum(m["lb"] == "shop-lb" for m in alb) == 6 * 12  # every 5 min
    # the shop ALB's node is the fleet's load-balancer ENI; the log-only one is outside it
    nodes = {m["lb"]: m["ip"] for m in alb}
    assert nodes["shop-lb"] in seeded.eni_ips - seeded.target_ips
    assert nodes["analytics-lb"] not in seeded.eni_ips
    # CloudFront: hourly files of the one distribution, W3C headers first
    dist = seeded.info.request_sources[-1].distribution_id
    assert {m["dist"] for m in cdn} == {dist} and len(cdn) == 6
    first = next(seeded.bodies[m.string] for m in cdn)
    head = gzip.decompress(first).decode().splitlines()[:2]
    assert head[0] == "#Version: 1.0" and head[1].startswith("#Fields: date time x-edge-location")


def test_every_line_parses_and_the_sources_read_it_all(seeded: Seeded) -> None:
    assert seeded.rejects == 0
    assert seeded.records.height == seeded.info.requests > 15_000
    assert seeded.read == set(seeded.bodies)  # every object, each once
    kinds = [s.kind for s in seeded.info.request_sources]
    assert kinds == [RequestLogKind.ALB, RequestLogKind.ALB, RequestLogKind.CLOUDFRONT]
    assert [s.region for s in seeded.info.request_sources] == [
        "eu-west-1",
        "us-east-1",
        "us-east-1",
    ]
    # discovery finds the same CloudFront source the sandbox returns
    assert seeded.discovered == [seeded.info.request_sources[-1]]


def test_tenants_regions_and_targets(seeded: Seeded) -> None:
    r = seeded.records.with_columns(tenant=pl.col("path").str.extract(r"^/([^/]+)/"))
    for kind in ("alb", "cloudfront"):
        assert set(r.filter(pl.col("log_kind") == kind)["tenant"]) == TENANTS
    alb = r.filter(pl.col("log_kind") == "alb")
    assert set(alb["serving_region"]) == {"us-east-1", "eu-west-1"}
    assert set(alb["target_ip"]) <= seeded.target_ips  # the load model can resolve them
    cdn = r.filter(pl.col("log_kind") == "cloudfront")
    assert set(cdn["client_region"]) == {"us-east-1", "us-west-2", "eu-west-1", "eu-central-1"}
    # habits differ: hooli is API-chatty with small answers, initech moves large objects
    by = r.group_by("tenant").agg(
        api=(pl.col("path").str.contains("/api/")).mean(), kb=pl.col("bytes_out").median() / 1024
    )
    row = {t: (a, kb) for t, a, kb in by.iter_rows()}
    assert row["hooli"][0] > 0.8 and row["initech"][1] > 10 * row["hooli"][1]
    # farther from the origin is slower at the edge: Frankfurt's misses cross the Atlantic
    small = (pl.col("cache_result") == "Miss") & (pl.col("bytes_out") < 100_000)
    misses = cdn.filter(small).group_by("client_region").agg(pl.col("latency_ms").median())
    p50 = dict(misses.iter_rows())
    assert p50["eu-central-1"] > p50["us-east-1"] + 50


def test_cloudfront_behaves_like_a_cache(seeded: Seeded) -> None:
    r = seeded.records
    cdn = r.filter(pl.col("log_kind") == "cloudfront")
    counts = dict(cdn.group_by("cache_result").len().iter_rows())
    assert counts["Hit"] > counts["Miss"] > 0 and counts.get("RefreshHit", 0) > 0
    # the first request of an object at an edge can never be a hit
    first = cdn.sort("ts").group_by("edge_location", "path", maintain_order=True).first()
    assert set(first["cache_result"]) <= {"Miss", "Error"}
    # the origin ALB sees exactly the misses and refreshes (its host is the ALB's own name)
    origin = r.filter(pl.col("host").str.ends_with(".elb.amazonaws.com"))
    to_origin = counts["Miss"] + counts.get("RefreshHit", 0)
    assert to_origin <= origin.height <= to_origin + counts.get("Error", 0)
    refreshed = origin.filter(pl.col("status") == 304).height
    assert counts["RefreshHit"] <= refreshed <= counts["RefreshHit"] + counts.get("Error", 0)


def test_popularity_shift_brings_new_hot_objects(seeded: Seeded) -> None:
    shift = seeded.info.start + timedelta(hours=SHIFT_HOURS)
    static = seeded.records.filter(
        (pl.col("log_kind") == "cloudfront") & pl.col("path").str.starts_with("/acme/static/")
    )

    def top(lo: datetime, hi: datetime) -> set[str]:
        part = static.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi))
        return set(part.group_by("path").len().sort("len", descending=True).head(10)["path"])

    before = top(shift - timedelta(hours=2), shift)
    after = top(shift, shift + timedelta(hours=2))
    assert len(before & after) <= 1
    # the new hot objects did not exist before the shift
    seen_before = set(static.filter(pl.col("ts") < shift)["path"])
    assert len(after - seen_before) >= 8


def test_deterministic_and_flows_unchanged(seeded: Seeded) -> None:
    with mock_aws():
        again = _seed(SPEC, read=False)
    with mock_aws():
        without = _seed(SPEC.model_copy(update={"requests": None}), read=False)
    # byte for byte, but for the distribution's id and domain name, which moto picks
    assert _anonymous(again) == _anonymous(seeded) and len(seeded.bodies) > 100
    # the request logs leave the fleet's flows and inventory as they were
    assert without.info.request_sources == [] and without.info.requests == 0
    assert len(without.flows) == len(seeded.flows) > 0
    assert all(a.equals(b) for a, b in zip(without.flows, seeded.flows, strict=True))
    assert without.info.records == seeded.info.records
    assert without.target_ips == seeded.target_ips


def _anonymous(seeded: Seeded) -> dict[str, bytes]:
    dist = seeded.info.request_sources[-1].distribution_id
    assert dist is not None
    out = {}
    for key, body in seeded.bodies.items():
        if key.startswith("cloudfront/"):
            text = re.sub(
                r"\t[a-z0-9]+\.cloudfront\.net\t", "\t-\t", gzip.decompress(body).decode()
            )
            key, body = re.sub(r"\.\w+\.gz$", "", key.replace(dist, "DIST")), text.encode()
        out[key] = body
    return out


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ValidationError, match="no edge location"):
        TenantSpec(name="x", weight=1, clients={"ap-south-1": 1.0})
    with pytest.raises(ValidationError, match="repeat"):
        RequestSpec(tenants=[TenantSpec(name="a", weight=1), TenantSpec(name="a", weight=2)])
    with mock_aws(), pytest.raises(ValueError, match=r"ALB apps \['nope'\] are not sandbox apps"):
        seed_sandbox(
            SandboxSpec(days=0.05, metrics=False, requests=RequestSpec(albs=["nope"])), START
        )


def test_through_a_moto_server(moto_server: str) -> None:
    factory = AwsSessionFactory(endpoint_url=moto_server)
    spec = SandboxSpec(days=0.1, metrics=False, requests=RequestSpec(requests_per_minute=20))
    got = _seed(spec, factory)
    assert got.rejects == 0 and got.records.height == got.info.requests > 0
    assert got.read == set(got.bodies)
    assert got.discovered == [got.info.request_sources[-1]]


@pytest.mark.slow
def test_default_sandbox_seed_time() -> None:
    """The default sandbox (two days): how long seeding takes with its request logs."""
    with mock_aws():
        got = _seed(SandboxSpec(metrics=False))
    assert got.rejects == 0 and got.records.height == got.info.requests
    print(
        f"\ndefault sandbox: {got.seconds:.1f} s to seed, {got.info.request_objects} request-log "
        f"objects, {got.info.requests} requests"
    )
