"""BandwidthTiers: each group's bandwidth class, published where the hosts' shaping agent reads it.

AWS has no per-group bandwidth reservation API; a group's allocation (HTB rate = guarantee, ceil =
ceiling, priority) is enforced on the hosts by ``tc``. This component publishes it as one SSM
parameter per group and region (``/headroom/bandwidth-tier/<group>``) that the agent polls, so
the tier changes through the same program, lock and history as everything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.desired_state import GroupSpec

__all__ = ["BandwidthTiers", "BandwidthTiersArgs", "tier_parameter_name"]

COMPONENT_TYPE = "headroom:infra:BandwidthTiers"


def tier_parameter_name(group_id: str) -> str:
    return f"/headroom/bandwidth-tier/{group_id}"


@dataclass(frozen=True)
class BandwidthTiersArgs:
    groups: tuple[GroupSpec, ...]


class BandwidthTiers(pulumi.ComponentResource):
    """Declares one parameter per (group with a tier, region of that group)."""

    tiers: dict[str, str]

    def __init__(
        self, name: str, args: BandwidthTiersArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.tiers = {}
        for group in args.groups:
            tier = group.bandwidth_tier
            if tier is None:
                continue
            self.tiers[group.id] = tier.tier
            value = json.dumps(
                {
                    "group": group.id,
                    "tier": tier.tier,
                    "rate_mbps": tier.guaranteed_mbps,
                    "ceil_mbps": tier.ceiling_mbps,
                    "priority": tier.priority,
                    "bandwidth_weighting": tier.bandwidth_weighting,
                },
                sort_keys=True,
            )
            for region in group.aws_regions:  # SSM: AWS hosts only
                aws.ssm.Parameter(
                    f"{group.id}-tier-{region}",
                    name=tier_parameter_name(group.id),
                    type="String",
                    value=value,
                    region=region,
                    description=f"Headroom bandwidth tier of group {group.id}",
                    tags={"headroom:group": group.id},
                    opts=pulumi.ResourceOptions(parent=self),
                )
        self.register_outputs({"tiers": self.tiers})
