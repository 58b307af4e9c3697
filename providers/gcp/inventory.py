"""Compute Engine inventory: instances with labels, network tags and NICs, across zones.

Instances come from one ``instances.aggregatedList`` (every zone of the project, paginated).
A zone the API reports as unreachable (``unreachables``) fails the call rather
than returning a fleet with holes: a missing instance would read as a deleted one.

Each instance's id is its relative resource name; its NICs are ``<id>/nic0``... (the unit a
VPC flow-log record is attributed to); labels become tags as they are, network tags one
comma-joined ``gcp:network-tags`` entry, and ``Name`` the instance's name.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from google.api_core.retry import Retry
from google.cloud import compute_v1

from providers.base import ProviderUnavailableError
from providers.gcp.names import last_segment, region_of_zone, relative_name
from providers.gcp.session import gcp_errors
from providers.models import NetworkInterface, ProviderName, Resource, ResourceKind

__all__ = [
    "NETWORK_TAGS",
    "STATES",
    "GceInstance",
    "collect_instances",
    "fail_on_unreachable",
    "instance_resource",
    "interface_of",
]

#: Tag key holding an instance's network tags (firewall targets), comma-joined and sorted.
NETWORK_TAGS = "gcp:network-tags"
#: Compute Engine status -> the state names the rest of Headroom uses (EC2's).
STATES = {
    "PROVISIONING": "pending",
    "STAGING": "pending",
    "RUNNING": "running",
    "STOPPING": "stopping",
    "SUSPENDING": "stopping",
    "SUSPENDED": "stopped",
    "TERMINATED": "stopped",
    "REPAIRING": "pending",
}
#: Instances listed per page (the API's maximum is 500).
PAGE_SIZE = 500


def interface_of(nic: compute_v1.NetworkInterface, instance_id: str) -> NetworkInterface:
    """A NetworkInterface for one NIC: internal IP, external (NAT) IPs, IPv6."""
    public = [ac.nat_i_p for ac in nic.access_configs if ac.nat_i_p]
    ipv6 = [nic.ipv6_address] if nic.ipv6_address else []
    ipv6 += [ac.external_ipv6 for ac in nic.ipv6_access_configs if ac.external_ipv6]
    return NetworkInterface(
        id=f"{instance_id}/{nic.name or 'nic0'}",
        private_ips=(nic.network_i_p,) if nic.network_i_p else (),
        public_ips=tuple(dict.fromkeys(public)),
        ipv6_ips=tuple(dict.fromkeys(ipv6)),
        subnet_id=relative_name(nic.subnetwork) if nic.subnetwork else None,
        vpc_id=relative_name(nic.network) if nic.network else None,
        interface_type=(nic.nic_type or "nic").lower(),
        description=nic.name,
    )


def _launched(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class GceInstance:
    """An instance as listed, with the numeric id Cloud Monitoring labels its series with."""

    resource: Resource
    numeric_id: str


def instance_resource(inst: compute_v1.Instance, project: str) -> GceInstance:
    """A Resource (and its numeric id) for one ``instances.aggregatedList`` entry."""
    zone = last_segment(inst.zone)
    rid = f"projects/{project}/zones/{zone}/instances/{inst.name}"
    tags = dict(inst.labels)
    tags["Name"] = inst.name
    if inst.tags.items:
        tags[NETWORK_TAGS] = ",".join(sorted(inst.tags.items))
    resource = Resource(
        id=rid,
        provider=ProviderName.GCP,
        account=project,
        region=region_of_zone(zone),
        zone=zone,
        kind=ResourceKind.INSTANCE,
        instance_type=last_segment(inst.machine_type) if inst.machine_type else None,
        state=STATES.get(inst.status, inst.status.lower() or "unknown"),
        tags=tags,
        interfaces=tuple(interface_of(n, rid) for n in inst.network_interfaces),
        launched_at=_launched(inst.creation_timestamp),
    )
    return GceInstance(resource, str(inst.id))


def fail_on_unreachable(scopes: Iterable[str], operation: str) -> None:
    missing = sorted(set(scopes))
    if missing:
        raise ProviderUnavailableError(
            f"the API could not reach {', '.join(missing)}: the fleet would be incomplete",
            operation=operation,
        )


def collect_instances(
    client: compute_v1.InstancesClient,
    project: str,
    regions: Collection[str] | None,
    retry: Retry,
) -> list[GceInstance]:
    """Every instance of ``project`` in ``regions`` (all regions when None), by id."""
    request = compute_v1.AggregatedListInstancesRequest(project=project, max_results=PAGE_SIZE)
    out: list[GceInstance] = []
    unreachable: list[str] = []
    op = f"instances.aggregatedList {project}"
    with gcp_errors(op):
        pager = client.aggregated_list(request=request, retry=retry)
        for page in pager.pages:
            unreachable.extend(page.unreachables)
            for scope, scoped in page.items.items():
                if not scope.startswith("zones/"):
                    continue
                zone = scope.removeprefix("zones/")
                if regions is not None and region_of_zone(zone) not in regions:
                    continue
                out.extend(instance_resource(i, project) for i in scoped.instances)
    fail_on_unreachable(unreachable, op)
    return sorted(out, key=lambda g: g.resource.id)
