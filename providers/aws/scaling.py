"""Autoscaling groups as the cloud has them now: counts, launch template, subnets, members."""

from __future__ import annotations

from typing import Any

from providers.aws.session import aws_errors
from providers.models import ProviderName, ScalingGroup

__all__ = ["collect_scaling_groups", "scaling_group_of"]


def scaling_group_of(raw: dict[str, Any], account: str, region: str) -> ScalingGroup:
    """A ``ScalingGroup`` from one DescribeAutoScalingGroups entry (launch template taken from
    the group or from its mixed-instances policy)."""
    template = raw.get("LaunchTemplate") or (
        raw.get("MixedInstancesPolicy", {})
        .get("LaunchTemplate", {})
        .get("LaunchTemplateSpecification", {})
    )
    subnets = tuple(s for s in (raw.get("VPCZoneIdentifier") or "").split(",") if s)
    return ScalingGroup(
        name=raw["AutoScalingGroupName"],
        provider=ProviderName.AWS,
        account=account,
        region=region,
        desired=int(raw.get("DesiredCapacity", 0)),
        min_size=int(raw.get("MinSize", 0)),
        max_size=int(raw.get("MaxSize", 0)),
        launch_template_id=template.get("LaunchTemplateId") if template else None,
        launch_template_version=template.get("Version") if template else None,
        subnet_ids=subnets,
        instance_ids=tuple(
            i["InstanceId"] for i in raw.get("Instances", []) if i.get("InstanceId")
        ),
        tags={t["Key"]: t["Value"] for t in raw.get("Tags", []) if "Key" in t},
    )


def collect_scaling_groups(autoscaling: Any, account: str, region: str) -> list[ScalingGroup]:
    """Every autoscaling group of one account and region."""
    out: list[ScalingGroup] = []
    with aws_errors("DescribeAutoScalingGroups", region):
        for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate():
            out.extend(
                scaling_group_of(g, account, region) for g in page.get("AutoScalingGroups", [])
            )
    return sorted(out, key=lambda g: (g.region, g.name))
