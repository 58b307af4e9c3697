"""EdgeCaches: an ElastiCache replication group per asked region, and CloudFront origin shield.

Caches exist only in the regions the desired state lists. Regions marked ``origin_shield`` become
origins of one CloudFront distribution with Origin Shield in that same region, so cache misses
from every edge collapse onto one regional request.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.desired_state import CdnSpec, EdgeCacheSpec
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


def _origin_id(region: str) -> str:
    return f"origin-{region}"


class EdgeCaches(pulumi.ComponentResource):
    """Declares the caches; ``nodes`` maps replication group id to its applied node count."""

    nodes: dict[str, int]
    events: list[GuardEvent]

    def __init__(
        self, name: str, args: EdgeCachesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.events = []
        self.nodes = {}
        for cache in args.caches:
            count = cache_nodes(cache, self.events)
            self.nodes[cache.replication_group_id] = count
            aws.elasticache.ReplicationGroup(
                cache.replication_group_id,
                replication_group_id=cache.replication_group_id,
                description=f"Headroom edge cache in {cache.region}",
                region=cache.region,
                engine=cache.engine,
                node_type=cache.node_type,
                num_cache_clusters=count,
                automatic_failover_enabled=count > 1,
                multi_az_enabled=count > 1,
                apply_immediately=True,
                subnet_group_name=cache.subnet_group_name,
                security_group_ids=list(cache.security_group_ids) or None,
                tags={"headroom:managed": "true", "headroom:region": cache.region},
                opts=pulumi.ResourceOptions(
                    parent=self,
                    import_=cache.import_id,
                    retain_on_delete=cache.import_id is not None,  # adopted: never deleted
                ),
            )
        shielded = [c for c in args.caches if c.origin_shield]
        if args.cdn is not None and shielded:
            self._distribution(args.cdn, shielded)
        self.register_outputs({"nodes": self.nodes})

    def _distribution(
        self, cdn: CdnSpec, shielded: list[EdgeCacheSpec]
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
