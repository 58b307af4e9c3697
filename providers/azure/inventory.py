"""Azure inventory: VMs (standalone and scale-set members) with tags, NICs with their private and
public addresses, subnets and VNets, and load balancers by their frontends.

Read per subscription with the ``list_all`` operations (every resource group at once; the SDK
follows ``nextLink``). Items are read in their REST shape (``as_dict()`` of the SDK models:
camelCase, fields under ``properties``), the shape the recorded fixtures keep. Uniform scale
sets keep their members and NICs under the scale set, so those are listed per scale set. Ids are
lower-cased ARM ids (``providers.azure.ids``); every resource gets a ``Name`` tag with its ARM
name unless it has one, as EC2 instances do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from providers.azure.errors import azure_errors
from providers.azure.ids import arm_id, id_part, resource_group
from providers.models import NetworkInterface, ProviderName, Resource, ResourceKind

__all__ = ["NetworkView", "collect_inventory", "collect_network", "vm_resource"]

#: powerState codes of a VM that is not running (its inventory state says which).
_POWER = "PowerState/"


def _dicts(items: Iterable[Any]) -> list[dict[str, Any]]:
    return [i.as_dict() if hasattr(i, "as_dict") else dict(i) for i in items]


def _props(item: Mapping[str, Any]) -> dict[str, Any]:
    return dict(item.get("properties") or {})


def _ref(item: Mapping[str, Any] | None) -> str:
    """The lower-cased id of a sub-resource reference (``{"id": ...}``), "" when absent."""
    return arm_id((item or {}).get("id"))


@dataclass
class NetworkView:
    """One subscription's network: NICs by id, public addresses by id, subnet -> VNet."""

    nics: dict[str, dict[str, Any]] = field(default_factory=dict)
    public_ips: dict[str, str] = field(default_factory=dict)
    vnet_of_subnet: dict[str, str] = field(default_factory=dict)

    def interface(self, nic_id: str) -> NetworkInterface | None:
        """The NIC as a ``NetworkInterface`` (None when the subscription has no such NIC)."""
        nic = self.nics.get(arm_id(nic_id))
        if nic is None:
            return None
        private: list[str] = []
        public: list[str] = []
        ipv6: list[str] = []
        subnet: str | None = None
        for conf in _props(nic).get("ipConfigurations") or []:
            conf = _props(conf)
            address = conf.get("privateIPAddress")
            if address:
                (ipv6 if conf.get("privateIPAddressVersion") == "IPv6" else private).append(address)
            pip = self.public_ips.get(_ref(conf.get("publicIPAddress")))
            if pip:
                public.append(pip)
            subnet = subnet or _ref(conf.get("subnet")) or None
        return NetworkInterface(
            id=arm_id(nic["id"]),
            private_ips=tuple(dict.fromkeys(private)),
            public_ips=tuple(dict.fromkeys(public)),
            ipv6_ips=tuple(dict.fromkeys(ipv6)),
            subnet_id=subnet,
            vpc_id=self.vnet_of_subnet.get(subnet or ""),
            interface_type="nic",
            description=str(_props(nic).get("macAddress") or ""),
        )


def collect_network(network: Any, subscription: str) -> NetworkView:
    """NICs, public IPs and VNets/subnets of one subscription."""
    view = NetworkView()
    with azure_errors(f"ListNetworkInterfaces {subscription}"):
        view.nics = {arm_id(n["id"]): n for n in _dicts(network.network_interfaces.list_all())}
    with azure_errors(f"ListPublicIPAddresses {subscription}"):
        view.public_ips = {
            arm_id(p["id"]): _props(p)["ipAddress"]
            for p in _dicts(network.public_ip_addresses.list_all())
            if _props(p).get("ipAddress")
        }
    with azure_errors(f"ListVirtualNetworks {subscription}"):
        for vnet in _dicts(network.virtual_networks.list_all()):
            for subnet in _props(vnet).get("subnets") or []:
                view.vnet_of_subnet[arm_id(subnet["id"])] = arm_id(vnet["id"])
    return view


def _power_state(vm: Mapping[str, Any]) -> str:
    props = _props(vm)
    statuses = (props.get("instanceView") or {}).get("statuses") or []
    for status in statuses:
        code = str(status.get("code", ""))
        if code.startswith(_POWER):
            return code.removeprefix(_POWER)
    return str(props.get("provisioningState") or "unknown").lower()


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def _image(vm: Mapping[str, Any]) -> str | None:
    ref = (_props(vm).get("storageProfile") or {}).get("imageReference") or {}
    if ref.get("id"):
        return str(ref["id"])
    parts = [ref.get(k) for k in ("publisher", "offer", "sku", "version")]
    return ":".join(str(p) for p in parts) if all(parts) else None


def vm_resource(
    vm: Mapping[str, Any],
    subscription: str,
    view: NetworkView,
    *,
    scale_set: str | None = None,
    size: str | None = None,
) -> Resource:
    """A Resource for one VM (or scale-set VM) as ARM lists it."""
    props = _props(vm)
    nic_ids = [n["id"] for n in (props.get("networkProfile") or {}).get("networkInterfaces") or []]
    interfaces = tuple(i for i in (view.interface(n) for n in nic_ids) if i is not None)
    tags = {"Name": str(vm.get("name", "")), **(vm.get("tags") or {})}
    owner = scale_set or _ref(props.get("virtualMachineScaleSet")) or None
    if owner:
        tags.setdefault("headroom:scaleSet", owner)
    zones = vm.get("zones") or []
    return Resource(
        id=arm_id(vm["id"]),
        provider=ProviderName.AZURE,
        account=subscription,
        region=str(vm.get("location", "")).lower(),
        zone=str(zones[0]) if zones else None,
        kind=ResourceKind.INSTANCE,
        instance_type=size or (props.get("hardwareProfile") or {}).get("vmSize"),
        state=_power_state(vm),
        tags=tags,
        interfaces=interfaces,
        launched_at=_when(props.get("timeCreated")),
        image_id=_image(vm),
    )


def _load_balancers(network: Any, subscription: str, view: NetworkView) -> list[Resource]:
    out: list[Resource] = []
    with azure_errors(f"ListLoadBalancers {subscription}"):
        found = _dicts(network.load_balancers.list_all())
    for lb in found:
        private: list[str] = []
        public: list[str] = []
        for front in _props(lb).get("frontendIPConfigurations") or []:
            front = _props(front)
            if front.get("privateIPAddress"):
                private.append(front["privateIPAddress"])
            pip = view.public_ips.get(_ref(front.get("publicIPAddress")))
            if pip:
                public.append(pip)
        rid = arm_id(lb["id"])
        out.append(
            Resource(
                id=rid,
                provider=ProviderName.AZURE,
                account=subscription,
                region=str(lb.get("location", "")).lower(),
                kind=ResourceKind.LOAD_BALANCER,
                state=str(_props(lb).get("provisioningState") or "unknown").lower(),
                tags={"Name": str(lb.get("name", "")), **(lb.get("tags") or {})},
                interfaces=(
                    NetworkInterface(
                        id=f"{rid}/frontends",
                        private_ips=tuple(private),
                        public_ips=tuple(public),
                        interface_type="load_balancer",
                    ),
                )
                if private or public
                else (),
            )
        )
    return out


def collect_inventory(
    compute: Any, network: Any, subscription: str, regions: Iterable[str] | None = None
) -> tuple[list[Resource], list[dict[str, Any]]]:
    """(resources, raw scale sets) of one subscription; only ``regions`` when given.

    Uniform scale-set members come from each scale set's VM list (their NICs from its NIC
    list); flexible members are ordinary VMs that name their scale set.
    """
    wanted = {r.lower() for r in regions} if regions is not None else None
    view = collect_network(network, subscription)
    out: list[Resource] = []
    with azure_errors(f"ListVirtualMachines {subscription}"):
        vms = _dicts(compute.virtual_machines.list_all(status_only="true"))
    out.extend(vm_resource(vm, subscription, view) for vm in vms)
    with azure_errors(f"ListVirtualMachineScaleSets {subscription}"):
        scale_sets = _dicts(compute.virtual_machine_scale_sets.list_all())
    for ss in scale_sets:
        if str(_props(ss).get("orchestrationMode") or "Uniform") != "Uniform":
            continue
        group, name = resource_group(ss["id"]), id_part(ss["id"], "virtualMachineScaleSets")
        with azure_errors(f"ListScaleSetNetworkInterfaces {name}"):
            for nic in _dicts(
                network.network_interfaces.list_virtual_machine_scale_set_network_interfaces(
                    group, name
                )
            ):
                view.nics[arm_id(nic["id"])] = nic
        with azure_errors(f"ListScaleSetVMs {name}"):
            members = _dicts(compute.virtual_machine_scale_set_vms.list(group, name))
        size = (ss.get("sku") or {}).get("name")
        for vm in members:
            vm.setdefault("location", ss.get("location"))
            out.append(vm_resource(vm, subscription, view, scale_set=arm_id(ss["id"]), size=size))
    out.extend(_load_balancers(network, subscription, view))
    if wanted is not None:
        out = [r for r in out if r.region in wanted]
        scale_sets = [s for s in scale_sets if str(s.get("location", "")).lower() in wanted]
    return sorted(out, key=lambda r: r.id), scale_sets
