"""Request logs for the sandbox: ALB access logs and CloudFront standard logs, as AWS writes them.

Several tenants (the tenant key is the first path segment: ``/acme/api/orders``) with their own
habits (daytime, night batch or flat; API-chatty or static-heavy; small or large objects) send
requests from four client regions (``reconciler.sandbox_traffic`` decides what happened). This
module renders it in the documented formats and key layouts into ``spec.bucket``: one ALB
object per load balancer node and 5 minutes (``<prefix>/AWSLogs/<acct>/elasticloadbalancing/
<region>/yyyy/mm/dd/..._app.<lb>.<id>_<end>_<ip>_<random>.log.gz``) and one CloudFront object
per hour (``<prefix><distribution-id>.YYYY-MM-DD-HH.<unique>.gz``, W3C headers, tab-separated).
The ALBs are log-only (no elbv2 resource: the fleet and its groups stay as they were; their
targets are the app's first-tier instances), so their sources are explicit; the CloudFront
distribution is created in moto with logging on, so it can also be discovered. The requests are
planned first (``plan_requests``) so the fronted apps' flows and metrics can carry them
(``reconciler.sandbox_load``), then written (``seed_requests``). The same sandbox seed gives
the same records.
"""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl
from isal import igzip
from pydantic import BaseModel, ConfigDict, Field, model_validator

from providers.aws.requestlogs import CLOUDFRONT_FIELDS
from providers.aws.requestsources import RequestLogSource, alb_log_key, cloudfront_log_key
from providers.aws.session import AwsSessionFactory
from providers.models import RequestLogKind
from reconciler.sandbox_traffic import EDGE_LOCATIONS, AlbSite, Shape, Traffic, simulate

if TYPE_CHECKING:
    from reconciler.sandbox import SandboxInfo, SandboxSpec

__all__ = [
    "AppEndpoint",
    "RequestPlan",
    "RequestSeeded",
    "RequestSpec",
    "TenantSpec",
    "plan_requests",
    "seed_requests",
]

_BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


class TenantSpec(BaseModel):
    """One tenant's habits."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    weight: float = Field(gt=0, description="share of all requests (relative)")
    pattern: Literal["day", "night", "flat"] = "day"
    api_share: float = Field(default=0.3, ge=0, le=1)
    post_share: float = Field(default=0.15, ge=0, le=1, description="API calls that are POSTs")
    upload_kb: float = Field(default=2.0, gt=0, description="median POST body")
    object_kb: float = Field(default=60.0, gt=0, description="median static object size")
    catalog: int = Field(default=2000, ge=10, description="distinct static objects")
    zipf: float = Field(default=0.9, gt=0)
    clients: dict[str, float] = Field(default_factory=lambda: {"us-east-1": 1.0})

    @model_validator(mode="after")
    def _known_regions(self) -> TenantSpec:
        unknown = sorted(set(self.clients) - set(EDGE_LOCATIONS))
        if unknown:
            raise ValueError(
                f"tenant {self.name}: client regions {unknown} have no edge location "
                f"(known: {sorted(EDGE_LOCATIONS)})"
            )
        return self


def _tenants() -> list[TenantSpec]:
    us, eu = {"us-east-1": 0.6, "us-west-2": 0.3, "eu-west-1": 0.1}, {"eu-west-1": 0.5}
    return [
        TenantSpec(name="acme", weight=3, api_share=0.35, object_kb=80, clients=us),
        TenantSpec(
            name="globex",
            weight=2,
            api_share=0.85,
            object_kb=20,
            clients={**eu, "eu-central-1": 0.4, "us-east-1": 0.1},
        ),
        TenantSpec(
            name="initech",
            weight=1,
            pattern="night",
            api_share=0.2,
            object_kb=4000,
            catalog=300,
            clients={"us-east-1": 1.0},
        ),
        TenantSpec(
            name="umbrella",
            weight=1.5,
            api_share=0.1,
            object_kb=1500,
            catalog=500,
            zipf=1.1,
            clients={"us-east-1": 0.4, "eu-west-1": 0.3, "eu-central-1": 0.3},
        ),
        TenantSpec(
            name="hooli", weight=1.5, pattern="flat", api_share=0.9, clients={"us-west-2": 1.0}
        ),
        TenantSpec(
            name="stark", weight=1, api_share=0.4, object_kb=150, clients={"eu-central-1": 1.0}
        ),
        TenantSpec(
            name="wayne",
            weight=0.7,
            pattern="night",
            api_share=0.7,
            post_share=0.6,
            upload_kb=400,
            clients={"eu-west-1": 0.8, "eu-central-1": 0.2},
        ),
        TenantSpec(
            name="wonka",
            weight=0.3,
            pattern="flat",
            object_kb=40,
            catalog=400,
            clients={"us-east-1": 0.5, "eu-west-1": 0.5},
        ),
    ]


class RequestSpec(BaseModel):
    """What request logs to seed. The default: ~200k requests over the sandbox's two days."""

    model_config = ConfigDict(extra="forbid")

    bucket: str = "headroom-sandbox-request-logs"
    alb_prefix: str = "alb"
    cloudfront_prefix: str = "cloudfront/"
    requests_per_minute: float = Field(default=50.0, gt=0, description="at demand shape 1")
    tenants: list[TenantSpec] = Field(default_factory=_tenants, min_length=1)
    albs: list[str] | None = Field(
        default=None,
        description="apps fronted by a (log-only) ALB; None: every public app, and the first "
        "app of each region that has none",
    )
    cdn_origin: str | None = Field(
        default=None, description="the ALB app behind CloudFront; None: the first of albs"
    )
    cross_region_share: float = Field(
        default=0.2, ge=0, le=1, description="API calls served by a farther region's ALB"
    )
    shift_hours: float | None = Field(
        default=None, ge=0, description="popularity shift, hours after the start; None: at 3/4"
    )
    new_hot_objects: int = Field(default=25, ge=1, description="per tenant, at the shift")
    edge_cache_mb: float = Field(default=2048.0, gt=0, description="per edge location")
    ttl_hours: float = Field(default=6.0, gt=0)

    @model_validator(mode="after")
    def _distinct(self) -> RequestSpec:
        names = [t.name for t in self.tenants]
        if len(set(names)) != len(names):
            raise ValueError(f"request tenants repeat: {names}")
        return self


@dataclass(frozen=True)
class AppEndpoint:
    """What the fleet says about an app an ALB may front: its first tier's private addresses
    and, when the fleet has one, its load balancer (``app/<name>/<id>``) and that ENI's address."""

    app: str
    region: str
    target_ips: tuple[str, ...]
    lb_name: str | None = None
    lb_ip: str | None = None


@dataclass
class RequestSeeded:
    """What ``seed_requests`` wrote and where to read it."""

    sources: list[RequestLogSource]
    distribution_id: str
    objects: int = 0
    alb_requests: int = 0
    cloudfront_requests: int = 0

    @property
    def requests(self) -> int:
        return self.alb_requests + self.cloudfront_requests


@dataclass(frozen=True)
class RequestPlan:
    """Every request of the period (``plan_requests``), before anything is written: the fleet's
    flows and metrics are made from it (``reconciler.sandbox_load``), then ``seed_requests``
    writes its logs."""

    spec: RequestSpec
    account: str
    albs: list[AlbSite]
    origin: AlbSite
    traffic: Traffic


def plan_requests(
    spec: RequestSpec,
    sandbox: SandboxSpec,
    info: SandboxInfo,
    endpoints: list[AppEndpoint],
    shape: Shape,
) -> RequestPlan:
    """Simulate the requests of ``[info.start, info.end)``.

    ``shape(ts, app)`` is the sandbox's demand shape of ``app`` at epoch seconds ``ts`` (a name
    that is no app gives the shape without the surge). Raises ValueError when ``albs`` or
    ``cdn_origin`` name an app the sandbox does not have.
    """
    albs = _albs(spec, endpoints)
    origin = next(a for a in albs if a.app == (spec.cdn_origin or albs[0].app))
    rng = np.random.default_rng([sandbox.seed, 15])  # not the flows' stream: they stay as were
    traffic = simulate(spec, info.start.timestamp(), info.end.timestamp(), albs, origin, shape, rng)
    return RequestPlan(spec, sandbox.account, albs, origin, traffic)


def seed_requests(plan: RequestPlan, factory: AwsSessionFactory) -> RequestSeeded:
    """Write the plan's ALB and CloudFront logs into ``plan.spec.bucket`` (and create the
    CloudFront distribution that logs there)."""
    spec, albs, origin, traffic = plan.spec, plan.albs, plan.origin, plan.traffic
    s3 = factory.client("s3", "us-east-1")
    s3.create_bucket(Bucket=spec.bucket)
    dist_id, domain = _distribution(factory, spec, origin)
    objects: list[tuple[str, bytes]] = []
    by_name = {a.name: a for a in albs}
    for (name, end), text in _files(_alb_lines(traffic.alb, albs, plan.account), 300):
        lb = by_name[name]
        key = alb_log_key(
            plan.account, lb.region, name, end, prefix=spec.alb_prefix, node_ip=lb.node_ip
        )
        objects.append((key, igzip.compress(text.encode(), 2, mtime=0)))
    head = f"#Version: 1.0\n#Fields: {' '.join(CLOUDFRONT_FIELDS)}\n"
    for (_, end), text in _files(_cloudfront_lines(traffic.cloudfront, domain), 3600):
        key = cloudfront_log_key(dist_id, end, prefix=spec.cloudfront_prefix)
        objects.append((key, igzip.compress((head + text).encode(), 2, mtime=0)))
    _put_all(factory, s3, spec.bucket, objects)
    alb = RequestLogKind.ALB
    sources = [
        RequestLogSource(alb, spec.bucket, spec.alb_prefix, region, plan.account)
        for region in sorted({a.region for a in albs})
    ]
    # the same source discovery finds (equal, so a set of both keeps one)
    cdn = RequestLogKind.CLOUDFRONT
    sources.append(
        RequestLogSource(
            cdn, spec.bucket, spec.cloudfront_prefix, origin.region, plan.account, dist_id
        )
    )
    return RequestSeeded(
        sources, dist_id, len(objects), traffic.alb.height, traffic.cloudfront.height
    )


def _albs(spec: RequestSpec, endpoints: list[AppEndpoint]) -> list[AlbSite]:
    """The ALBs: the named apps, or every public app and the first app of each other region."""
    by_app = {e.app: e for e in endpoints}
    names = list(spec.albs) if spec.albs is not None else [e.app for e in endpoints if e.lb_name]
    if spec.albs is None:
        covered = {by_app[n].region for n in names}
        for e in endpoints:
            if e.region not in covered:
                names.append(e.app)
                covered.add(e.region)
    if spec.cdn_origin is not None and spec.cdn_origin not in names:
        names.append(spec.cdn_origin)
    missing = [n for n in names if n not in by_app]
    if missing or not names:
        raise ValueError(
            f"request logs: ALB apps {missing or names} are not sandbox apps {sorted(by_app)}"
        )
    out = []
    for i, n in enumerate(names):
        e = by_app[n]
        name = e.lb_name or f"app/{n}-lb/{zlib.crc32(n.encode()):016x}"
        # a log-only ALB's node is outside the fleet's subnets, so it resolves to nothing
        out.append(AlbSite(n, e.region, name, e.lb_ip or f"10.{200 + i}.0.10", e.target_ips))
    return out


def _put_all(
    factory: AwsSessionFactory, s3: Any, bucket: str, objects: list[tuple[str, bytes]]
) -> None:
    """Store the objects. In-process moto takes them straight into its S3 backend (a thousand
    PutObject calls through botocore cost seconds; the stored objects are the same); a moto
    server gets ordinary PutObject calls."""
    backend = _in_process_s3(factory)
    if backend is not None:
        for key, body in objects:
            backend.put_object(bucket, key, body)
        return
    with ThreadPoolExecutor(8) as pool:  # a server answers several at once
        list(pool.map(lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), objects))


def _in_process_s3(factory: AwsSessionFactory) -> Any:
    if factory.endpoint_url:
        return None
    try:
        from moto.core.models import botocore_stubber
        from moto.s3.models import s3_backends
    except ImportError:  # pragma: no cover - moto is a sandbox dependency
        return None
    if not botocore_stubber.enabled:
        return None
    account = factory.client("sts", "us-east-1").get_caller_identity()["Account"]
    return s3_backends[account]["global"]


def _files(lines: pl.DataFrame, step: int) -> list[tuple[tuple[str, datetime], str]]:
    """Lines grouped into files by (``file``, the ``step``-second interval of ``ts``): the
    interval's end for ALB (its key names the end), its start for CloudFront (hourly)."""
    keyed = lines.with_columns(
        slot=(pl.col("ts") // step * step + (step if step < 3600 else 0)).cast(pl.Int64)
    )
    files = (
        keyed.sort("ts")
        .group_by("file", "slot", maintain_order=True)
        .agg(pl.col("line").str.join("\n"))
        .sort("file", "slot")
    )
    return [
        ((f, datetime.fromtimestamp(slot, UTC)), text + "\n") for f, slot, text in files.iter_rows()
    ]


def _stamp(col: str, fmt: str) -> pl.Expr:
    return pl.from_epoch((pl.col(col) * 1e6).cast(pl.Int64), "us").dt.strftime(fmt)


def _fixed(col: str) -> pl.Expr:
    return pl.col(col).round(3).cast(pl.String)


def _alb_lines(rows: pl.DataFrame, albs: list[AlbSite], account: str) -> pl.DataFrame:
    """ALB access log entries: the documented space-separated fields, quoted where AWS quotes
    (``file``: the load balancer)."""
    groups = {
        a.name: f"arn:aws:elasticloadbalancing:{a.region}:{account}:targetgroup/{a.app}-tg/"
        + a.name.rsplit("/", 1)[1]
        for a in albs
    }
    target = pl.format("{}:80", "target_ip")
    query = pl.when(pl.col("query") == "-").then(pl.lit("")).otherwise("?" + pl.col("query"))
    agent = pl.when("browser").then(pl.lit(_BROWSER)).otherwise(pl.lit("headroom-sdk/2.1"))
    status = pl.col("status").cast(pl.String)
    line = pl.concat_str(
        [
            pl.lit("https"),
            _stamp("ts", "%Y-%m-%dT%H:%M:%S%.6fZ"),
            pl.col("alb"),
            pl.format("{}:{}", "client_ip", "client_port"),
            target,
            _fixed("request_s"),
            _fixed("target_s"),
            _fixed("response_s"),
            status,
            status,
            pl.col("received").cast(pl.String),
            pl.col("sent").cast(pl.String),
            pl.format('"{} https://{}:443{}{} HTTP/1.1"', "method", "host", "path", query),
            pl.format('"{}"', agent),
            pl.lit("ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2"),
            pl.col("alb").replace_strict(groups, return_dtype=pl.String),
            pl.format('"Root=1-{}-{}"', _hex_seconds("created"), "trace"),
            pl.format('"{}"', "host"),
            pl.lit('"-" 1'),
            _stamp("created", "%Y-%m-%dT%H:%M:%S%.6fZ"),
            pl.lit('"forward" "-" "-"'),
            pl.format('"{}"', target),
            pl.format('"{}"', status),
            pl.lit('"-" "-" -'),
        ],
        separator=" ",
    )
    return rows.select(pl.col("alb").alias("file"), "ts", line.alias("line"))


def _hex_seconds(col: str) -> pl.Expr:
    """Epoch seconds as 8 hex digits (the trace id's time part)."""
    digits = [(pl.col(col).cast(pl.Int64) // 16**i % 16) for i in range(7, -1, -1)]
    table = dict(enumerate("0123456789abcdef"))
    return pl.concat_str([d.replace_strict(table, return_dtype=pl.String) for d in digits])


def _cloudfront_lines(rows: pl.DataFrame, domain: str) -> pl.DataFrame:
    """CloudFront standard (legacy) log lines, tab-separated in ``CLOUDFRONT_FIELDS`` order."""
    ctype = (
        pl.when(pl.col("path").str.ends_with(".jpg"))
        .then(pl.lit("image/jpeg"))
        .when(pl.col("path").str.ends_with(".mp4"))
        .then(pl.lit("video/mp4"))
        .otherwise(pl.lit("application/zip"))
    )
    ok = pl.col("status") == 200
    result = pl.when(ok).then("result").otherwise(pl.lit("Error"))
    body = pl.when(ok).then(pl.col("body")).otherwise(0)
    line = pl.concat_str(
        [
            _stamp("ts", "%Y-%m-%d\t%H:%M:%S"),
            pl.col("edge"),
            (body + 410).cast(pl.String),
            pl.col("client_ip"),
            pl.lit(f"GET\t{domain}"),
            pl.col("path"),
            pl.col("status").cast(pl.String),
            pl.lit("-\t" + _BROWSER.replace(" ", "%20")),
            pl.col("query"),
            pl.lit("-"),  # cs(Cookie): logging does not include cookies
            result,
            pl.col("request_id"),
            pl.lit("cdn.headroom.example\thttps"),
            pl.col("bytes_in").cast(pl.String),
            _fixed("taken_s"),
            pl.lit("-\tTLSv1.3\tTLS_AES_128_GCM_SHA256"),
            result,
            pl.lit("HTTP/2.0\t-\t-"),
            pl.col("client_port").cast(pl.String),
            _fixed("first_s"),
            result,
            ctype,
            body.cast(pl.String),
            pl.lit("-\t-"),
        ],
        separator="\t",
    )
    return rows.select(pl.lit("").alias("file"), "ts", line.alias("line"))


def _distribution(
    factory: AwsSessionFactory, spec: RequestSpec, origin: AlbSite
) -> tuple[str, str]:
    """A CloudFront distribution in front of the origin ALB, logging to ``spec.bucket``."""
    cf: Any = factory.client("cloudfront", "us-east-1")
    config = {
        "CallerReference": f"headroom-sandbox-{origin.app}",
        "Comment": "headroom sandbox CDN",
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": origin.app,
                    "DomainName": origin.dns,
                    "CustomOriginConfig": {
                        "HTTPPort": 80,
                        "HTTPSPort": 443,
                        "OriginProtocolPolicy": "https-only",
                    },
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": origin.app,
            "ViewerProtocolPolicy": "redirect-to-https",
            "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
        },
        "Logging": {
            "Enabled": True,
            "IncludeCookies": False,
            "Bucket": f"{spec.bucket}.s3.amazonaws.com",
            "Prefix": spec.cloudfront_prefix,
        },
    }
    made = cf.create_distribution(DistributionConfig=config)["Distribution"]
    return str(made["Id"]), str(made["DomainName"])
