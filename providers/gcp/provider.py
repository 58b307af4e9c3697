"""``GcpProvider``: the ``CloudProvider`` contract over one Google Cloud project.

Inventory, MIGs and the machine-type catalog come from Compute Engine (REST transport),
metrics from Cloud Monitoring, flow records from the ``vpc_flows`` log (Cloud Logging, or a
sink export in Cloud Storage when ``export_root`` is set). ``regions`` None means every region
of the project. Monitoring labels series with an instance's numeric id and a flow record
names its VM by name: the provider keeps both from its last inventory (listing it when it has
none), as the AWS provider keeps each resource's region.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from google.cloud import compute_v1

from providers.gcp.catalog import collect_machine_types
from providers.gcp.flowlogs import ExportFileSystem, ExportSource, LoggingSource
from providers.gcp.inventory import collect_instances
from providers.gcp.metrics import METRIC_SOURCES, GcpMetric, fetch_metrics
from providers.gcp.scaling import MigClients, collect_migs
from providers.gcp.session import GcpSessionFactory
from providers.models import (
    FlowChunk,
    InstanceType,
    MetricName,
    MetricQuery,
    MetricSeries,
    Resource,
    ScalingGroup,
    TimeWindow,
)

__all__ = ["GcpProvider", "connect"]


@dataclass
class GcpProvider:
    """Google Cloud through one session factory (one project).

    ``sample_rates`` (``<project>/<subnetwork>`` -> the subnet's flow sampling) scale sampled
    flow counts; ``catalog_zone`` lists machine types in that zone only; ``tier1`` reads the
    catalog's caps with Tier_1 networking; ``prices`` (USD/hour by type) fill its prices.
    ``export_fs`` reads ``export_root`` (``gcsfs.core.GCSFileSystem`` in production).
    """

    factory: GcpSessionFactory
    regions: Sequence[str] | None = None
    catalog_zone: str | None = None
    tier1: bool = False
    prices: Mapping[str, float] | None = None
    sample_rates: Mapping[str, float] = field(default_factory=dict)
    export_root: str | None = None
    export_fs: ExportFileSystem | None = None
    metric_sources: Mapping[MetricName, GcpMetric] = field(
        default_factory=lambda: dict(METRIC_SOURCES)
    )
    name: str = "gcp"
    _numeric: dict[str, str] = field(default_factory=dict, repr=False)
    _nics: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    @property
    def project(self) -> str:
        return self.factory.project

    def _regions(self) -> set[str] | None:
        return set(self.regions) if self.regions else None

    def inventory(self) -> list[Resource]:
        client = self.factory.compute(compute_v1.InstancesClient)
        found = collect_instances(client, self.project, self._regions(), self.factory.retry())
        self._numeric = {g.resource.id: g.numeric_id for g in found}
        self._nics = {
            (g.resource.id, ip): nic.id
            for g in found
            for nic in g.resource.interfaces
            for ip in nic.private_ips
        }
        return [g.resource for g in found]

    def scaling_groups(self) -> list[ScalingGroup]:
        clients = MigClients(
            self.factory.compute(compute_v1.InstanceGroupManagersClient),
            self.factory.compute(compute_v1.RegionInstanceGroupManagersClient),
            self.factory.compute(compute_v1.AutoscalersClient),
            self.factory.retry(),
        )
        return collect_migs(clients, self.project, self._regions())

    def instance_catalog(self) -> dict[str, InstanceType]:
        return collect_machine_types(
            self.factory.compute(compute_v1.MachineTypesClient),
            self.project,
            self.factory.retry(),
            zone=self.catalog_zone,
            regions=self._regions(),
            prices=self.prices,
            tier1=self.tier1,
        )

    def metrics(self, queries: Sequence[MetricQuery], window: TimeWindow) -> list[MetricSeries]:
        """Instances not seen by an inventory yet are looked up first (one inventory call)."""
        if any(q.resource_id not in self._numeric for q in queries):
            self.inventory()
        return fetch_metrics(
            self.factory.rest_get,
            self.project,
            queries,
            window,
            self._numeric,
            sources=self.metric_sources,
        )

    def flow_records(self, window: TimeWindow) -> Iterator[FlowChunk]:
        if not self._nics:
            self.inventory()
        if self.export_root is not None:
            if self.export_fs is None:
                # the JSON API class: the package's default (gcsfs >= 2026.1) first asks the
                # Storage Control API (gRPC) for each bucket's layout, a call and a permission
                # reading a sink export does not need, and waits a minute when it cannot
                from gcsfs.core import GCSFileSystem

                self.export_fs = GCSFileSystem(project=self.project, token=self.factory.creds())
            source = ExportSource(self.export_root, self.sample_rates)
            yield from source.chunks(self.export_fs, window, self._nics)
            return
        logging = LoggingSource(self.project, self.sample_rates)
        yield from logging.chunks(self.factory.rest_post, window, self._nics)


def connect(
    project: str,
    regions: Sequence[str] | None = None,
    *,
    key_path: str | None = None,
    impersonate: str | None = None,
) -> GcpProvider:
    """The GCP provider for ``project`` with the usual credentials: ``key_path`` (a
    service-account key file), else Application Default Credentials; either may impersonate
    the service account ``impersonate``. ``regions`` None or empty: every region."""
    factory = GcpSessionFactory(project=project, key_path=key_path, impersonate=impersonate)
    return GcpProvider(factory=factory, regions=list(regions) if regions else None)
