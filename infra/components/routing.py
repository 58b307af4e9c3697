"""RegionalRouting: weighted Route 53 records and Global Accelerator traffic dials per region.

One record per region with the region as ``set_identifier`` (its stable name), weights from
``infra.guards.route_weights`` (integers summing to 100, never below the policy minimum share),
and, when a listener is given, one endpoint group per region with its traffic dial.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.desired_state import RoutingSpec
from infra.guards import GuardEvent, RoutedRegion, route_weights

__all__ = ["RegionalRouting", "RegionalRoutingArgs"]

COMPONENT_TYPE = "headroom:infra:RegionalRouting"


@dataclass(frozen=True)
class RegionalRoutingArgs:
    routing: RoutingSpec


class RegionalRouting(pulumi.ComponentResource):
    """Declares one routed name across regions; ``routed`` holds the applied weights/dials."""

    routed: list[RoutedRegion]
    events: list[GuardEvent]

    def __init__(
        self, name: str, args: RegionalRoutingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        spec = args.routing
        self.events = []
        self.routed = route_weights(spec, self.events)
        for region_spec, routed in zip(spec.regions, self.routed, strict=True):
            aws.route53.Record(
                f"{spec.name}-{routed.region}",
                zone_id=spec.zone_id,
                name=spec.record_name,
                type=spec.record_type,
                ttl=spec.ttl,
                records=[region_spec.target],
                set_identifier=routed.region,
                health_check_id=region_spec.health_check_id,
                weighted_routing_policies=[
                    aws.route53.RecordWeightedRoutingPolicyArgs(weight=routed.weight)
                ],
                opts=pulumi.ResourceOptions(
                    parent=self,
                    import_=region_spec.record_import_id,
                    retain_on_delete=region_spec.record_import_id
                    is not None,  # adopted: never deleted
                ),
            )
            if spec.listener_arn is None:
                continue
            aws.globalaccelerator.EndpointGroup(
                f"{spec.name}-{routed.region}-ga",
                listener_arn=spec.listener_arn,
                endpoint_group_region=routed.region,
                traffic_dial_percentage=routed.traffic_dial,
                endpoint_configurations=[
                    aws.globalaccelerator.EndpointGroupEndpointConfigurationArgs(endpoint_id=e)
                    for e in region_spec.endpoint_ids
                ],
                opts=pulumi.ResourceOptions(
                    parent=self,
                    import_=region_spec.endpoint_group_import_id,
                    retain_on_delete=region_spec.endpoint_group_import_id
                    is not None,  # adopted: never deleted
                ),
            )
        self.register_outputs(
            {
                "weights": {r.region: r.weight for r in self.routed},
                "trafficDials": {r.region: r.traffic_dial for r in self.routed},
            }
        )
