"""CapacityReservations: a tenant group's pre-allocation as EC2 On-Demand Capacity Reservations.

The specification's ``adjustResources`` pre-allocates capacity per user group. On AWS that is
an On-Demand Capacity Reservation: so many instances of one type held in one availability zone
(open matching, so the group's instances launch into it). Counts follow the tenant's forecast;
a reservation the forecast no longer needs leaves the desired state and is released.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.desired_state import GroupSpec

__all__ = ["CapacityReservations", "CapacityReservationsArgs"]

COMPONENT_TYPE = "headroom:infra:CapacityReservations"


@dataclass(frozen=True)
class CapacityReservationsArgs:
    group: GroupSpec


class CapacityReservations(pulumi.ComponentResource):
    """One ``aws.ec2.CapacityReservation`` per reservation of the group."""

    reserved: dict[str, int]

    def __init__(
        self,
        name: str,
        args: CapacityReservationsArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.reserved = {}
        for spec in args.group.capacity_reservations:
            self.reserved[spec.name] = spec.count
            aws.ec2.CapacityReservation(
                spec.name,
                availability_zone=spec.availability_zone,
                instance_type=spec.instance_type,
                instance_count=spec.count,
                instance_platform=spec.platform,
                instance_match_criteria="open",
                end_date_type="unlimited",
                region=spec.region,
                tags={"headroom:group": args.group.id, "headroom:managed": "true"},
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"reserved": self.reserved})
