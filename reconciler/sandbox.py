"""Seed a moto AWS account with a small multi-region fleet, its flow logs and its metrics.

Works in-process under ``moto.mock_aws`` and against a moto server (pass a factory with
``endpoint_url``). moto writes no flow-log records, so this module writes them itself, in
AWS's real format and key layout, with daily and weekly patterns and an optional surge.
A fleet is a function of a ``SandboxSpec`` and a start time; the same inputs give the same
records. With ``requests`` (on by default) the fleet's public face also gets ALB and CloudFront
request logs from several tenants (``reconciler.sandbox_requests``), simulated first so the
fronted apps' flows, CPU, memory and response times carry those requests
(``reconciler.sandbox_load``); without them the flows are as they always were.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from providers.aws.flowformat import format_string
from providers.aws.flowkeys import flow_log_key
from providers.aws.flowwrite import FLOW_FIELDS_V5, render_parquet, render_text
from providers.aws.requestsources import RequestLogSource
from providers.aws.session import AwsSessionFactory
from providers.models import FLOW_FIELDS_V2, FLOW_SCHEMA
from reconciler.sandbox_load import AppLoad, app_loads, instance_metrics
from reconciler.sandbox_requests import AppEndpoint, RequestSpec, plan_requests, seed_requests

__all__ = ["AppSpec", "SandboxInfo", "SandboxSpec", "SurgeSpec", "seed_sandbox"]

_AMI = "ami-12c6146b"  # an image moto knows in every region


class AppSpec(BaseModel):
    """One application: tiers of instances that talk to each other in a chain."""

    model_config = ConfigDict(extra="forbid")

    name: str
    region: str
    tenant: str | None = None
    tiers: dict[str, int] = Field(default_factory=lambda: {"web": 2, "api": 2})
    instance_type: str = "m5.large"
    mbps: float = Field(default=40.0, gt=0, description="peak mean chain traffic, Mbit/s")
    public: bool = Field(default=False, description="fronted by a load balancer")
    uses_db: bool = False
    autoscaling: bool = Field(
        default=False,
        description="each tier's instances are members of an autoscaling group "
        "(<app>-<tier>, launch template <app>-<tier>, max_size 3x the tier)",
    )


class SurgeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app: str
    start_hours: float = Field(ge=0, description="hours after the sandbox start")
    duration_hours: float = Field(default=3.0, gt=0)
    factor: float = Field(default=4.0, gt=0)


class SandboxSpec(BaseModel):
    """What to seed. The defaults give a fleet of ~20 resources in two regions."""

    model_config = ConfigDict(extra="forbid")

    account: str = "123456789012"
    days: float = Field(default=2.0, gt=0, le=60)
    bucket: str = "headroom-sandbox-flow-logs"
    bucket_step_minutes: int = Field(default=5, ge=1, le=60)
    seed: int = 7
    apps: list[AppSpec] = Field(
        default_factory=lambda: [
            AppSpec(name="shop", region="us-east-1", tenant="acme", public=True, uses_db=True),
            AppSpec(
                name="search",
                region="us-east-1",
                tenant="acme",
                tiers={"api": 2, "index": 2},
                mbps=80,
            ),
            AppSpec(
                name="billing",
                region="us-east-1",
                tenant="globex",
                tiers={"worker": 2},
                mbps=15,
                uses_db=True,
            ),
            AppSpec(
                name="analytics", region="eu-west-1", tiers={"ingest": 2, "worker": 2}, mbps=60
            ),
        ]
    )
    surge: SurgeSpec | None = SurgeSpec(app="shop", start_hours=30, duration_hours=3, factor=4)
    bad_lines_per_file: int = Field(default=0, ge=0, description="malformed lines to inject")
    metrics: bool = True
    metric_hours: float | None = Field(
        default=2.0,
        gt=0,
        description="write metric points for only the last N hours (None: the whole period);"
        " moto's GetMetricData is quadratic in stored points",
    )
    requests: RequestSpec | None = Field(
        default_factory=RequestSpec, description="ALB and CloudFront request logs (None: none)"
    )

    @property
    def regions(self) -> list[str]:
        return sorted({a.region for a in self.apps})


@dataclass
class SandboxInfo:
    """What was seeded: ids to look things up by, and the period it covers."""

    start: datetime
    end: datetime
    regions: list[str]
    bucket: str
    flow_log_ids: dict[str, str] = field(default_factory=dict)
    instances: dict[str, list[str]] = field(default_factory=dict)
    objects: int = 0
    records: int = 0
    metric_points: int = 0
    #: where the request logs are (ALB: log-only, so never discovered); empty without them
    request_sources: list[RequestLogSource] = field(default_factory=list)
    request_objects: int = 0
    requests: int = 0


@dataclass
class _Node:
    rid: str
    eni: str
    ip: str
    subnet: str
    vpc: str
    app: str
    logged: bool = True
    #: a load balancer's CloudWatch ``LoadBalancer`` dimension (``app/<name>/<id>``)
    lb: str | None = None


@dataclass
class _Edge:
    src: _Node
    dst: _Node | str  # a node, or an external address
    mbps: float
    app: str
    dstport: int = 443
    service: str | None = None


def seed_sandbox(
    spec: SandboxSpec, start: datetime, factory: AwsSessionFactory | None = None
) -> SandboxInfo:
    """Create the fleet, flow logs and metrics for ``[start, start + spec.days)``; with
    ``spec.requests``, the request logs too, and the fronted apps' flows and metrics then carry
    those requests (``reconciler.sandbox_load``)."""
    factory = factory or AwsSessionFactory()
    start = start.astimezone(UTC).replace(second=0, microsecond=0)
    info = SandboxInfo(start, start + timedelta(days=spec.days), spec.regions, spec.bucket)
    rng = np.random.default_rng(spec.seed)
    s3 = factory.client("s3", spec.regions[0])
    if spec.regions[0] == "us-east-1":
        s3.create_bucket(Bucket=spec.bucket)
    else:
        where = {"LocationConstraint": spec.regions[0]}
        s3.create_bucket(Bucket=spec.bucket, CreateBucketConfiguration=where)
    fleet = {region: _build_region(factory, spec, region, info) for region in spec.regions}
    plan = None
    loads: dict[str, AppLoad] = {}
    if spec.requests is not None:
        endpoints = [e for r, (nodes, _) in fleet.items() for e in _endpoints(spec, r, nodes)]
        plan = plan_requests(
            spec.requests, spec, info, endpoints, lambda ts, app: _shape(ts, info.start, spec, app)
        )
        grid = _grid(spec, info)
        step = spec.bucket_step_minutes * 60
        loads = app_loads(plan.traffic.alb, plan.albs, int(grid[0]), len(grid), step)
    for region, (nodes, edges) in fleet.items():
        ec2 = factory.client("ec2", region)
        vpc_id = next(iter(nodes.values())).vpc
        v5 = region == spec.regions[0]
        fields = FLOW_FIELDS_V5 if v5 else FLOW_FIELDS_V2
        created = ec2.create_flow_logs(
            ResourceIds=[vpc_id],
            ResourceType="VPC",
            TrafficType="ALL",
            LogDestinationType="s3",
            LogDestination=f"arn:aws:s3:::{spec.bucket}",
            LogFormat=format_string(fields),
            MaxAggregationInterval=60,
        )
        if not created.get("FlowLogIds"):
            raise RuntimeError(
                f"create_flow_logs failed in {region}: {created.get('Unsuccessful')}"
            )
        flow_id = created["FlowLogIds"][0]
        info.flow_log_ids[region] = flow_id
        frame = _flow_frame(spec, region, edges, info, rng, loads)
        info.records += frame.height
        for hour_start, part in _hours(frame):
            key = flow_log_key(
                spec.account,
                region,
                flow_id,
                min(hour_start + timedelta(minutes=59), info.end),
                hive=not v5,
                per_hour=not v5,
                parquet=not v5,
            )
            body = render_text(part, fields) if v5 else render_parquet(part, fields)
            if v5 and spec.bad_lines_per_file:
                body = _with_bad_lines(part, fields, spec.bad_lines_per_file)
            s3.put_object(Bucket=spec.bucket, Key=key, Body=body)
            info.objects += 1
        if spec.metrics:
            cw = factory.client("cloudwatch", region)
            served = _served(spec, region, nodes, loads)
            info.metric_points += _put_metrics(cw, frame, nodes, spec, info, loads, served)
    if plan is not None:
        seeded = seed_requests(plan, factory)
        info.request_sources = seeded.sources
        info.request_objects, info.requests = seeded.objects, seeded.requests
    return info


def _served(
    spec: SandboxSpec,
    region: str,
    nodes: dict[str, _Node],
    loads: dict[str, AppLoad],
) -> pl.DataFrame:
    """CPU and memory of the region's ALB-fronted apps' instances, from their requests
    (``instance_id, start, cpu, memory``; empty without request logs)."""
    rng = np.random.default_rng([spec.seed, 16, spec.regions.index(region)])
    parts = []
    for app in (a for a in spec.apps if a.region == region and a.name in loads):
        tiers = [
            [nodes[f"{app.name}-{tier}-{i}"] for i in range(count)]
            for tier, count in app.tiers.items()
        ]
        members = [[(n.rid, n.ip) for n in tier] for tier in tiers]
        parts.append(instance_metrics(loads[app.name], members, rng))
    return pl.concat(parts) if parts else pl.DataFrame(schema=_SERVED)


_SERVED = {"instance_id": pl.String, "start": pl.Int64, "cpu": pl.Float64, "memory": pl.Float64}


def _endpoints(spec: SandboxSpec, region: str, nodes: dict[str, _Node]) -> list[AppEndpoint]:
    """Each app's first-tier addresses and load balancer, for the request logs."""
    out = []
    for app in (a for a in spec.apps if a.region == region):
        if not app.tiers:
            continue
        tier, count = next(iter(app.tiers.items()))
        lb = nodes.get(f"lb-{app.name}")
        ips = tuple(nodes[f"{app.name}-{tier}-{i}"].ip for i in range(count))
        out.append(AppEndpoint(app.name, region, ips, lb.lb if lb else None, lb.ip if lb else None))
    return out


def _build_region(
    factory: AwsSessionFactory, spec: SandboxSpec, region: str, info: SandboxInfo
) -> tuple[dict[str, _Node], list[_Edge]]:
    ec2 = factory.client("ec2", region)
    octet = spec.regions.index(region)  # distinct CIDRs, as peered regions need
    vpc = ec2.create_vpc(CidrBlock=f"10.{octet}.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": f"headroom-{region}"}])
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{octet}.1.0/24")["Subnet"]["SubnetId"]
    nodes: dict[str, _Node] = {}
    # Addresses are assigned here, in order: moto picks random ones that can collide.
    addresses = (f"10.{octet}.1.{host}" for host in range(10, 250))

    def launch(name: str, app: str, itype: str, tags: dict[str, str]) -> _Node:
        all_tags = {"Name": name, "app": app, **tags}
        inst = ec2.run_instances(
            ImageId=_AMI,
            MinCount=1,
            MaxCount=1,
            InstanceType=itype,
            SubnetId=subnet,
            PrivateIpAddress=next(addresses),
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()],
                }
            ],
        )["Instances"][0]
        _backdate_launch(region, inst["InstanceId"], info.start)
        node = _Node(
            inst["InstanceId"],
            inst["NetworkInterfaces"][0]["NetworkInterfaceId"],
            inst["PrivateIpAddress"],
            subnet,
            vpc,
            app,
        )
        nodes[name] = node
        info.instances.setdefault(app, []).append(node.rid)
        return node

    dns = launch(f"dns-{region}", "shared-dns", "t3.small", {"role": "dns"})
    mon = launch(f"monitoring-{region}", "shared-monitoring", "t3.medium", {"role": "monitoring"})
    db = launch(f"shared-db-{region}", "shared-db", "r5.large", {"role": "database"})
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip)["NatGateway"]
    nat_addr = nat["NatGatewayAddresses"][0]
    nat_node = _Node(
        nat["NatGatewayId"],
        nat_addr["NetworkInterfaceId"],
        nat_addr["PrivateIp"],
        subnet,
        vpc,
        "shared-nat",
    )
    edges: list[_Edge] = []
    autoscaling = factory.client("autoscaling", region)
    for app in (a for a in spec.apps if a.region == region):
        tags = {"tenant": app.tenant} if app.tenant else {}
        tiers: list[list[_Node]] = []
        for tier, count in app.tiers.items():
            tiers.append(
                [
                    launch(
                        f"{app.name}-{tier}-{i}",
                        app.name,
                        app.instance_type,
                        {"tier": tier, **tags},
                    )
                    for i in range(count)
                ]
            )
            if app.autoscaling:
                _scaling_group(ec2, autoscaling, f"{app.name}-{tier}", app, subnet, tiers[-1])
        if app.public:
            lb_name = f"app/{app.name}-lb/{zlib.crc32(app.name.encode()):016x}"
            eni = ec2.create_network_interface(
                SubnetId=subnet, PrivateIpAddress=next(addresses), Description=f"ELB {lb_name}"
            )["NetworkInterface"]
            lb = _Node(
                f"lb-{app.name}",
                eni["NetworkInterfaceId"],
                eni["PrivateIpAddress"],
                subnet,
                vpc,
                app.name,
                logged=True,
                lb=lb_name,
            )
            nodes[lb.rid] = lb
            edges.append(_Edge(_external_client(app.name), lb, app.mbps * 0.5, app.name))
            for node in tiers[0]:
                edges.append(_Edge(lb, node, app.mbps / len(tiers[0]), app.name, 80))
        for upper, lower in itertools.pairwise(tiers):
            for i, a in enumerate(upper):
                for b in lower:
                    edges.append(
                        _Edge(
                            a,
                            b,
                            app.mbps / (len(upper) * len(lower)) * (1 + 0.2 * i),
                            app.name,
                            8080,
                        )
                    )
        members = [n for t in tiers for n in t]
        for node in members:
            edges.append(_Edge(node, dns, 0.05, app.name, 53))
            edges.append(_Edge(mon, node, 0.2, "shared-monitoring", 9100))
        if app.uses_db:
            for node in tiers[-1]:
                edges.append(_Edge(node, db, app.mbps * 0.3 / len(tiers[-1]), app.name, 5432))
        for node in tiers[-1]:
            edges.append(_Edge(node, nat_node, app.mbps * 0.05, app.name, 443))
            edges.append(_Edge(node, "52.216.8.10", app.mbps * 0.1, app.name, 443, service="S3"))
    edges.append(
        _Edge(
            nat_node, "203.0.113.50", sum(e.mbps for e in edges if e.dst is nat_node), "shared-nat"
        )
    )
    return nodes, edges


def _backdate_launch(region: str, instance_id: str, at: datetime) -> None:
    """Say the instance launched at ``at``, when the history seeded for it starts, as a real
    fleet that produced that history would have (moto stamps the wall clock, which would make
    every seeded metric point predate the launch, and CPU and memory percentages of points
    before a launch are not converted). Only in-process (``mock_aws``): a moto server keeps
    its own stamps."""
    try:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ec2.models import ec2_backends
    except ImportError:  # pragma: no cover - moto is a sandbox dependency
        return
    found = ec2_backends[DEFAULT_ACCOUNT_ID][region].get_instance_by_id(instance_id)
    if found is not None:
        found.launch_time = at.astimezone(UTC).replace(tzinfo=None)


def _scaling_group(
    ec2: Any, autoscaling: Any, name: str, app: AppSpec, subnet: str, nodes: list[_Node]
) -> None:
    """An autoscaling group over already launched instances (their addresses stay as seeded):
    created empty, then the instances are attached (AWS tags them with the group's name)."""
    template = ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={"ImageId": _AMI, "InstanceType": app.instance_type},
    )["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        MinSize=0,
        MaxSize=3 * len(nodes),
        DesiredCapacity=0,
        VPCZoneIdentifier=subnet,
        Tags=[{"Key": "app", "Value": app.name, "PropagateAtLaunch": True}],
    )
    autoscaling.attach_instances(InstanceIds=[n.rid for n in nodes], AutoScalingGroupName=name)
    autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=max(1, len(nodes) // 2)
    )


def _external_client(app: str) -> _Node:
    """Internet clients of a public app appear as one public address (not in inventory)."""
    return _Node(f"client-{app}", "", "198.51.100.7", "", "", app, logged=False)


def _shape(ts: np.ndarray, start: datetime, spec: SandboxSpec, app: str) -> np.ndarray:
    """Daily and weekly demand shape, with the surge if it hits ``app``."""
    hours = (ts % 86400) / 3600.0
    daily = 1.0 + 0.6 * np.sin(2 * math.pi * (hours - 9.0) / 24.0)
    weekday = ((ts // 86400) + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday
    weekly = np.where(weekday >= 5, 0.6, 1.0)
    shape = daily * weekly
    if spec.surge and spec.surge.app == app:
        s0 = start.timestamp() + spec.surge.start_hours * 3600
        s1 = s0 + spec.surge.duration_hours * 3600
        shape = np.where((ts >= s0) & (ts < s1), shape * spec.surge.factor, shape)
    return shape


def _grid(spec: SandboxSpec, info: SandboxInfo) -> np.ndarray:
    """Start of every flow bucket, epoch seconds: from the sandbox's start, or, with request
    logs, from the first multiple of the step (where request buckets start, so a flow record
    holds the bytes of the requests a history bucket counts)."""
    step = spec.bucket_step_minutes * 60
    first = int(info.start.timestamp())
    if spec.requests is not None:
        first = -(-first // step) * step
    return np.arange(first, int(info.end.timestamp()), step, dtype=np.int64)


def _edge_bytes(
    e: _Edge,
    step: int,
    shape: np.ndarray,
    noise: np.ndarray,
    load: AppLoad | None,
) -> np.ndarray:
    """An edge's bytes per bucket: ``mbps`` at the demand shape, with noise; for an app with
    request logs (``load``) its load balancer's edges carry the requests' bytes, and its other
    edges its request volume instead of the shape (``reconciler.sandbox_load``)."""
    if load is not None and e.src.rid == f"client-{e.app}":
        return load.wire_bytes()
    if load is not None and e.src.lb is not None and isinstance(e.dst, _Node):
        return load.wire_bytes(e.dst.ip)
    if load is not None:
        shape = load.volume(float(shape.mean()))
    return np.maximum(1, (e.mbps * 1e6 / 8 * step * shape * noise)).astype(np.int64)


def _flow_frame(
    spec: SandboxSpec,
    region: str,
    edges: list[_Edge],
    info: SandboxInfo,
    rng: np.random.Generator,
    loads: dict[str, AppLoad],
) -> pl.DataFrame:
    step = spec.bucket_step_minutes * 60
    ts = _grid(spec, info)
    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "interface_id",
            "srcaddr",
            "dstaddr",
            "srcport",
            "dstport",
            "bytes",
            "start",
            "instance_id",
            "svc",
            "direction",
        )
    }

    def emit(
        eni: str,
        rid: str,
        e: _Edge,
        src: str,
        dst: str,
        sport: int,
        dport: int,
        nbytes: np.ndarray,
        direction: str,
    ) -> None:
        some = nbytes > 0  # a pair that sent nothing in a bucket has no record
        n = int(some.sum())
        cols["interface_id"] += [eni] * n
        cols["srcaddr"] += [src] * n
        cols["dstaddr"] += [dst] * n
        cols["srcport"] += [sport] * n
        cols["dstport"] += [dport] * n
        cols["bytes"] += nbytes[some].tolist()
        cols["start"] += ts[some].tolist()
        cols["instance_id"] += [rid if rid.startswith("i-") else None] * n
        cols["svc"] += [e.service if direction == "egress" else None] * n
        cols["direction"] += [direction] * n

    for e in edges:
        shape = _shape(ts, info.start, spec, e.app)
        noise = rng.lognormal(0.0, 0.15, size=len(ts))  # drawn for every edge: streams kept
        nbytes = _edge_bytes(e, step, shape, noise, loads.get(e.app))
        dst_ip = e.dst.ip if isinstance(e.dst, _Node) else e.dst
        sport = 32768 + zlib.crc32(f"{e.src.rid}>{dst_ip}".encode()) % 28000
        if e.src.logged:
            emit(e.src.eni, e.src.rid, e, e.src.ip, dst_ip, sport, e.dstport, nbytes, "egress")
        if isinstance(e.dst, _Node) and e.dst.logged:
            emit(e.dst.eni, e.dst.rid, e, e.src.ip, dst_ip, sport, e.dstport, nbytes, "ingress")
    n = len(cols["start"])
    b = np.asarray(cols["bytes"], dtype=np.int64)
    frame = pl.DataFrame(
        {
            "version": pl.Series([5] * n, dtype=pl.Int8),
            "account_id": [spec.account] * n,
            "interface_id": cols["interface_id"],
            "srcaddr": cols["srcaddr"],
            "dstaddr": cols["dstaddr"],
            "srcport": pl.Series(cols["srcport"], dtype=pl.Int32),
            "dstport": pl.Series(cols["dstport"], dtype=pl.Int32),
            "protocol": pl.Series([6] * n, dtype=pl.Int16),
            "packets": np.maximum(1, b // 1200),
            "bytes": b,
            "start": cols["start"],
            "end": [s + step - 1 for s in cols["start"]],
            "action": ["ACCEPT"] * n,
            "log_status": ["OK"] * n,
            "vpc_id": [None] * n,
            "subnet_id": [None] * n,
            "instance_id": cols["instance_id"],
            "tcp_flags": pl.Series([19] * n, dtype=pl.Int32),
            "type": ["IPv4"] * n,
            "pkt_srcaddr": cols["srcaddr"],
            "pkt_dstaddr": cols["dstaddr"],
            "region": [region] * n,
            "az_id": [None] * n,
            "sublocation_type": [None] * n,
            "sublocation_id": [None] * n,
            "pkt_src_aws_service": [None] * n,
            "pkt_dst_aws_service": cols["svc"],
            "flow_direction": cols["direction"],
            "traffic_path": pl.Series([None] * n, dtype=pl.Int8),
        },
        schema_overrides={
            "start": pl.Int64,
            "end": pl.Int64,
            "instance_id": pl.String,
            "vpc_id": pl.String,
            "subnet_id": pl.String,
            "az_id": pl.String,
            "sublocation_type": pl.String,
            "sublocation_id": pl.String,
            "pkt_src_aws_service": pl.String,
            "pkt_dst_aws_service": pl.String,
        },
    )
    return frame.select(list(FLOW_SCHEMA)).sort("start")


def _hours(frame: pl.DataFrame) -> Iterator[tuple[datetime, pl.DataFrame]]:
    keyed = frame.with_columns((pl.col("start") // 3600 * 3600).alias("__hour"))
    for (hour,), part in keyed.group_by("__hour", maintain_order=True):
        yield datetime.fromtimestamp(int(hour), UTC), part.drop("__hour")  # type: ignore[arg-type]


def _with_bad_lines(part: pl.DataFrame, fields: tuple[str, ...], count: int) -> bytes:
    import gzip

    text = render_text(part, fields, compress=False).decode()
    bad = ["2 123456789012 eni-garbled", "- - - this is not a flow record"][: max(1, count)]
    bad = (bad * count)[:count]
    return gzip.compress((text + "\n".join(bad) + "\n").encode(), mtime=0)


def _point(name: str, dims: list[dict[str, str]], at: datetime, value: float, unit: str) -> Any:
    return {"MetricName": name, "Dimensions": dims, "Timestamp": at, "Value": value, "Unit": unit}


def _put_metrics(
    cw: Any,
    frame: pl.DataFrame,
    nodes: dict[str, _Node],
    spec: SandboxSpec,
    info: SandboxInfo,
    loads: dict[str, AppLoad],
    served: pl.DataFrame,
) -> int:
    """NetworkIn/Out and packets from the flows; CPU, memory and EBS bytes from load (CPU and
    memory of the instances of ``served``, from their requests); ENA counters in a surge; load
    balancers' response times."""
    step = spec.bucket_step_minutes * 60
    if spec.metric_hours is not None:
        since = info.end.timestamp() - spec.metric_hours * 3600
        frame = frame.filter(pl.col("start") >= int(since))
    egress = frame.filter(pl.col("flow_direction") == "egress")
    ingress = frame.filter(pl.col("flow_direction") == "ingress")
    mbps = pl.col("bytes") * 8 / step / 1e6
    out_by = (
        egress.group_by("instance_id", "start")
        .agg(pl.col("bytes").sum(), pl.col("packets").sum())
        .join(served, on=["instance_id", "start"], how="left")
        .with_columns(
            pl.coalesce("cpu", pl.min_horizontal(pl.lit(100.0), 5.0 + 2.5 * mbps)),
            pl.coalesce("memory", pl.min_horizontal(pl.lit(95.0), 30.0 + mbps / 4)),
        )
    )
    in_by = ingress.group_by("instance_id", "start").agg(
        pl.col("bytes").sum(), pl.col("packets").sum()
    )
    data: list[dict[str, Any]] = []
    agent: list[dict[str, Any]] = []
    for name, by in (("Out", out_by), ("In", in_by)):
        for row in by.drop_nulls("instance_id").iter_rows(named=True):
            at = datetime.fromtimestamp(row["start"], UTC)
            dims = [{"Name": "InstanceId", "Value": row["instance_id"]}]
            data.append(_point(f"Network{name}", dims, at, float(row["bytes"]), "Bytes"))
            data.append(_point(f"NetworkPackets{name}", dims, at, float(row["packets"]), "Count"))
            if name != "Out":
                continue
            data.append(_point("CPUUtilization", dims, at, row["cpu"], "Percent"))
            # disk follows load: reads a fifth of the traffic, writes a tenth
            for disk, share in (("EBSReadBytes", 0.2), ("EBSWriteBytes", 0.1)):
                data.append(_point(disk, dims, at, float(row["bytes"]) * share, "Bytes"))
            agent.append(_point("mem_used_percent", dims, at, row["memory"], "Percent"))
            # beyond a small instance's sustained allowance
            exceeded = max(0.0, row["bytes"] * 8 / step / 1e6 - 400.0) * 10
            agent.append(_point("ethtool_bw_out_allowance_exceeded", dims, at, exceeded, "Count"))
    elb = _response_times(ingress, nodes, step, loads)
    for namespace, points in (("AWS/EC2", data), ("AWS/ApplicationELB", elb), ("CWAgent", agent)):
        for i in range(0, len(points), 1000):
            cw.put_metric_data(Namespace=namespace, MetricData=points[i : i + 1000])
    return len(data) + len(agent) + len(elb)


def _response_times(
    ingress: pl.DataFrame, nodes: dict[str, _Node], step: int, loads: dict[str, AppLoad]
) -> list[dict[str, Any]]:
    """A load balancer's ``TargetResponseTime``: its requests' mean target processing time
    when the sandbox has request logs; else 30 ms when idle, slower with its traffic (so a
    surge shows as latency too)."""
    out: list[dict[str, Any]] = []
    for node in nodes.values():
        if node.lb is None:
            continue
        dims = [{"Name": "LoadBalancer", "Value": node.lb}]
        per = (
            ingress.filter(pl.col("interface_id") == node.eni)
            .group_by("start")
            .agg(pl.col("bytes").sum())
            .sort("start")
        )
        load = loads.get(node.app)
        t0, latency = (load.start, load.latency_s()) if load is not None else (0, None)
        for start, nbytes in per.iter_rows():
            at = datetime.fromtimestamp(start, UTC)
            if latency is None:
                value = 0.03 + 0.002 * nbytes * 8 / step / 1e6
            elif math.isnan(value := float(latency[(start - t0) // step])):
                continue
            out.append(_point("TargetResponseTime", dims, at, value, "Seconds"))
    return out
