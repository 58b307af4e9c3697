"""``AzureProvider``: the ``CloudProvider`` contract over subscriptions and regions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from providers.azure.catalog import collect_catalog
from providers.azure.flowblobs import BlockCursor, FlowLogContainer
from providers.azure.flowtuples import mac_key
from providers.azure.inventory import collect_inventory
from providers.azure.metrics import fetch_metrics
from providers.azure.scaling import autoscale_bounds, scaling_group_of
from providers.azure.session import AzureSession
from providers.models import (
    FlowChunk,
    InstanceType,
    MetricQuery,
    MetricSeries,
    Resource,
    ScalingGroup,
    TimeWindow,
)

__all__ = ["AzureProvider"]


@dataclass
class AzureProvider:
    """Azure through one session: every subscription of ``session``, resources in ``regions``.

    ``flow_logs`` are the storage containers Network Watcher writes to (VNet or NSG flow logs);
    ``cursor`` remembers the blocks read from them (give it a path to keep it between
    processes). ``prices`` (USD/hour by size) fill the catalog's prices.
    """

    session: AzureSession
    regions: Sequence[str]
    flow_logs: Sequence[FlowLogContainer] = ()
    cursor: BlockCursor = field(default_factory=BlockCursor)
    prices: Mapping[str, float] | None = None
    name: str = "azure"
    _last: list[Resource] = field(default_factory=list, repr=False)
    _raw_sets: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)
    _catalog: dict[str, InstanceType] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.regions:
            raise ValueError("AzureProvider needs at least one region")
        self.regions = [r.lower() for r in self.regions]

    def inventory(self) -> list[Resource]:
        out: list[Resource] = []
        for sub in self.session.subscriptions:
            found, sets = collect_inventory(
                self.session.compute(sub), self.session.network(sub), sub, self.regions
            )
            out.extend(found)
            self._raw_sets[sub] = sets
        self._last = out
        return out

    def scaling_groups(self) -> list[ScalingGroup]:
        if not self._raw_sets:
            self.inventory()
        out: list[ScalingGroup] = []
        for sub in self.session.subscriptions:
            bounds = autoscale_bounds(self.session.compute(sub), sub)
            out.extend(
                scaling_group_of(raw, sub, bounds, self._last)
                for raw in self._raw_sets.get(sub, [])
            )
        return sorted(out, key=lambda g: (g.region, g.name))

    def instance_catalog(self) -> dict[str, InstanceType]:
        if self._catalog is None:
            sub = self.session.subscriptions[0]
            found = collect_catalog(self.session.compute(sub), self.regions, self.prices)
            self._catalog = found.types
        return dict(self._catalog)

    def _memory_bytes(self, resource_id: str) -> float | None:
        size = next((r.instance_type for r in self._last if r.id == resource_id), None)
        known = self.instance_catalog().get(size or "") if size else None
        return known.memory_gib * 1024**3 if known else None

    def metrics(self, queries: Sequence[MetricQuery], window: TimeWindow) -> list[MetricSeries]:
        return fetch_metrics(
            self.session.metrics(), queries, window, memory_bytes=self._memory_bytes
        )

    def flow_records(self, window: TimeWindow) -> Iterator[FlowChunk]:
        resources = self._last or self.inventory()
        nic_of_mac = {
            mac_key(eni.description): eni.id
            for r in resources
            for eni in r.interfaces
            if eni.interface_type == "nic" and eni.description
        }
        account = self.session.subscriptions[0]
        for logs in self.flow_logs:
            service = self.session.blob_service(logs.account_url, logs.credential)
            yield from logs.chunks(
                service, window, self.cursor, account=account, nic_of_mac=nic_of_mac
            )
