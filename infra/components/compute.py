"""GroupCompute: a group's EC2 instances (their types) and autoscaling groups (counts).

A group's GCP and Azure compute is declared by ``GcpCompute`` and ``AzureCompute`` beside it,
with the counts this component's guard rails computed over the whole group (``counts``).

Existing resources are adopted with ``import_`` ids from the inventory, and logical and physical
names come from the desired state's stable names, so a resize or a count change is an in-place
update (EC2 stops and starts an instance to change its type; an ASG keeps its name).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
from pulumi_aws.autoscaling import (
    GroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecificationArgs as _TemplateSpec,
)

from infra.desired_state import GroupSpec, InstanceSpec, ScalingGroupSpec
from infra.guards import GuardEvent, ScalingCounts, instance_type_for, scaling_counts

__all__ = ["GroupCompute", "GroupComputeArgs"]

COMPONENT_TYPE = "headroom:infra:GroupCompute"


@dataclass(frozen=True)
class GroupComputeArgs:
    group: GroupSpec
    tags: dict[str, str] = field(default_factory=dict)
    #: Counts already raised by ``scaling_counts`` (by the caller); None: computed here.
    counts: Mapping[str, ScalingCounts] | None = None


class GroupCompute(pulumi.ComponentResource):
    """Declares the group's compute; ``events`` lists the guard rails that changed a request."""

    instance_types: dict[str, str]
    counts: dict[str, ScalingCounts]
    events: list[GuardEvent]

    def __init__(
        self, name: str, args: GroupComputeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        group = args.group
        self.events = []
        self.instance_types = {}
        base_tags = {**args.tags, "headroom:group": group.id}
        instances, asgs = group.compute_of("aws")
        for spec in instances:
            self._instance(spec, base_tags)
        self.counts = (
            dict(args.counts) if args.counts is not None else scaling_counts(group, self.events)
        )
        asg_names: dict[str, pulumi.Output[str]] = {}
        for sg in asgs:
            asg_names[sg.name] = self._scaling_group(sg, self.counts[sg.name], base_tags).name
        self.register_outputs(
            {"instanceTypes": self.instance_types, "scalingGroupNames": asg_names}
        )

    def _instance(self, spec: InstanceSpec, tags: dict[str, str]) -> aws.ec2.Instance:
        itype = instance_type_for(spec, self.events)
        assert itype is not None  # InstanceSpec.instance_type is required
        self.instance_types[spec.name] = itype
        return aws.ec2.Instance(
            spec.name,
            ami=spec.ami,
            instance_type=itype,
            subnet_id=spec.subnet_id,
            region=spec.region,
            tags={**tags, "Name": spec.name, **spec.tags},  # an adopted instance keeps its tags
            opts=pulumi.ResourceOptions(
                parent=self,
                import_=spec.import_id,
                retain_on_delete=spec.import_id is not None,  # adopted: never deleted
            ),
        )

    def _scaling_group(
        self, spec: ScalingGroupSpec, counts: ScalingCounts, tags: dict[str, str]
    ) -> aws.autoscaling.Group:
        itype = instance_type_for(spec, self.events)
        template = {"version": spec.launch_template_version}
        launch_template: aws.autoscaling.GroupLaunchTemplateArgs | None = None
        mixed: aws.autoscaling.GroupMixedInstancesPolicyArgs | None = None
        if itype is None:
            launch_template = aws.autoscaling.GroupLaunchTemplateArgs(
                id=spec.launch_template_id, **template
            )
        else:
            self.instance_types[spec.name] = itype
            policy = aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateArgs(
                launch_template_specification=_TemplateSpec(
                    launch_template_id=spec.launch_template_id, **template
                ),
                overrides=[
                    aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateOverrideArgs(
                        instance_type=itype
                    )
                ],
            )
            mixed = aws.autoscaling.GroupMixedInstancesPolicyArgs(launch_template=policy)
        all_tags = {**tags, "Name": spec.name, **spec.tags}  # an adopted group keeps its tags
        return aws.autoscaling.Group(
            spec.name,
            name=spec.physical_name,
            region=spec.region,
            desired_capacity=counts.desired,
            min_size=counts.min_size,
            max_size=counts.max_size,
            vpc_zone_identifiers=list(spec.subnet_ids),
            launch_template=launch_template,
            mixed_instances_policy=mixed,
            tags=[
                aws.autoscaling.GroupTagArgs(key=k, value=v, propagate_at_launch=True)
                for k, v in sorted(all_tags.items())
            ],
            opts=pulumi.ResourceOptions(
                parent=self,
                import_=spec.import_id,
                retain_on_delete=spec.import_id is not None,  # adopted: never deleted
            ),
        )
