"""EdgeCaches: an ElastiCache replication group per asked region, and CloudFront origin shield.

Caches exist only in the regions the desired state lists. A cache with ``shards`` runs in
cluster mode (``num_node_groups`` shards of ``1 + replicas_per_node_group`` nodes, a
``.cluster.on`` parameter group): its memory is ``shards`` nodes' worth, as a curve-sized
command expects. Without, it is ``num_cache_clusters`` nodes, a primary and read replicas
(one node's memory, more read throughput), as the bandwidth-threshold rule sizes it.

Regions marked ``origin_shield`` become origins of one CloudFront distribution with Origin
Shield in that same region, so cache misses from every edge collapse onto one regional request.
The caches' hot path prefixes (``cache_behaviors``) become the distribution's ordered cache
behaviours, each with a cache policy of its TTL (a pattern named by several regions keeps the
longest TTL; longer patterns first). The objects to pre-warm are an output (``prewarm``) for
the operator; nothing fetches them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi_aws.cloudfront import (
    CachePolicyParametersInCacheKeyAndForwardedToOriginArgs as _Params,
)
from pulumi_aws.cloudfront import (
    CachePolicyParametersInCacheKeyAndForwardedToOriginCookiesConfigArgs as _Cookies,
)
from pulumi_aws.cloudfront import (
    CachePolicyParametersInCacheKeyAndForwardedToOriginHeadersConfigArgs as _Headers,
)
from pulumi_aws.cloudfront import (
    CachePolicyParametersInCacheKeyAndForwardedToOriginQueryStringsConfigArgs as _Query,
)

from infra.desired_state import CacheBehaviorSpec, CdnSpec, EdgeCacheSpec
from infra.guards import GuardEvent, cache_nodes

__all__ = [
    "CACHING_OPTIMIZED_POLICY_ID",
    "FAILOVER_STATUS_CODES",
    "EdgeCaches",
    "EdgeCachesArgs",
]

COMPONENT_TYPE = "headroom:infra:EdgeCaches"
#: AWS managed cache policy "CachingOptimized".
CACHING_OPTIMIZED_POLICY_ID = "658327ea-f89d-4fab-a63d-7e88639e58f6"
#: Origin responses that send a request to the failover region's origin instead.
FAILOVER_STATUS_CODES = (500, 502, 503, 504)


@dataclass(frozen=True)
class EdgeCachesArgs:
    caches: tuple[EdgeCacheSpec, ...]
    cdn: CdnSpec | None = None


@dataclass(frozen=True)
class _Size:
    """A replication group's declared shape: its nodes, shards (cluster mode) and arguments."""

    nodes: int
    shards: int | None
    arguments: dict[str, Any]


def _size(cache: EdgeCacheSpec, count: int) -> _Size:
    """The shape arguments for ``count`` nodes (the spec's, raised to the policy minimum).

    Cluster mode (``cache.shards``): ``num_node_groups`` shards of a primary and
    ``replicas_per_node_group`` replicas, with a ``cluster-enabled`` parameter group; AWS wants
    automatic failover on in cluster mode, Multi-AZ needs a replica. Otherwise
    ``num_cache_clusters``: a primary and replicas, one node's memory."""
    extra: dict[str, Any] = {}
    if cache.shards is None:
        if cache.engine_version is not None:
            extra["engine_version"] = cache.engine_version
        if cache.parameter_group_name is not None:
            extra["parameter_group_name"] = cache.parameter_group_name
        return _Size(
            nodes=count,
            shards=None,
            arguments={
                "num_cache_clusters": count,
                "automatic_failover_enabled": count > 1,
                "multi_az_enabled": count > 1,
                **extra,
            },
        )
    per = 1 + cache.replicas_per_shard
    shards = max(cache.shards, math.ceil(count / per))
    version, group = cache.cluster_engine
    return _Size(
        nodes=shards * per,
        shards=shards,
        arguments={
            "cluster_mode": "enabled",
            "num_node_groups": shards,
            "replicas_per_node_group": cache.replicas_per_shard,
            "parameter_group_name": group,
            "engine_version": version,
            "automatic_failover_enabled": True,
            "multi_az_enabled": cache.replicas_per_shard > 0,
        },
    )


def _origin_id(region: str) -> str:
    return f"origin-{region}"


class EdgeCaches(pulumi.ComponentResource):
    """Declares the caches; ``nodes`` maps replication group id to its applied node count,
    ``shards`` (cluster-mode caches only) to its shards, the nodes whose memory adds up."""

    nodes: dict[str, int]
    shards: dict[str, int]
    prewarm: dict[str, list[str]]
    events: list[GuardEvent]

    def __init__(
        self, name: str, args: EdgeCachesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.events = []
        self.nodes = {}
        self.shards = {}
        self.prewarm = {c.replication_group_id: list(c.prewarm) for c in args.caches if c.prewarm}
        for cache in args.caches:
            count = cache_nodes(cache, self.events)
            size = _size(cache, count)
            self.nodes[cache.replication_group_id] = size.nodes
            if size.shards is not None:
                self.shards[cache.replication_group_id] = size.shards
            aws.elasticache.ReplicationGroup(
                cache.replication_group_id,
                replication_group_id=cache.replication_group_id,
                description=f"Headroom edge cache in {cache.region}",
                region=cache.region,
                engine=cache.engine,
                node_type=cache.node_type,
                apply_immediately=True,
                subnet_group_name=cache.subnet_group_name,
                security_group_ids=list(cache.security_group_ids) or None,
                tags={"headroom:managed": "true", "headroom:region": cache.region},
                opts=pulumi.ResourceOptions(
                    parent=self,
                    import_=cache.import_id,
                    retain_on_delete=cache.import_id is not None,  # adopted: never deleted
                ),
                **size.arguments,
            )
        shielded = [c for c in args.caches if c.origin_shield]
        if args.cdn is not None and shielded:
            self._distribution(args.cdn, shielded, _behaviors(args.caches))
        self.register_outputs({"nodes": self.nodes, "shards": self.shards, "prewarm": self.prewarm})

    def _cache_policy(self, cdn: CdnSpec, ttl: int) -> aws.cloudfront.CachePolicy:
        """A cache policy keeping objects ``ttl`` seconds (no cookies, headers or query)."""
        params = _Params(
            cookies_config=_Cookies(cookie_behavior="none"),
            headers_config=_Headers(header_behavior="none"),
            query_strings_config=_Query(query_string_behavior="none"),
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )
        return aws.cloudfront.CachePolicy(
            f"{cdn.name}-ttl-{ttl}",
            name=f"{cdn.name}-ttl-{ttl}",
            comment=f"Headroom hot prefixes of {cdn.name}: TTL {ttl} s",
            min_ttl=0,
            default_ttl=ttl,
            max_ttl=ttl,
            parameters_in_cache_key_and_forwarded_to_origin=params,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _ordered(
        self, cdn: CdnSpec, target: str, behaviors: list[CacheBehaviorSpec]
    ) -> list[aws.cloudfront.DistributionOrderedCacheBehaviorArgs] | None:
        policies = {
            ttl: self._cache_policy(cdn, ttl) for ttl in sorted({b.ttl_s for b in behaviors})
        }
        return [
            aws.cloudfront.DistributionOrderedCacheBehaviorArgs(
                path_pattern=b.path_pattern,
                target_origin_id=target,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=["GET", "HEAD"],
                cached_methods=["GET", "HEAD"],
                compress=True,
                cache_policy_id=policies[b.ttl_s].id,
            )
            for b in behaviors
        ] or None

    def _distribution(
        self, cdn: CdnSpec, shielded: list[EdgeCacheSpec], behaviors: list[CacheBehaviorSpec]
    ) -> aws.cloudfront.Distribution:
        origins = [
            aws.cloudfront.DistributionOriginArgs(
                origin_id=_origin_id(c.region),
                domain_name=str(c.origin_domain),
                origin_shield=aws.cloudfront.DistributionOriginOriginShieldArgs(
                    enabled=True, origin_shield_region=c.region
                ),
                custom_origin_config=aws.cloudfront.DistributionOriginCustomOriginConfigArgs(
                    http_port=80,
                    https_port=443,
                    origin_protocol_policy="https-only",
                    origin_ssl_protocols=["TLSv1.2"],
                ),
            )
            for c in shielded
        ]
        target = _origin_id(cdn.default_origin_region)
        groups = None
        if cdn.failover_region is not None:
            members = [target, _origin_id(cdn.failover_region)]
            target = f"failover-{cdn.default_origin_region}"
            groups = [
                aws.cloudfront.DistributionOriginGroupArgs(
                    origin_id=target,
                    members=[
                        aws.cloudfront.DistributionOriginGroupMemberArgs(origin_id=m)
                        for m in members
                    ],
                    failover_criteria=aws.cloudfront.DistributionOriginGroupFailoverCriteriaArgs(
                        status_codes=list(FAILOVER_STATUS_CODES)
                    ),
                )
            ]
        return aws.cloudfront.Distribution(
            cdn.name,
            enabled=True,
            origin_groups=groups,
            comment=f"Headroom CDN {cdn.name}",
            price_class=cdn.price_class,
            origins=origins,
            ordered_cache_behaviors=self._ordered(cdn, target, behaviors),
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id=target,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=["GET", "HEAD"],
                cached_methods=["GET", "HEAD"],
                cache_policy_id=CACHING_OPTIMIZED_POLICY_ID,
            ),
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(
                    restriction_type="none"
                )
            ),
            viewer_certificate=aws.cloudfront.DistributionViewerCertificateArgs(
                cloudfront_default_certificate=True
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                import_=cdn.import_id,
                retain_on_delete=cdn.import_id is not None,  # adopted: never deleted
            ),
        )


def _behaviors(caches: tuple[EdgeCacheSpec, ...]) -> list[CacheBehaviorSpec]:
    """Every cache's hot path patterns once (the longest TTL), longer patterns first."""
    ttl: dict[str, int] = {}
    for c in caches:
        for b in c.cache_behaviors:
            ttl[b.path_pattern] = max(ttl.get(b.path_pattern, 0), b.ttl_s)
    order = sorted(ttl, key=lambda p: (-len(p), p))
    return [CacheBehaviorSpec(path_pattern=p, ttl_s=ttl[p]) for p in order]
