"""EC2 inventory: instances with tags and addresses, and the managed ENIs flows go through.

Load balancer, NAT gateway, VPC endpoint, Lambda and RDS interfaces are turned into resources
of their own kind (several ENIs of one load balancer become one resource), so flows to them
resolve to something meaningful rather than to an unknown private address.

Application, network and gateway load balancers are also listed through ELBv2, for their tags
(tenant and app tags group them) and state. Their id, ``elb:<ARN suffix>`` (``elb:app/web/
0123456789abcdef``), is the one their ENIs' descriptions give, so both views meet in one
resource, and the suffix is the ``LoadBalancer`` dimension their CloudWatch metrics carry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from providers.aws.session import aws_errors
from providers.models import NetworkInterface, ProviderName, Resource, ResourceKind

__all__ = [
    "collect_inventory",
    "collect_load_balancers",
    "instance_resource",
    "interface_of",
    "load_balancer_id",
    "managed_kind",
]

_LB = re.compile(r"^ELB (?P<name>(app|net|gwy)/[^ ]+)")
_NAT = re.compile(r"NAT Gateway (?P<id>nat-[0-9a-f]+)")
_VPCE = re.compile(r"VPC Endpoint Interface (?P<id>vpce-[0-9a-f]+)")
_LAMBDA = re.compile(r"^AWS Lambda VPC ENI-(?P<name>[^ ]+)")
_LB_ARN = re.compile(r":loadbalancer/(?P<suffix>(app|net|gwy)/[^/]+/[^/]+)$")
#: ELBv2 DescribeTags takes at most 20 ARNs per call.
_TAG_BATCH = 20


def _tags(raw: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw or ()}


def interface_of(eni: dict[str, Any]) -> NetworkInterface:
    """A NetworkInterface from a describe_instances / describe_network_interfaces entry."""
    private = [
        p["PrivateIpAddress"]
        for p in eni.get("PrivateIpAddresses", [])
        if p.get("PrivateIpAddress")
    ]
    if not private and eni.get("PrivateIpAddress"):
        private = [eni["PrivateIpAddress"]]
    public = [
        p["Association"]["PublicIp"]
        for p in eni.get("PrivateIpAddresses", [])
        if p.get("Association", {}).get("PublicIp")
    ]
    if not public and eni.get("Association", {}).get("PublicIp"):
        public = [eni["Association"]["PublicIp"]]
    ipv6 = [a["Ipv6Address"] for a in eni.get("Ipv6Addresses", []) if a.get("Ipv6Address")]
    return NetworkInterface(
        id=eni["NetworkInterfaceId"],
        private_ips=tuple(dict.fromkeys(private)),
        public_ips=tuple(dict.fromkeys(public)),
        ipv6_ips=tuple(dict.fromkeys(ipv6)),
        subnet_id=eni.get("SubnetId"),
        vpc_id=eni.get("VpcId"),
        interface_type=eni.get("InterfaceType") or "interface",
        description=eni.get("Description") or "",
    )


def instance_resource(inst: dict[str, Any], account: str, region: str) -> Resource:
    """A Resource for one describe_instances entry."""
    launched = inst.get("LaunchTime")
    return Resource(
        id=inst["InstanceId"],
        provider=ProviderName.AWS,
        account=account,
        region=region,
        zone=inst.get("Placement", {}).get("AvailabilityZone"),
        kind=ResourceKind.INSTANCE,
        instance_type=inst.get("InstanceType"),
        state=inst.get("State", {}).get("Name", "unknown"),
        tags=_tags(inst.get("Tags")),
        interfaces=tuple(interface_of(e) for e in inst.get("NetworkInterfaces", [])),
        launched_at=launched if isinstance(launched, datetime) else None,
        image_id=inst.get("ImageId"),
    )


def managed_kind(eni: dict[str, Any], nat_enis: dict[str, str]) -> tuple[ResourceKind, str] | None:
    """(kind, resource id) for an ENI that belongs to a managed service, else None."""
    eni_id = eni["NetworkInterfaceId"]
    desc = eni.get("Description") or ""
    itype = eni.get("InterfaceType") or ""
    if eni_id in nat_enis:
        return ResourceKind.NAT_GATEWAY, nat_enis[eni_id]
    if (m := _NAT.search(desc)) or itype == "nat_gateway":
        return ResourceKind.NAT_GATEWAY, m["id"] if m else eni_id
    if m := _LB.match(desc):
        return ResourceKind.LOAD_BALANCER, f"elb:{m['name']}"
    if (m := _VPCE.search(desc)) or itype in {"vpc_endpoint", "gateway_load_balancer_endpoint"}:
        return ResourceKind.VPC_ENDPOINT, m["id"] if m else eni_id
    if (m := _LAMBDA.match(desc)) or itype == "lambda":
        return ResourceKind.LAMBDA, f"lambda:{m['name']}" if m else eni_id
    if desc.startswith("RDSNetworkInterface") or eni.get("RequesterId") == "amazon-rds":
        return ResourceKind.DATABASE, f"rds:{eni_id}"
    return None


def load_balancer_id(arn: str) -> str | None:
    """``elb:app/<name>/<id>`` for an ELBv2 load balancer ARN (None for anything else)."""
    m = _LB_ARN.search(arn)
    return f"elb:{m['suffix']}" if m else None


def collect_load_balancers(elbv2: Any, account: str, region: str) -> list[Resource]:
    """ELBv2 load balancers (not failed) of one account and region, with their tags."""
    found: list[tuple[str, dict[str, Any]]] = []
    with aws_errors("DescribeLoadBalancers", region):
        for page in elbv2.get_paginator("describe_load_balancers").paginate():
            for lb in page.get("LoadBalancers", []):
                rid = load_balancer_id(lb.get("LoadBalancerArn", ""))
                if rid is None or lb.get("State", {}).get("Code") == "failed":
                    continue
                found.append((rid, lb))
    tags: dict[str, dict[str, str]] = {}
    arns = [lb["LoadBalancerArn"] for _, lb in found]
    for offset in range(0, len(arns), _TAG_BATCH):
        with aws_errors("DescribeTags", region):
            page = elbv2.describe_tags(ResourceArns=arns[offset : offset + _TAG_BATCH])
        for desc in page.get("TagDescriptions", []):
            tags[desc["ResourceArn"]] = _tags(desc.get("Tags"))
    out: list[Resource] = []
    for rid, lb in found:
        zones = [z["ZoneName"] for z in lb.get("AvailabilityZones", []) if z.get("ZoneName")]
        out.append(
            Resource(
                id=rid,
                provider=ProviderName.AWS,
                account=account,
                region=region,
                zone=zones[0] if zones else None,
                kind=ResourceKind.LOAD_BALANCER,
                state=lb.get("State", {}).get("Code", "unknown"),
                tags=tags.get(lb["LoadBalancerArn"], {}),
            )
        )
    return out


def collect_inventory(
    ec2: Any, account: str, region: str, elbv2: Any | None = None
) -> list[Resource]:
    """Instances (not terminated) and managed-service ENIs of one account and region; with
    ``elbv2``, every load balancer too (merged with its ENIs: their addresses, its tags)."""
    out: list[Resource] = []
    with aws_errors("DescribeInstances", region):
        for page in ec2.get_paginator("describe_instances").paginate():
            for reservation in page.get("Reservations", []):
                for inst in reservation.get("Instances", []):
                    if inst.get("State", {}).get("Name") in {"terminated", "shutting-down"}:
                        continue
                    out.append(instance_resource(inst, account, region))
    with aws_errors("DescribeNatGateways", region):
        nat_enis = {
            addr["NetworkInterfaceId"]: nat["NatGatewayId"]
            for page in ec2.get_paginator("describe_nat_gateways").paginate()
            for nat in page.get("NatGateways", [])
            if nat.get("State") not in {"deleted", "deleting", "failed"}
            for addr in nat.get("NatGatewayAddresses", [])
            if addr.get("NetworkInterfaceId")
        }
    grouped: dict[str, tuple[ResourceKind, list[dict[str, Any]]]] = {}
    with aws_errors("DescribeNetworkInterfaces", region):
        for page in ec2.get_paginator("describe_network_interfaces").paginate():
            for eni in page.get("NetworkInterfaces", []):
                if eni.get("Attachment", {}).get("InstanceId"):
                    continue  # covered by its instance
                found = managed_kind(eni, nat_enis)
                if found is None:
                    kind, rid = ResourceKind.OTHER, eni["NetworkInterfaceId"]
                else:
                    kind, rid = found
                grouped.setdefault(rid, (kind, []))[1].append(eni)
    managed = {
        rid: Resource(
            id=rid,
            provider=ProviderName.AWS,
            account=account,
            region=region,
            zone=enis[0].get("AvailabilityZone"),
            kind=kind,
            state="available",
            tags=_tags(enis[0].get("TagSet")),
            interfaces=tuple(interface_of(e) for e in enis),
        )
        for rid, (kind, enis) in grouped.items()
    }
    if elbv2 is not None:
        for lb in collect_load_balancers(elbv2, account, region):
            seen = managed.get(lb.id)
            if seen is not None:
                lb = lb.model_copy(
                    update={
                        "zone": seen.zone or lb.zone,
                        "tags": {**seen.tags, **lb.tags},
                        "interfaces": seen.interfaces,
                    }
                )
            managed[lb.id] = lb
    out.extend(managed[rid] for rid in sorted(managed))
    return out
