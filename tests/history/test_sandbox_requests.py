"""The sandbox's request logs: documented key layouts, every line parsed by the real parsers,
tenants in both regions, a cache that behaves like one, the popularity shift, determinism; the
fronted apps' flows and metrics carry those requests (a load model fits them), and without
request logs the flows are as they were."""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from moto import mock_aws
from pydantic import ValidationError

from providers.aws.requestsources import RequestLogSource, discover_cloudfront_sources
from providers.aws.session import AwsSessionFactory
from providers.models import RequestLogKind, TimeWindow
from reconciler.sandbox import SandboxInfo, SandboxSpec, seed_sandbox
from reconciler.sandbox_load import (
    API_CPU_WEIGHT,
    CPU_AT_MEAN,
    CPU_IDLE,
    PROTOCOL_OVERHEAD,
    AppLoad,
    instance_metrics,
)
from reconciler.sandbox_requests import RequestSpec, TenantSpec
from reconciler.users.loadmodel import fit_load_models

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
    raw_flows: pl.DataFrame  # every flow record as each ENI logged it (_RAW columns)
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
    flow_bodies = [
        s3.get_object(Bucket=spec.bucket, Key=o["Key"])["Body"].read()
        for o in sorted(flows, key=lambda o: re.sub(r"fl-[0-9a-z]+", "", o["Key"]))
    ]
    flow_frames = [_flow_records(b) for b in flow_bodies]
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
        pl.concat([_raw(b) for b in flow_bodies]) if flow_bodies else pl.DataFrame(),
        seconds,
    )


_RAW = ["interface_id", "srcaddr", "dstaddr", "dstport", "start", "bytes"]


def _raw(body: bytes) -> pl.DataFrame:
    """One flow-log object's records (text or Parquet) as ``_RAW`` columns."""
    if body.startswith(b"PAR1"):
        frame = pl.read_parquet(io.BytesIO(body))
    else:
        frame = pl.read_csv(io.BytesIO(gzip.decompress(body)), separator=" ")
        frame = frame.rename({c: c.replace("-", "_") for c in frame.columns})
    frame = frame.filter(pl.col("interface_id").str.starts_with("eni-")).select(_RAW)
    return frame.cast({"dstport": pl.Int64, "start": pl.Int64, "bytes": pl.Int64})


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


def test_deterministic_and_flows_unchanged_without_requests(seeded: Seeded) -> None:
    with mock_aws():
        again = _seed(SPEC, read=False)
    with mock_aws():
        without = _seed(SPEC.model_copy(update={"requests": None}), read=False)
    # byte for byte, but for the distribution's id and domain name, which moto picks
    assert _anonymous(again) == _anonymous(seeded) and len(seeded.bodies) > 100
    assert len(again.flows) == len(seeded.flows) > 0
    assert all(a.equals(b) for a, b in zip(again.flows, seeded.flows, strict=True))
    # without request logs the flows are those the sandbox wrote before it had any (the digest
    # of this spec's flows at commit 8cc9da9), and the fleet is the same either way
    assert without.info.request_sources == [] and without.info.requests == 0
    assert _digest(without.flows) == _FLOWS_WITHOUT_REQUESTS
    assert without.target_ips == seeded.target_ips
    ours = re.compile(r"^10\.\d\.1\.\d+$")  # moto picks the NAT gateways' addresses
    assert {ip for ip in without.eni_ips if ours.match(ip)} == {
        ip for ip in seeded.eni_ips if ours.match(ip)
    }
    # the shared monitoring scrapes are no app's load: the same with or without requests
    scrapes = [f.filter(pl.col("dstport") == 9100) for f in (*seeded.flows, *without.flows)]
    half = len(seeded.flows)
    assert all(a.equals(b) for a, b in zip(scrapes[:half], scrapes[half:], strict=True))
    assert sum(s.height for s in scrapes[:half]) > 0


_FLOWS_WITHOUT_REQUESTS = "dded57c69c9ce2da"


def _digest(flows: list[pl.DataFrame]) -> str:
    h = hashlib.sha256()
    for frame in flows:
        h.update(repr(frame.rows()).encode())
    return h.hexdigest()[:16]


def _alb_buckets(seeded: Seeded, lb: str) -> pl.DataFrame:
    """The parsed ALB log's received + sent bytes and requests per target and 5 minutes."""
    alb = seeded.records.filter(
        (pl.col("log_kind") == "alb") & pl.col("source").str.contains(f"app.{lb}.", literal=True)
    )
    return alb.group_by("target_ip", (pl.col("ts").dt.epoch("s") // 300 * 300).alias("start")).agg(
        (pl.col("bytes_in") + pl.col("bytes_out")).sum().alias("logged"),
        pl.len().alias("requests"),
        pl.col("path").str.contains("/api/").sum().alias("api"),
    )


def _lb_ip(seeded: Seeded, lb: str) -> str:
    return next(m["ip"] for k in seeded.bodies if (m := _ALB_KEY.match(k)) and m["lb"] == lb)


def _pairs(seeded: Seeded) -> pl.DataFrame:
    """Each flow once (an ENI at each end logs the same record), with how many ENIs did."""
    keys = ["srcaddr", "dstaddr", "dstport", "start"]
    return seeded.raw_flows.group_by(keys).agg(
        pl.col("bytes").first(),
        pl.len().alias("logged_by"),
        (pl.col("bytes").max() - pl.col("bytes").min()).alias("spread"),
    )


def test_load_balancer_flows_carry_the_requests_bytes(seeded: Seeded) -> None:
    logged = _alb_buckets(seeded, "shop-lb")
    lb = _lb_ip(seeded, "shop-lb")
    pairs = _pairs(seeded)
    assert (pairs["spread"] == 0).all()
    to_targets = pairs.filter((pl.col("srcaddr") == lb) & (pl.col("dstport") == 80))
    assert (to_targets["logged_by"] == 2).all()  # the load balancer's ENI and the target's
    flows = to_targets.select(pl.col("dstaddr").alias("target_ip"), "start", "bytes")
    end = int(seeded.info.end.timestamp())
    joined = logged.filter(pl.col("start") < end).join(
        flows, on=["target_ip", "start"], how="full", coalesce=True
    )
    assert joined.null_count().sum_horizontal().item() == 0  # the same buckets, every target
    assert joined["target_ip"].n_unique() == 2 and joined.height >= 2 * 70
    expected = (joined["logged"] * (1 + PROTOCOL_OVERHEAD)).round()
    assert ((joined["bytes"] - expected).abs() <= 1).all()
    ratio = joined["bytes"] / joined["logged"]
    assert ratio.is_between(1.0, 1 + PROTOCOL_OVERHEAD + 1e-6).all()
    # the internet side of the load balancer carries all of its requests the same way
    client = pairs.filter((pl.col("dstaddr") == lb) & (pl.col("srcaddr") == "198.51.100.7"))
    total = logged.filter(pl.col("start") < end).group_by("start").agg(pl.col("logged").sum())
    both = client.join(total, on="start", how="full", coalesce=True)
    assert both.null_count().sum_horizontal().item() == 0 and both.height >= 70
    assert ((both["bytes"] - (both["logged"] * (1 + PROTOCOL_OVERHEAD)).round()).abs() <= 1).all()


def test_the_fronted_apps_network_fits_a_load_model(seeded: Seeded) -> None:
    """Shop's network (every flow at its members' interfaces, as the history sums it) is a
    usable load model of its request rate per class (the real ``fit_load_models``)."""
    lb = _lb_ip(seeded, "shop-lb")
    net = lb.rsplit(".", 1)[0]
    members = [lb, *(f"{net}.{host}" for host in range(13, 17))]  # web 13-14, api 15-16
    assert set(members[1:]) <= seeded.target_ips
    at = pl.col("srcaddr").is_in(members).cast(pl.Int64) + pl.col("dstaddr").is_in(members)
    ts = (
        pl.from_epoch("start", "s")
        .dt.replace_time_zone("UTC")
        .cast(pl.Datetime("us", "UTC"))
        .alias("ts")
    )
    demand = (
        _pairs(seeded)
        .group_by("start")
        .agg(((pl.col("bytes") * at).sum() * 8 / 300 / 1e9).alias("y"))
        .select(pl.lit("shop").alias("group_id"), pl.lit("network_gbps").alias("metric"), ts, "y")
    )
    counts = (
        _alb_buckets(seeded, "shop-lb")
        .group_by("start")
        .agg(pl.col("requests").sum(), pl.col("api").sum())
    )
    load = pl.concat(
        [
            counts.select(ts, pl.lit(c).alias("request_class"), (n / 300).alias("requests_per_s"))
            for c, n in (
                ("GET /api", pl.col("api")),
                ("GET /static", pl.col("requests") - pl.col("api")),
            )
        ]
    ).with_columns(group_id=pl.lit("shop"))
    fit = fit_load_models(load, demand)["shop"].fits["network_gbps"]
    assert fit.usable and fit.points >= 70, fit
    assert fit.r2 >= 0.5 and fit.mape <= 0.1, fit


def test_cpu_follows_each_instances_requests_by_class() -> None:
    """CPU is idle + a cost per request (an API call ``API_CPU_WEIGHT`` static ones), the
    tiers behind see the API calls; memory follows the load slowly."""
    rng = np.random.default_rng(3)
    n = 288
    hours = np.arange(n) / 12
    requests = np.stack([rng.poisson(60 + 40 * np.sin(hours / 4 + k)) for k in (0, 1)])
    api = rng.binomial(requests, 0.3)
    load = AppLoad(0, 300, ("10.0.1.12", "10.0.1.13"), requests, api, requests * 0, requests * 0.0)
    tiers = [[("i-web0", "10.0.1.12"), ("i-web1", "10.0.1.13")], [("i-api0", "10.0.1.14")]]
    got = instance_metrics(load, tiers, np.random.default_rng(4))
    assert got.height == 3 * n and got["start"].max() == 300 * (n - 1)
    web = got.filter(pl.col("instance_id") == "i-web0")
    x = np.column_stack([np.ones(n), api[0], requests[0] - api[0]])
    coef, *_ = np.linalg.lstsq(x, web["cpu"].to_numpy(), rcond=None)
    assert coef[0] == pytest.approx(CPU_IDLE, abs=1.0)
    assert coef[1] / coef[2] == pytest.approx(API_CPU_WEIGHT, rel=0.2)
    assert web["cpu"].mean() == pytest.approx(CPU_IDLE + CPU_AT_MEAN, rel=0.05)
    behind = got.filter(pl.col("instance_id") == "i-api0")["cpu"].to_numpy()
    assert np.corrcoef(behind, api.sum(0))[0, 1] > 0.9  # API calls only
    # memory: a slow average, smoother than the load it follows
    mem = web["memory"].to_numpy()
    assert np.std(np.diff(mem)) < 0.5 * np.std(np.diff(web["cpu"].to_numpy()))
    assert np.corrcoef(mem[12:], requests[0][12:])[0, 1] > 0.5


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
