"""``MultiProvider``: several clouds behind the one ``CloudProvider`` contract.

A cycle over AWS and Azure (or GCP) sees one fleet: inventories, scaling groups and flow
chunks (and request-log chunks, from the providers that read request logs) are
concatenated in the order the providers were given, catalogs merged (a type name
two clouds share keeps the first cloud's entry; real names do not collide:
``m5.large``, ``n2-standard-4``, ``Standard_D4s_v5``). Metric queries go to the provider whose
inventory holds the resource. An error from one provider is re-raised as the same contract
type with the provider's name first (``azure: ListVirtualMachines: ...``), so an operator
knows which cloud to look at.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from providers.base import CloudProvider, ProviderError, RequestLogProvider
from providers.models import (
    FlowChunk,
    InstanceType,
    MetricQuery,
    MetricSeries,
    RequestChunk,
    Resource,
    ScalingGroup,
    TimeWindow,
)

__all__ = ["MultiProvider", "named_errors"]


@contextmanager
def named_errors(name: str) -> Iterator[None]:
    """Re-raise a provider error in the block as its own type, its message led by ``name``;
    ``operation`` and ``region`` are kept and the original is the cause."""
    try:
        yield
    except ProviderError as exc:
        if str(exc).startswith(f"{name}: "):
            raise
        try:
            named = type(exc)(f"{name}: {exc}")
        except TypeError:  # a subclass with its own constructor: keep the contract's base
            named = ProviderError(f"{name}: {exc}")
        named.operation, named.region = exc.operation, exc.region
        raise named from exc


@dataclass
class MultiProvider:
    """The providers of ``providers`` as one; its ``name`` joins theirs (``aws+azure``)."""

    providers: Sequence[CloudProvider]
    name: str = ""
    _owner: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.providers:
            raise ValueError("MultiProvider needs at least one provider")
        names = [p.name for p in self.providers]
        if len(set(names)) != len(names):
            raise ValueError(f"providers must have distinct names, got {names}")
        self.name = self.name or "+".join(names)

    def inventory(self) -> list[Resource]:
        out: list[Resource] = []
        owner: dict[str, int] = {}
        for i, provider in enumerate(self.providers):
            with named_errors(provider.name):
                found = provider.inventory()
            for r in found:
                owner.setdefault(r.id, i)
            out.extend(found)
        self._owner = owner
        return out

    def scaling_groups(self) -> list[ScalingGroup]:
        out: list[ScalingGroup] = []
        for provider in self.providers:
            with named_errors(provider.name):
                out.extend(provider.scaling_groups())
        return out

    def instance_catalog(self) -> dict[str, InstanceType]:
        merged: dict[str, InstanceType] = {}
        for provider in self.providers:
            with named_errors(provider.name):
                found = provider.instance_catalog()
            for name, itype in found.items():
                merged.setdefault(name, itype)
        return merged

    def metrics(self, queries: Sequence[MetricQuery], window: TimeWindow) -> list[MetricSeries]:
        """Each query to the provider owning its resource (an inventory is listed first when a
        resource is not known yet); a resource no provider lists gets an empty series."""
        if any(q.resource_id not in self._owner for q in queries):
            self.inventory()
        routed: dict[int, list[MetricQuery]] = {}
        orphans: list[MetricSeries] = []
        for q in queries:
            i = self._owner.get(q.resource_id)
            if i is None:
                orphans.append(
                    MetricSeries(
                        resource_id=q.resource_id, metric=q.metric, stat=q.stat, period_s=q.period_s
                    )
                )
            else:
                routed.setdefault(i, []).append(q)
        out: list[MetricSeries] = []
        for i, mine in sorted(routed.items()):
            provider = self.providers[i]
            with named_errors(provider.name):
                out.extend(provider.metrics(mine, window))
        return out + orphans

    def flow_records(self, window: TimeWindow) -> Iterator[FlowChunk]:
        for provider in self.providers:
            with named_errors(provider.name):
                yield from provider.flow_records(window)

    def request_records(
        self,
        window: TimeWindow,
        tenant_field: str | None = None,
        edge_regions: Mapping[str, str] | None = None,
    ) -> Iterator[RequestChunk]:
        """Request-log chunks of every provider that reads request logs, in order."""
        for provider in self.providers:
            if isinstance(provider, RequestLogProvider):
                with named_errors(provider.name):
                    yield from provider.request_records(window, tenant_field, edge_regions)
