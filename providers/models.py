"""Provider-neutral models: what every cloud provider returns, whatever cloud it talks to.

Resources, instance types and metric series are pydantic models (validated at the edge).
Flow records are columnar: a Polars schema (``FLOW_SCHEMA``) that every flow-log parser
produces, so the history store never sees a provider's own format.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "FLOW_FIELDS_V2",
    "FLOW_PASS_THROUGH",
    "FLOW_SCHEMA",
    "FLOW_SCHEMA_FULL",
    "METRIC_KINDS",
    "REQUEST_SCHEMA",
    "FlowChunk",
    "InstanceType",
    "MetricName",
    "MetricQuery",
    "MetricSeries",
    "NetworkInterface",
    "ProviderName",
    "RejectedRecord",
    "RequestChunk",
    "RequestLogKind",
    "Resource",
    "ResourceKind",
    "ScalingGroup",
    "TimeWindow",
    "metric_applies",
]


class ProviderName(StrEnum):
    AWS = "aws"
    GCP = "gcp"
    AZURE = "azure"
    FAKE = "fake"


class ResourceKind(StrEnum):
    """What a resource is; flows to load balancers and NAT gateways resolve to these kinds."""

    INSTANCE = "instance"
    LOAD_BALANCER = "load_balancer"
    NAT_GATEWAY = "nat_gateway"
    VPC_ENDPOINT = "vpc_endpoint"
    LAMBDA = "lambda"
    DATABASE = "database"
    OTHER = "other"


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"timestamp {value.isoformat()} has no timezone; use UTC")
    return value.astimezone(UTC)


class TimeWindow(BaseModel):
    """A half-open interval ``[start, end)`` in UTC."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return _utc(value)

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.end <= self.start:
            raise ValueError(
                f"window end {self.end.isoformat()} is not after start {self.start.isoformat()}"
            )
        return self

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def contains(self, ts: datetime) -> bool:
        return self.start <= ts < self.end


class NetworkInterface(BaseModel):
    """An ENI / NIC with its addresses; the unit flow logs are recorded against."""

    model_config = ConfigDict(frozen=True)

    id: str
    private_ips: tuple[str, ...] = ()
    public_ips: tuple[str, ...] = ()
    ipv6_ips: tuple[str, ...] = ()
    subnet_id: str | None = None
    vpc_id: str | None = None
    interface_type: str = "interface"
    description: str = ""

    @field_validator("private_ips", "public_ips", "ipv6_ips")
    @classmethod
    def _valid_ips(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            try:
                ipaddress.ip_address(value)
            except ValueError as exc:
                raise ValueError(f"not an IP address: {value!r}") from exc
        return values

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.private_ips + self.public_ips + self.ipv6_ips


class Resource(BaseModel):
    """A thing that sends or receives traffic: an instance, a load balancer, a NAT gateway..."""

    model_config = ConfigDict(frozen=True)

    id: str
    provider: ProviderName
    account: str
    region: str
    zone: str | None = None
    kind: ResourceKind = ResourceKind.INSTANCE
    instance_type: str | None = None
    state: str = "running"
    tags: dict[str, str] = Field(default_factory=dict)
    interfaces: tuple[NetworkInterface, ...] = ()
    launched_at: datetime | None = None
    #: The machine image an instance runs (needed to declare it in the stack); None elsewhere.
    image_id: str | None = None

    @property
    def subnet_id(self) -> str | None:
        """The subnet of the first interface (where the resource lives), if known."""
        return next((eni.subnet_id for eni in self.interfaces if eni.subnet_id), None)

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(ip for eni in self.interfaces for ip in eni.addresses)

    @property
    def name(self) -> str:
        return self.tags.get("Name", self.id)


class ScalingGroup(BaseModel):
    """An autoscaling group as the cloud has it now: counts, launch template, subnets, members.

    Read back every cycle so the settings in force are the cloud's, not Headroom's memory of
    what it last applied (a manual change shows as drift).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    provider: ProviderName
    account: str
    region: str
    desired: int = Field(ge=0)
    min_size: int = Field(ge=0)
    max_size: int = Field(ge=0)
    launch_template_id: str | None = None
    launch_template_version: str | None = None
    subnet_ids: tuple[str, ...] = ()
    instance_ids: tuple[str, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)


#: An Azure VM size: tier, family letters, vCPUs, constrained vCPUs, features, version
#: (``Standard_D4s_v5``, ``Standard_E4-2s_v5``, ``Standard_F8s_v2``, ``Standard_B2ms``).
_AZURE_SIZE = re.compile(r"^(?:Standard|Basic)_([A-Z]+)(\d+)(-\d+)?([a-z]*)(?:_?(v\d+))?$")


class InstanceType(BaseModel):
    """An entry of a provider's instance catalog.

    ``baseline_gbps`` is the sustained network bandwidth; ``peak_gbps`` the burst ("up to")
    figure. Guarantees must be sized on the baseline.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    provider: ProviderName = ProviderName.AWS
    vcpu: int = Field(gt=0)
    memory_gib: float = Field(gt=0)
    baseline_gbps: float = Field(ge=0)
    peak_gbps: float = Field(ge=0)
    hourly_price_usd: float | None = Field(default=None, ge=0)
    burstable_network: bool = False

    @model_validator(mode="after")
    def _peak_not_below_baseline(self) -> InstanceType:
        if self.peak_gbps < self.baseline_gbps:
            raise ValueError(
                f"{self.name}: peak {self.peak_gbps} Gbps is below baseline {self.baseline_gbps}"
            )
        return self

    @property
    def family(self) -> str:
        """``m6i`` of ``m6i.large``; on GCP ``n2-standard`` of ``n2-standard-4``; on Azure the
        series as Azure writes it, ``Dsv5`` of ``Standard_D4s_v5``."""
        if self.provider is ProviderName.GCP:
            return self.name.rsplit("-", 1)[0]
        if self.provider is ProviderName.AZURE:
            m = _AZURE_SIZE.match(self.name)
            return m.group(1) + m.group(4) + (m.group(5) or "") if m else self.name
        return self.name.split(".", 1)[0]

    @property
    def size(self) -> str:
        """``large`` of ``m6i.large``; on GCP the last part, ``4`` of ``n2-standard-4``; on Azure
        the vCPU count, ``4`` of ``Standard_D4s_v5`` (``4-2`` of a constrained ``E4-2s_v5``)."""
        if self.provider is ProviderName.GCP:
            return self.name.rsplit("-", 1)[1] if "-" in self.name else ""
        if self.provider is ProviderName.AZURE:
            m = _AZURE_SIZE.match(self.name)
            return m.group(2) + (m.group(3) or "") if m else ""
        return self.name.split(".", 1)[1] if "." in self.name else ""


class MetricName(StrEnum):
    """Metrics Headroom collects, named provider-neutrally."""

    NETWORK_IN = "NetworkIn"
    NETWORK_OUT = "NetworkOut"
    NETWORK_PACKETS_IN = "NetworkPacketsIn"
    NETWORK_PACKETS_OUT = "NetworkPacketsOut"
    CPU_UTILIZATION = "CPUUtilization"
    EBS_READ_BYTES = "EBSReadBytes"
    EBS_WRITE_BYTES = "EBSWriteBytes"
    MEMORY_USED_PERCENT = "mem_used_percent"
    BW_IN_ALLOWANCE_EXCEEDED = "bw_in_allowance_exceeded"
    BW_OUT_ALLOWANCE_EXCEEDED = "bw_out_allowance_exceeded"
    PPS_ALLOWANCE_EXCEEDED = "pps_allowance_exceeded"
    #: Seconds from a load balancer sending a request to a target until the response starts.
    TARGET_RESPONSE_TIME = "TargetResponseTime"


#: The kinds of resource each metric is published for: the collect step asks a resource only
#: for the metrics of its kind (no CPUUtilization of a load balancer, no response time of an
#: instance). A metric missing here is asked of no resource.
METRIC_KINDS: dict[MetricName, frozenset[ResourceKind]] = {
    m: frozenset({ResourceKind.INSTANCE}) for m in MetricName
} | {MetricName.TARGET_RESPONSE_TIME: frozenset({ResourceKind.LOAD_BALANCER})}


def metric_applies(metric: MetricName, kind: ResourceKind) -> bool:
    """Whether resources of ``kind`` publish ``metric`` (``METRIC_KINDS``)."""
    return kind in METRIC_KINDS.get(metric, frozenset())


class MetricQuery(BaseModel):
    model_config = ConfigDict(frozen=True)

    resource_id: str
    metric: MetricName
    stat: str = "Average"
    period_s: int = Field(default=300, gt=0)
    region: str | None = None


class MetricSeries(BaseModel):
    """Points of one metric of one resource, sorted by time."""

    resource_id: str
    metric: MetricName
    stat: str = "Average"
    unit: str = ""
    period_s: int = 300
    timestamps: list[datetime] = Field(default_factory=list)
    values: list[float] = Field(default_factory=list)

    @model_validator(mode="after")
    def _aligned(self) -> MetricSeries:
        if len(self.timestamps) != len(self.values):
            raise ValueError(
                f"{self.resource_id}/{self.metric}: {len(self.timestamps)} timestamps "
                f"but {len(self.values)} values"
            )
        pairs = sorted(zip(self.timestamps, self.values, strict=True), key=lambda p: p[0])
        self.timestamps = [_utc(t) for t, _ in pairs]
        self.values = [v for _, v in pairs]
        return self


# --- flow records -------------------------------------------------------------------------

#: The default (version 2) VPC flow-log format, in order.
FLOW_FIELDS_V2: tuple[str, ...] = (
    "version",
    "account_id",
    "interface_id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log_status",
)

_TS = pl.Datetime("us", "UTC")

#: Normalised flow record: every v2-v5 field, nullable where the format may leave it out ("-").
#: Field names use underscores (AWS's ``${log-status}`` becomes ``log_status``).
FLOW_SCHEMA: dict[str, pl.DataType] = {
    "version": pl.Int8(),
    "account_id": pl.String(),
    "interface_id": pl.String(),
    "srcaddr": pl.String(),
    "dstaddr": pl.String(),
    "srcport": pl.Int32(),
    "dstport": pl.Int32(),
    "protocol": pl.Int16(),
    "packets": pl.Int64(),
    "bytes": pl.Int64(),
    "start": _TS,
    "end": _TS,
    "action": pl.String(),
    "log_status": pl.String(),
    # v3
    "vpc_id": pl.String(),
    "subnet_id": pl.String(),
    "instance_id": pl.String(),
    "tcp_flags": pl.Int32(),
    "type": pl.String(),
    "pkt_srcaddr": pl.String(),
    "pkt_dstaddr": pl.String(),
    # v4
    "region": pl.String(),
    "az_id": pl.String(),
    "sublocation_type": pl.String(),
    "sublocation_id": pl.String(),
    # v5
    "pkt_src_aws_service": pl.String(),
    "pkt_dst_aws_service": pl.String(),
    "flow_direction": pl.String(),
    "traffic_path": pl.Int8(),
}

#: What the flow-log parsers produce and the history store keeps: ``FLOW_SCHEMA`` followed by
#: every field AWS added since (the v7 ECS fields, v8 ``reject-reason``) and ``extra_fields``.
#: ``FLOW_SCHEMA`` stays the v2-v5 prefix that producers of synthetic records write.
FLOW_SCHEMA_FULL: dict[str, pl.DataType] = FLOW_SCHEMA | {
    # v7: ECS (Fargate and EC2-launched tasks)
    "ecs_cluster_arn": pl.String(),
    "ecs_cluster_name": pl.String(),
    "ecs_container_instance_arn": pl.String(),
    "ecs_container_instance_id": pl.String(),
    "ecs_container_id": pl.String(),
    "ecs_second_container_id": pl.String(),
    "ecs_service_name": pl.String(),
    "ecs_task_definition_arn": pl.String(),
    "ecs_task_arn": pl.String(),
    "ecs_task_id": pl.String(),
    # v8: why VPC Block Public Access rejected the traffic
    "reject_reason": pl.String(),
    # fields AWS added after this list, as a JSON object {field: text} (not a flow-log field)
    "extra_fields": pl.String(),
}

#: Columns of ``FLOW_SCHEMA`` that Headroom adds (no flow-log format may name them).
FLOW_PASS_THROUGH: frozenset[str] = frozenset({"extra_fields"})


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A record that could not be used, kept aside with where it came from and why."""

    source: str
    line: int | None
    raw: str
    reason: str


@dataclass(frozen=True, slots=True)
class FlowChunk:
    """Flow records parsed from one source object (an S3 key, a log stream page...).

    ``source`` identifies the object and its version (e.g. ``s3://bucket/key#etag``) so the
    history store can refuse to ingest the same object twice.
    """

    source: str
    records: pl.DataFrame
    rejected: list[RejectedRecord] = field(default_factory=list)
    #: Fields the object named that Headroom does not know (kept in ``extra_fields``).
    unknown_fields: tuple[str, ...] = ()


class RequestLogKind(StrEnum):
    """Which request log a record came from."""

    ALB = "alb"
    CLOUDFRONT = "cloudfront"


#: Normalised request record: what every request-log parser (ALB access logs, CloudFront standard
#: logs) produces. Raw identity stays in memory only: ``tenant_raw`` is the policy's tenant key as
#: the log carries it (None where the log has no such field), and the users package hashes it
#: before anything is written; the client IP is never kept.
#:
#: - ``ts``: when the request was received (ALB ``request_creation_time``, else ``time``;
#:   CloudFront ``date`` + ``time``), UTC.
#: - ``serving_region``: the region whose origin served it (the ALB's region; for CloudFront the
#:   distribution's origin region as configured, None when unknown).
#: - ``client_region``: where the client is, as a cloud region (CloudFront's edge location mapped
#:   to its nearest region; for an ALB, its own region).
#: - ``edge_location``: CloudFront's ``x-edge-location`` (e.g. ``IAD89-C1``); None for ALB.
#: - ``method``, ``host``, ``path`` (URI stem, no query), ``query`` (without ``?``; None if empty).
#: - ``status``: the status returned to the client.
#: - ``bytes_in`` / ``bytes_out``: request / response bytes (ALB ``received_bytes`` /
#:   ``sent_bytes``; CloudFront ``cs-bytes`` / ``sc-bytes``).
#: - ``latency_ms``: ALB request + target + response processing time (None when any is -1);
#:   CloudFront ``time-taken``.
#: - ``origin_ms``: ALB ``target_processing_time`` (ms); None for CloudFront.
#: - ``target_ip``: ALB ``target:port``'s address (resolved to a resource later); None otherwise.
#: - ``cache_result``: CloudFront ``x-edge-result-type`` (Hit, RefreshHit, Miss, ...); None ALB.
#: - ``tenant_raw``: see above.
REQUEST_SCHEMA: dict[str, pl.DataType] = {
    "ts": _TS,
    "log_kind": pl.String(),
    "source": pl.String(),
    "serving_region": pl.String(),
    "client_region": pl.String(),
    "edge_location": pl.String(),
    "method": pl.String(),
    "host": pl.String(),
    "path": pl.String(),
    "query": pl.String(),
    "status": pl.Int32(),
    "bytes_in": pl.Int64(),
    "bytes_out": pl.Int64(),
    "latency_ms": pl.Float64(),
    "origin_ms": pl.Float64(),
    "target_ip": pl.String(),
    "cache_result": pl.String(),
    "tenant_raw": pl.String(),
}


@dataclass(frozen=True, slots=True)
class RequestChunk:
    """Request records parsed from one log object (``source``: ``s3://bucket/key#etag``).

    Bad lines never raise: they are in ``rejected`` with their line number and reason."""

    source: str
    kind: RequestLogKind
    records: pl.DataFrame  # REQUEST_SCHEMA
    rejected: list[RejectedRecord] = field(default_factory=list)
