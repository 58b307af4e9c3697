"""The Compute Engine machine-type catalog: vCPU, memory and the egress cap per type.

Listed in one zone (``machineTypes.list``) when a catalog zone is configured, else across the
project's zones (``machineTypes.aggregatedList``, deduplicated by name; the same name has the
same shape in every zone). Deprecated types are left out. Bandwidth is the documented rule
(``providers.gcp.egress``): a maximum, so ``baseline_gbps`` and ``peak_gbps`` are both the cap;
shared-core types are marked ``burstable_network`` (their CPU, and so their sending, bursts).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from google.api_core.retry import Retry
from google.cloud import compute_v1

from providers.gcp.egress import egress_gbps
from providers.gcp.inventory import PAGE_SIZE
from providers.gcp.names import region_of_zone
from providers.gcp.session import gcp_errors
from providers.models import InstanceType, ProviderName

__all__ = ["collect_machine_types", "machine_type"]


def machine_type(
    raw: compute_v1.MachineType, prices: Mapping[str, float] | None = None, *, tier1: bool = False
) -> InstanceType:
    """An InstanceType from one ``machineTypes`` entry."""
    vcpus = max(1, raw.guest_cpus)
    gbps = egress_gbps(raw.name, vcpus, tier1=tier1)
    return InstanceType(
        name=raw.name,
        provider=ProviderName.GCP,
        vcpu=vcpus,
        memory_gib=raw.memory_mb / 1024.0,
        baseline_gbps=gbps,
        peak_gbps=gbps,
        hourly_price_usd=(prices or {}).get(raw.name),
        burstable_network=bool(raw.is_shared_cpu),
    )


def _keep(raw: compute_v1.MachineType) -> bool:
    return raw.deprecated.state not in {"DEPRECATED", "OBSOLETE", "DELETED"} and raw.memory_mb > 0


def collect_machine_types(
    client: compute_v1.MachineTypesClient,
    project: str,
    retry: Retry,
    *,
    zone: str | None = None,
    regions: Collection[str] | None = None,
    prices: Mapping[str, float] | None = None,
    tier1: bool = False,
) -> dict[str, InstanceType]:
    """Machine types by name: of ``zone``, else of every zone in ``regions`` (all when None)."""
    found: Iterable[compute_v1.MachineType]
    if zone is not None:
        with gcp_errors(f"machineTypes.list {zone}", region_of_zone(zone)):
            listed = compute_v1.ListMachineTypesRequest(
                project=project, zone=zone, max_results=PAGE_SIZE
            )
            found = list(client.list(request=listed, retry=retry))
    else:
        request = compute_v1.AggregatedListMachineTypesRequest(
            project=project, max_results=PAGE_SIZE
        )
        found = []
        with gcp_errors(f"machineTypes.aggregatedList {project}"):
            for scope, scoped in client.aggregated_list(request=request, retry=retry):
                where = scope.removeprefix("zones/")
                if regions is None or region_of_zone(where) in regions:
                    found.extend(scoped.machine_types)
    out: dict[str, InstanceType] = {}
    for raw in found:
        if raw.name not in out and _keep(raw):
            out[raw.name] = machine_type(raw, prices, tier1=tier1)
    return dict(sorted(out.items()))
