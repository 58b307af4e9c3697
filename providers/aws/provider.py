"""``AwsProvider``: the ``CloudProvider`` contract over several regions and accounts."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from providers.aws.catalog import collect_catalog
from providers.aws.flowsources import CloudWatchFlowSource, S3FlowSource, discover_flow_sources
from providers.aws.inventory import collect_inventory
from providers.aws.metrics import METRIC_SOURCES, MetricSource, fetch_metrics
from providers.aws.requestlogs import check_tenant_field
from providers.aws.requestsources import (
    RequestLogSource,
    discover_alb_sources,
    discover_cloudfront_sources,
)
from providers.aws.scaling import collect_scaling_groups
from providers.aws.session import AwsSessionFactory
from providers.models import (
    FlowChunk,
    InstanceType,
    MetricName,
    MetricQuery,
    MetricSeries,
    RequestChunk,
    RequestLogKind,
    Resource,
    ScalingGroup,
    TimeWindow,
)

__all__ = ["AwsProvider", "FlowSource"]

FlowSource = S3FlowSource | CloudWatchFlowSource


@dataclass
class AwsProvider:
    """AWS through one session factory.

    ``accounts`` are reached by assuming ``factory.role_name`` in each; None means the
    factory's own account. ``flow_sources`` per region override discovery through
    ``describe_flow_logs``. ``prices`` (USD/hour by type) fill the catalog's prices.
    ``request_sources`` override discovery of ALB access logs and CloudFront standard logs;
    ``edge_regions`` (the policy's ``users.edge_regions``) add CloudFront edge codes -> region.
    """

    factory: AwsSessionFactory
    regions: Sequence[str]
    accounts: Sequence[str] | None = None
    flow_sources: Mapping[str, Sequence[FlowSource]] | None = None
    prices: Mapping[str, float] | None = None
    request_sources: Sequence[RequestLogSource] | None = None
    edge_regions: Mapping[str, str] | None = None
    metric_sources: Mapping[MetricName, MetricSource] = field(
        default_factory=lambda: dict(METRIC_SOURCES)
    )
    name: str = "aws"
    #: How long a fetched instance catalog is reused by this provider: types and their specs
    #: change with AWS launches, not between cycles, and DescribeInstanceTypes pages through
    #: every type in the region (seconds a call).
    catalog_ttl: timedelta = timedelta(hours=6)
    _regions_of: dict[str, str] = field(default_factory=dict, repr=False)
    _catalog: tuple[float, dict[str, InstanceType]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.regions:
            raise ValueError("AwsProvider needs at least one region")

    def _accounts(self) -> list[tuple[str | None, str]]:
        """(account to assume or None, account id) pairs."""
        if self.accounts is None:
            return [(None, self.factory.account_id())]
        return [(a, a) for a in self.accounts]

    def inventory(self) -> list[Resource]:
        out: list[Resource] = []
        for assume, account in self._accounts():
            for region in self.regions:
                ec2 = self.factory.client("ec2", region, assume)
                elbv2 = self.factory.client("elbv2", region, assume)
                found = collect_inventory(ec2, account, region, elbv2)
                out.extend(found)
                self._regions_of.update({r.id: region for r in found})
        return out

    def scaling_groups(self) -> list[ScalingGroup]:
        out: list[ScalingGroup] = []
        for assume, account in self._accounts():
            for region in self.regions:
                autoscaling = self.factory.client("autoscaling", region, assume)
                out.extend(collect_scaling_groups(autoscaling, account, region))
        return out

    def instance_catalog(self) -> dict[str, InstanceType]:
        """The region's instance types, fetched at most once per ``catalog_ttl``."""
        now = time.monotonic()
        if self._catalog is not None and now - self._catalog[0] < self.catalog_ttl.total_seconds():
            return dict(self._catalog[1])
        ec2 = self.factory.client("ec2", self.regions[0])
        catalog = collect_catalog(ec2, self.regions[0], self.prices)
        self._catalog = (now, catalog)
        return dict(catalog)

    def metrics(self, queries: Sequence[MetricQuery], window: TimeWindow) -> list[MetricSeries]:
        """Queries are sent to each query's region (or the resource's last known region)."""
        by_region: dict[str, list[int]] = {}
        for i, q in enumerate(queries):
            region = q.region or self._regions_of.get(q.resource_id, self.regions[0])
            by_region.setdefault(region, []).append(i)
        results: list[MetricSeries | None] = [None] * len(queries)
        for region, indexes in by_region.items():
            cw = self.factory.client("cloudwatch", region)
            batch = [queries[i] for i in indexes]
            got = fetch_metrics(cw, batch, window, region=region, sources=self.metric_sources)
            for i, series in zip(indexes, got, strict=True):
                results[i] = series
        return [s for s in results if s is not None]

    def sources(self, region: str, assume: str | None, account: str) -> Sequence[FlowSource]:
        if self.flow_sources is not None:
            return self.flow_sources.get(region, ())
        return discover_flow_sources(self.factory.client("ec2", region, assume), account, region)

    def flow_records(self, window: TimeWindow) -> Iterator[FlowChunk]:
        for assume, account in self._accounts():
            for region in self.regions:
                for source in self.sources(region, assume, account):
                    if isinstance(source, S3FlowSource):
                        s3 = self.factory.client("s3", region, assume)
                        yield from source.chunks(s3, window)
                    else:
                        logs = self.factory.client("logs", region, assume)
                        yield from source.chunks(logs, window)

    def _request_sources(self) -> list[tuple[str | None, RequestLogSource]]:
        """(account to assume or None, source): the configured sources, else every ALB with
        access logs in each region and every CloudFront distribution with standard logging."""
        if self.request_sources is not None:
            mine = set(self.accounts or ())
            return [(s.account if s.account in mine else None, s) for s in self.request_sources]
        out: list[tuple[str | None, RequestLogSource]] = []
        for assume, account in self._accounts():
            for region in self.regions:
                elbv2 = self.factory.client("elbv2", region, assume)
                out.extend((assume, s) for s in discover_alb_sources(elbv2, account, region))
            cloudfront = self.factory.client("cloudfront", "us-east-1", assume)
            out.extend((assume, s) for s in discover_cloudfront_sources(cloudfront, account))
        return out

    def request_records(
        self,
        window: TimeWindow,
        tenant_field: str | None = None,
        edge_regions: Mapping[str, str] | None = None,
    ) -> Iterator[RequestChunk]:
        """ALB and CloudFront request logs delivered in ``window``, one chunk per object
        (``RequestLogProvider``). ALB buckets are read in the load balancer's region; a
        CloudFront log bucket through the first region (S3 redirects to the bucket's own)."""
        check_tenant_field(tenant_field)
        for assume, source in self._request_sources():
            region = source.region if source.kind == RequestLogKind.ALB else None
            s3 = self.factory.client("s3", region or self.regions[0], assume)
            edges = {**(self.edge_regions or {}), **(edge_regions or {})}
            yield from source.chunks(s3, window, tenant_field, edges or None)
