"""The desired state: the versioned contract between the planner and the Pulumi program.

The planner (or an operator) writes one JSON document into the stack config key
``headroom:desiredState``; the program in ``infra/`` is a pure function of it. The document is
validated here, structurally (pydantic, ``extra="forbid"``) and for internal consistency
(counts ordered, shares positive, protected resources carrying their current type), before the
program declares anything. ``infra/desired_state.schema.json`` is the exported JSON schema; a test
keeps it in step with this module (regenerate with ``python -m infra.desired_state``).

Adoption: a spec's ``import_id`` adopts an existing resource. It can stay set: once the resource
is in the stack with that id Pulumi treats it like any other resource, and a current Pulumi CLI
imports and then updates a resource whose declared inputs differ from the cloud's.

Version history: ``1`` - groups (instances, autoscaling groups, bandwidth tier, policy minimum),
edge caches per region, a CDN with origin shield, routing (Route 53 + Global Accelerator);
later additions, optional and so read by older documents too: a scaling group's own ``tags``,
a group's ``capacity_reservations``, an edge cache's ``cache_behaviors`` and ``prewarm``,
an Azure scale set's ``autoscale`` setting, and a compute spec's ``provider`` (``aws`` when absent;
``gcp`` and ``azure`` specs are checked by ``infra.clouds``: their regions, types and import
ids; AWS-only fields, the AMI, launch template and subnets, are required on AWS only).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from infra.clouds import ANY_REGION, ANY_TYPE, AWS_REGION, AWS_TYPE, Cloud, check_compute

__all__ = [
    "CACHE_MAX_NODES_CLUSTER",
    "CACHE_MAX_NODES_REPLICATED",
    "CACHE_MAX_REPLICAS",
    "CLOUDFRONT_MAX_BEHAVIORS",
    "CONFIG_KEY",
    "CONFIG_NAMESPACE",
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "AzureAutoscaleSpec",
    "BandwidthTierSpec",
    "CacheBehaviorSpec",
    "CapacityReservationSpec",
    "CdnSpec",
    "DesiredState",
    "DesiredStateError",
    "EdgeCacheSpec",
    "GroupSpec",
    "InstanceSpec",
    "RegionRoute",
    "RoutingSpec",
    "ScalingGroupSpec",
    "export_schema",
    "parse_desired_state",
]

SCHEMA_VERSION = 1
#: The stack config key holding the document: ``headroom:desiredState``.
CONFIG_NAMESPACE = "headroom"
CONFIG_KEY = "desiredState"
SCHEMA_PATH = Path(__file__).with_name("desired_state.schema.json")

_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
_REGION = AWS_REGION
_INSTANCE_TYPE = AWS_TYPE


class DesiredStateError(ValueError):
    """The desired state is malformed; the message names every failing field path."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InstanceSpec(_Spec):
    """A standalone instance of a group (EC2, Compute Engine or an Azure VM). ``import_id``
    adopts the existing instance (required on GCP and Azure, see ``infra.clouds``)."""

    provider: Cloud = Field(default="aws", description="The cloud the instance lives in.")
    name: str = Field(pattern=_NAME, description="Stable logical name (never reused).")
    region: str = Field(pattern=ANY_REGION)
    import_id: str | None = Field(
        default=None,
        description="Inventory id of the instance to adopt: i-0abc... on AWS, the relative "
        "name on GCP, the lower-cased ARM id on Azure.",
    )
    instance_type: str = Field(pattern=ANY_TYPE, description="Desired instance type.")
    current_instance_type: str | None = Field(
        default=None, pattern=ANY_TYPE, description="Type the inventory reports now."
    )
    ami: str | None = Field(
        default=None, min_length=1, description="AWS: AMI id (needed to declare the instance)."
    )
    subnet_id: str | None = None
    protected: bool = Field(default=False, description="Never resized: keeps its current type.")
    tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _protected_has_current(self) -> InstanceSpec:
        what = f"instance {self.name}"
        check_compute(self, what, is_group=False)
        if self.provider == "aws" and self.ami is None:
            raise ValueError(f"{what}: an EC2 instance needs ami (the image to declare it with)")
        if self.protected and self.current_instance_type is None:
            raise ValueError(
                f"instance {self.name}: protected needs current_instance_type (the type to keep)"
            )
        return self


class AzureAutoscaleSpec(_Spec):
    """An Azure scale set's autoscale setting (``Microsoft.Insights/autoscalesettings``).

    As an ASG's min and max move with a scale command, so do the bounds of this setting's
    ``profile`` (the default one, at ``profile_index``): its minimum and maximum are the scale
    set's ``min_size`` and ``max_size``, its default capacity ``default`` kept between them, so
    the capacity a command sets is one the autoscaler keeps. The setting's other profiles, its
    rules and notifications stay as the operator set them."""

    setting_id: str = Field(
        pattern=r"^/subscriptions/[^/A-Z]+/resourcegroups/[^/A-Z]+"
        r"/providers/microsoft\.insights/autoscalesettings/[^/A-Z]+$",
        description="The setting's lower-cased ARM id (adopted).",
    )
    profile: str = Field(min_length=1, description="Name of the profile whose bounds are set.")
    profile_index: int = Field(ge=0, description="Its position among the setting's profiles.")
    profiles: int = Field(ge=1, description="How many profiles the setting has (all kept).")
    default: int = Field(ge=0, description="The profile's default capacity (used without metrics).")

    @model_validator(mode="after")
    def _inside(self) -> AzureAutoscaleSpec:
        if self.profile_index >= self.profiles:
            raise ValueError(
                f"autoscale setting {self.setting_id}: profile_index {self.profile_index} is "
                f"not below profiles {self.profiles}"
            )
        return self


class ScalingGroupSpec(_Spec):
    """A scaling group of a group (an ASG, a GCP managed instance group, an Azure scale set):
    counts, and optionally the instance type."""

    provider: Cloud = Field(default="aws", description="The cloud the group lives in.")
    name: str = Field(pattern=_NAME, description="Stable logical name.")
    region: str = Field(pattern=ANY_REGION)
    import_id: str | None = Field(
        default=None,
        description="The group to adopt: the ASG's name on AWS, the MIG's relative name on "
        "GCP, the scale set's lower-cased ARM id on Azure.",
    )
    desired: int = Field(ge=0, description="ASG desired capacity, MIG target size, VMSS capacity.")
    min_size: int = Field(ge=0)
    max_size: int = Field(ge=0)
    launch_template_id: str | None = Field(
        default=None,
        min_length=1,
        description="AWS: the launch template (required); GCP: the MIG's instance template.",
    )
    launch_template_version: str = "$Latest"
    instance_type: str | None = Field(default=None, pattern=ANY_TYPE)
    current_instance_type: str | None = Field(default=None, pattern=ANY_TYPE)
    subnet_ids: tuple[str, ...] = Field(default=(), description="AWS: at least one subnet.")
    autoscaler_id: str | None = Field(
        default=None, description="GCP: relative name of the MIG's autoscaler (min/max)."
    )
    autoscale: AzureAutoscaleSpec | None = Field(
        default=None,
        description="Azure: the scale set's autoscale setting, its bounds set to min/max.",
    )
    protected: bool = Field(default=False, description="Instance type never changed.")
    tags: dict[str, str] = Field(
        default_factory=dict, description="The group's own tags (kept when it is adopted)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> ScalingGroupSpec:
        what = f"scaling group {self.name}"
        check_compute(self, what, is_group=True)
        if self.autoscale is not None and self.provider != "azure":
            raise ValueError(f"{what}: autoscale is an Azure autoscale setting (provider azure)")
        if self.provider == "aws" and (self.launch_template_id is None or not self.subnet_ids):
            raise ValueError(
                f"{what}: an autoscaling group needs launch_template_id and subnet_ids"
            )
        if self.provider == "gcp" and self.launch_template_id is None:
            raise ValueError(f"{what}: a managed instance group needs its instance template")
        if (
            self.provider == "gcp"
            and self.instance_type is not None
            and self.instance_type != self.current_instance_type
        ):
            raise ValueError(
                f"{what}: a managed instance group's machine type is its instance template's; "
                "a new type needs a new template (not changed by Headroom)"
            )
        if not self.min_size <= self.desired <= self.max_size:
            raise ValueError(
                f"scaling group {self.name}: need min_size <= desired <= max_size, got "
                f"{self.min_size} <= {self.desired} <= {self.max_size}"
            )
        if self.protected and self.instance_type and self.current_instance_type is None:
            raise ValueError(
                f"scaling group {self.name}: protected with an instance_type needs "
                "current_instance_type (the type to keep)"
            )
        return self

    @property
    def physical_name(self) -> str:
        """The ASG's name in the cloud: the adopted one, else the logical name."""
        return self.import_id or self.name


class BandwidthTierSpec(_Spec):
    """A group's bandwidth class: the HTB rate/ceil the host shaping agent applies."""

    tier: str = Field(pattern=_NAME, description="Tier name, e.g. gold.")
    guaranteed_mbps: float = Field(ge=0)
    ceiling_mbps: float = Field(gt=0)
    priority: int = Field(default=4, ge=0, le=7, description="0 is served first.")
    bandwidth_weighting: Literal["default", "vpc-1", "ebs-1"] = "default"

    @model_validator(mode="after")
    def _ceil(self) -> BandwidthTierSpec:
        if self.ceiling_mbps < self.guaranteed_mbps:
            raise ValueError(
                f"tier {self.tier}: ceiling {self.ceiling_mbps} Mbps is below the "
                f"guarantee {self.guaranteed_mbps} Mbps"
            )
        return self


class CapacityReservationSpec(_Spec):
    """An EC2 On-Demand Capacity Reservation held for a user/tenant group's forecast: so many
    instances of one type in one availability zone (``adjustResources``' pre-allocation)."""

    name: str = Field(pattern=_NAME, description="Stable logical name.")
    region: str = Field(pattern=_REGION)
    availability_zone: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$")
    instance_type: str = Field(pattern=_INSTANCE_TYPE)
    count: int = Field(ge=1, description="Instances reserved (released when the need drops).")
    platform: Literal["Linux/UNIX", "Windows"] = "Linux/UNIX"


class GroupSpec(_Spec):
    """An application group: its compute, its policy minimum and its bandwidth tier."""

    id: str = Field(pattern=_NAME, description="Stable group id from grouping.")
    min_count: int = Field(default=0, ge=0, description="Policy minimum of running instances.")
    instances: tuple[InstanceSpec, ...] = ()
    scaling_groups: tuple[ScalingGroupSpec, ...] = ()
    bandwidth_tier: BandwidthTierSpec | None = None
    capacity_reservations: tuple[CapacityReservationSpec, ...] = ()

    @property
    def regions(self) -> list[str]:
        found = {i.region for i in self.instances} | {s.region for s in self.scaling_groups}
        found |= {r.region for r in self.capacity_reservations}
        return sorted(found)

    @property
    def aws_regions(self) -> list[str]:
        """The regions of the group's AWS resources (where its tier parameter is written)."""
        found = {i.region for i in self.instances if i.provider == "aws"}
        found |= {s.region for s in self.scaling_groups if s.provider == "aws"}
        found |= {r.region for r in self.capacity_reservations}
        return sorted(found)

    def compute_of(self, cloud: Cloud) -> tuple[list[InstanceSpec], list[ScalingGroupSpec]]:
        """The group's instances and scaling groups in ``cloud``."""
        return (
            [i for i in self.instances if i.provider == cloud],
            [s for s in self.scaling_groups if s.provider == cloud],
        )


#: CloudFront's default quota of cache behaviours per distribution.
CLOUDFRONT_MAX_BEHAVIORS = 25


class CacheBehaviorSpec(_Spec):
    """A hot path prefix of a region's clients and how long the CDN keeps its objects."""

    path_pattern: str = Field(
        pattern=r"^/[A-Za-z0-9_\-.*$/~\"'@:+&]*\*$",
        max_length=255,
        description="CloudFront path pattern, e.g. /static/*.",
    )
    ttl_s: int = Field(ge=0, le=31_536_000, description="Default and maximum TTL (s).")


#: ElastiCache node limits (AWS "Working with shards in ElastiCache"): a group without cluster
#: mode is one shard, a primary and at most 5 replicas; cluster mode allows 500 nodes per
#: cluster (Valkey 7.2+, Redis OSS 5.0.6+; default quota 90, raised on request).
CACHE_MAX_REPLICAS = 5
CACHE_MAX_NODES_REPLICATED = 1 + CACHE_MAX_REPLICAS
CACHE_MAX_NODES_CLUSTER = 500
#: Engine version declared in cluster mode when the spec names none.
_CLUSTER_DEFAULT_VERSION = {"valkey": "8.0", "redis": "7.1"}
#: (engine, major version) -> AWS's default parameter group with cluster-enabled yes.
_CLUSTER_PARAMETER_GROUPS = {
    ("valkey", "7"): "default.valkey7.cluster.on",
    ("valkey", "8"): "default.valkey8.cluster.on",
    ("redis", "6"): "default.redis6.x.cluster.on",
    ("redis", "7"): "default.redis7.cluster.on",
}


class EdgeCacheSpec(_Spec):
    """An ElastiCache replication group in one region, optionally fronted by origin shield.

    Two shapes, and what ``num_nodes`` buys in each:

    * cluster mode disabled (``shards`` None): ``num_nodes`` cache clusters, a primary and
      read replicas (at most 6). Replicas add read throughput, not memory: the cache holds one
      node's memory. The bandwidth-threshold rule sizes this shape.
    * cluster mode enabled (``shards`` set): data is partitioned over ``shards`` node groups
      of a primary and ``replicas_per_shard`` replicas each, so memory is ``shards`` nodes'
      worth and ``num_nodes`` (every node, as AWS counts them) must be
      ``shards x (1 + replicas_per_shard)``. A miss-ratio-curve command's nodes are shards.
      Cluster mode needs a parameter group with ``cluster-enabled yes``: ``parameter_group_name``,
      else the engine's default ``.cluster.on`` group for ``engine_version`` (``cluster_engine``).

    Limits (AWS, "Working with shards in ElastiCache", docs.aws.amazon.com/AmazonElastiCache/
    latest/dg/Shards.html): a shard is a primary and up to 5 replicas; cluster mode allows up
    to 500 nodes per cluster (Valkey 7.2+, Redis OSS 5.0.6+; the default quota is 90, raised on
    request). Turning cluster mode on is one-way and needs clients that speak the cluster
    protocol (AWS "Modifying cluster mode"); it is never turned off here.

    ``cache_behaviors`` (the hot prefixes the planner found, with TTLs) become CloudFront cache
    behaviours when a CDN is described; ``prewarm`` lists the objects predicted hot before a
    forecast peak, for the operator (nothing fetches them).
    """

    region: str = Field(pattern=_REGION)
    replication_group_id: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")
    import_id: str | None = None
    node_type: str = Field(pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")
    num_nodes: int = Field(
        ge=1,
        le=CACHE_MAX_NODES_CLUSTER,
        description="Nodes in the group: cache clusters (cluster mode off, at most 6), or "
        "shards x (1 + replicas_per_shard) in cluster mode.",
    )
    min_nodes: int = Field(
        default=1, ge=1, le=CACHE_MAX_NODES_CLUSTER, description="Policy minimum of nodes."
    )
    shards: int | None = Field(
        default=None,
        ge=1,
        le=CACHE_MAX_NODES_CLUSTER,
        description="Cluster mode enabled with this many shards (node groups): memory scales "
        "out. None: cluster mode disabled.",
    )
    replicas_per_shard: int = Field(
        default=0,
        ge=0,
        le=CACHE_MAX_REPLICAS,
        description="Read replicas in each shard (cluster mode only).",
    )
    engine: Literal["redis", "valkey"] = "valkey"
    engine_version: str | None = Field(
        default=None,
        pattern=r"^(\d+\.\d+(\.\d+)?|6\.x)$",
        description="Engine version; in cluster mode it picks the default parameter group "
        "(None: valkey 8.0, redis 7.1).",
    )
    parameter_group_name: str | None = Field(
        default=None,
        min_length=1,
        description="Cache parameter group (cluster mode: one with cluster-enabled yes; None: "
        "the engine's default .cluster.on group).",
    )
    subnet_group_name: str | None = None
    security_group_ids: tuple[str, ...] = ()
    origin_shield: bool = Field(default=False, description="Add a CDN origin shielded here.")
    origin_domain: str | None = Field(default=None, description="Regional origin for the CDN.")
    cache_behaviors: tuple[CacheBehaviorSpec, ...] = Field(
        default=(), description="Hot path prefixes and their TTL (CDN cache behaviours)."
    )
    prewarm: tuple[str, ...] = Field(
        default=(), description="Objects predicted hot to pre-warm (an output for the operator)."
    )

    @property
    def cluster_mode(self) -> bool:
        """Memory scales out over shards (cluster mode enabled)."""
        return self.shards is not None

    @property
    def cluster_engine(self) -> tuple[str, str]:
        """(engine version, parameter group) declared in cluster mode; raises ValueError when
        no default ``.cluster.on`` group is known for the version and none is named."""
        version = self.engine_version or _CLUSTER_DEFAULT_VERSION[self.engine]
        if self.parameter_group_name is not None:
            return version, self.parameter_group_name
        major = version.split(".")[0]
        group = _CLUSTER_PARAMETER_GROUPS.get((self.engine, major))
        if group is None:
            raise ValueError(
                f"edge cache {self.replication_group_id}: no default cluster-mode parameter "
                f"group for {self.engine} {version}; set parameter_group_name"
            )
        return version, group

    @model_validator(mode="after")
    def _shield_needs_origin(self) -> EdgeCacheSpec:
        if self.origin_shield and not self.origin_domain:
            raise ValueError(
                f"edge cache {self.replication_group_id}: origin_shield needs origin_domain"
            )
        _no_duplicates(
            f"edge cache {self.replication_group_id} path_pattern",
            [b.path_pattern for b in self.cache_behaviors],
        )
        return self

    @model_validator(mode="after")
    def _nodes_fit_the_mode(self) -> EdgeCacheSpec:
        name = f"edge cache {self.replication_group_id}"
        if self.shards is None:
            if self.replicas_per_shard:
                raise ValueError(f"{name}: replicas_per_shard needs shards (cluster mode)")
            for field, value in (("num_nodes", self.num_nodes), ("min_nodes", self.min_nodes)):
                if value > CACHE_MAX_NODES_REPLICATED:
                    raise ValueError(
                        f"{name}: {field} {value} > {CACHE_MAX_NODES_REPLICATED}, the most a "
                        "group without cluster mode holds (a primary and 5 replicas); set "
                        "shards for cluster mode"
                    )
            return self
        total = self.shards * (1 + self.replicas_per_shard)
        if total > CACHE_MAX_NODES_CLUSTER:
            raise ValueError(
                f"{name}: {self.shards} shards x (1 + {self.replicas_per_shard} replicas) = "
                f"{total} nodes > {CACHE_MAX_NODES_CLUSTER}, ElastiCache's cluster-mode limit"
            )
        if self.num_nodes != total:
            raise ValueError(
                f"{name}: num_nodes {self.num_nodes} is not shards x (1 + replicas_per_shard) "
                f"= {total}"
            )
        _ = self.cluster_engine  # raises when no parameter group is known
        return self


class CdnSpec(_Spec):
    """The CloudFront distribution whose origins get origin shield per edge-cache region."""

    name: str = Field(pattern=_NAME)
    import_id: str | None = None
    default_origin_region: str = Field(pattern=_REGION)
    failover_region: str | None = Field(
        default=None,
        pattern=_REGION,
        description="Second shielded region the default behaviour fails over to (5xx).",
    )
    price_class: Literal["PriceClass_All", "PriceClass_200", "PriceClass_100"] = "PriceClass_All"


class RegionRoute(_Spec):
    """One region of a routed application: its share of traffic and where it points."""

    region: str = Field(pattern=_REGION)
    share: float = Field(ge=0, description="Relative share; normalised to Route 53 weights.")
    target: str = Field(min_length=1, description="DNS name (CNAME) or IP (A) of the region.")
    record_import_id: str | None = None
    health_check_id: str | None = None
    traffic_dial: float | None = Field(default=None, ge=0, le=100)
    endpoint_ids: tuple[str, ...] = Field(default=(), description="GA endpoints (ALB/NLB ARNs).")
    endpoint_group_import_id: str | None = None


class RoutingSpec(_Spec):
    """Weighted routing across regions: Route 53 records and Global Accelerator traffic dials."""

    name: str = Field(pattern=_NAME)
    zone_id: str = Field(min_length=1)
    record_name: str = Field(min_length=1)
    record_type: Literal["CNAME", "A", "AAAA"] = "CNAME"
    ttl: int = Field(default=60, ge=0)
    min_share: float = Field(default=0.0, ge=0, lt=1, description="Policy minimum per region.")
    listener_arn: str | None = Field(default=None, description="Global Accelerator listener.")
    regions: tuple[RegionRoute, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _shares(self) -> RoutingSpec:
        names = [r.region for r in self.regions]
        if len(set(names)) != len(names):
            raise ValueError(f"routing {self.name}: a region is listed twice in {names}")
        if sum(r.share for r in self.regions) <= 0:
            raise ValueError(f"routing {self.name}: shares sum to 0; nothing would be routed")
        if self.min_share * len(self.regions) > 1:
            raise ValueError(
                f"routing {self.name}: min_share {self.min_share} x {len(self.regions)} "
                "regions exceeds 100%"
            )
        return self


class DesiredState(_Spec):
    """Everything the Pulumi program declares, as the planner decided it."""

    schema_version: Literal[1] = Field(description="Bumped on any incompatible change.")
    generated_at: datetime | None = None
    generated_by: str = "headroom"
    groups: tuple[GroupSpec, ...] = ()
    edge_caches: tuple[EdgeCacheSpec, ...] = ()
    cdn: CdnSpec | None = None
    routing: tuple[RoutingSpec, ...] = ()

    @field_validator("schema_version", mode="before")
    @classmethod
    def _supported(cls, value: object) -> object:
        if value != SCHEMA_VERSION:
            raise ValueError(
                f"unsupported schema_version {value!r}: this program reads version "
                f"{SCHEMA_VERSION} (see infra/desired_state.schema.json)"
            )
        return value

    @model_validator(mode="after")
    def _unique(self) -> DesiredState:
        _no_duplicates("group id", [g.id for g in self.groups])
        names = [i.name for g in self.groups for i in g.instances]
        names += [s.name for g in self.groups for s in g.scaling_groups]
        _no_duplicates("compute name", names)
        _no_duplicates(
            "capacity reservation name",
            [r.name for g in self.groups for r in g.capacity_reservations],
        )
        _no_duplicates("replication_group_id", [c.replication_group_id for c in self.edge_caches])
        _no_duplicates("routing name", [r.name for r in self.routing])
        shielded = [c for c in self.edge_caches if c.origin_shield]
        if shielded and self.cdn is None:
            raise ValueError("edge caches ask for origin shield but no cdn is described")
        if self.cdn and self.cdn.default_origin_region not in {c.region for c in shielded}:
            raise ValueError(
                f"cdn {self.cdn.name}: default_origin_region {self.cdn.default_origin_region} "
                "has no edge cache with origin_shield and origin_domain"
            )
        patterns = {b.path_pattern for c in self.edge_caches for b in c.cache_behaviors}
        if self.cdn and len(patterns) > CLOUDFRONT_MAX_BEHAVIORS:
            raise ValueError(
                f"cdn {self.cdn.name}: {len(patterns)} cache behaviours exceed CloudFront's "
                f"{CLOUDFRONT_MAX_BEHAVIORS} per distribution"
            )
        failover = self.cdn.failover_region if self.cdn else None
        if failover is not None and self.cdn is not None:
            if failover == self.cdn.default_origin_region:
                raise ValueError(f"cdn {self.cdn.name}: failover_region equals the default region")
            if failover not in {c.region for c in shielded}:
                raise ValueError(
                    f"cdn {self.cdn.name}: failover_region {failover} has no edge cache with "
                    "origin_shield and origin_domain"
                )
        return self

    @property
    def regions(self) -> list[str]:
        """Every region the state touches (one AWS provider is declared per region)."""
        found = {r for g in self.groups for r in g.regions}
        found |= {c.region for c in self.edge_caches}
        found |= {r.region for rt in self.routing for r in rt.regions}
        return sorted(found)


def _no_duplicates(what: str, values: list[str]) -> None:
    dupes = sorted(v for v, n in Counter(values).items() if n > 1)
    if dupes:
        raise ValueError(f"duplicate {what}: {', '.join(dupes)}")


def parse_desired_state(raw: str | bytes | dict[str, object], *, source: str) -> DesiredState:
    """Validate a desired-state document, raising ``DesiredStateError`` naming every bad field."""
    try:
        if isinstance(raw, dict):
            return DesiredState.model_validate(raw)
        return DesiredState.model_validate_json(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            path = ".".join(str(p) for p in err["loc"]) or "<document>"
            lines.append(f"  {path}: {err['msg']}")
        raise DesiredStateError(
            f"desired state from {source} is invalid ({exc.error_count()} errors):\n"
            + "\n".join(lines)
        ) from None


def export_schema(path: Path = SCHEMA_PATH) -> str:
    """Write the JSON schema of ``DesiredState`` to ``path``; returns the text written."""
    schema = DesiredState.model_json_schema()
    schema["$id"] = f"https://headroom.dev/schemas/desired-state/v{SCHEMA_VERSION}.json"
    text = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    path.write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":  # pragma: no cover - regeneration entry point
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_PATH
    export_schema(target)
    print(f"wrote {target}")
