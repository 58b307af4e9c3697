"""A stand-in for Pulumi in the e2e tests: keeps the stack config and converges a moto cloud.

The Pulumi CLI cannot be installed here. ``MotoActuator`` has the actuator's interface
(``which``, ``open``, ``current_desired_state``, ``apply``): ``apply`` stores the desired state as
the stack config and does to the moto server what ``pulumi up`` would do to AWS for the parts
the tests read back (autoscaling counts, instance types), so the next cycle observes the change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from infra.desired_state import DesiredState
from providers.aws.session import AwsSessionFactory


@dataclass
class MotoActuator:
    endpoint: str
    desired: str | None = None
    applied: list[DesiredState] = field(default_factory=list)

    def which(self, name: str) -> str:
        return f"/usr/bin/{name}"

    def open(self) -> object:
        return object()

    def current_desired_state(self, stack: object) -> str | None:
        return self.desired

    def apply(self, desired: DesiredState, *, dry_run: bool = False) -> SimpleNamespace:
        if dry_run:
            return SimpleNamespace(status="previewed", message="dry run", counts={})
        factory = AwsSessionFactory(endpoint_url=self.endpoint)
        changed = 0
        for group in desired.groups:
            for sg in group.scaling_groups:
                asg = factory.client("autoscaling", sg.region)
                now = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[sg.physical_name])
                found = now["AutoScalingGroups"][0]
                if found["DesiredCapacity"] != sg.desired:
                    asg.update_auto_scaling_group(
                        AutoScalingGroupName=sg.physical_name,
                        MinSize=sg.min_size,
                        MaxSize=sg.max_size,
                        DesiredCapacity=sg.desired,
                    )
                    changed += 1
            for inst in group.instances:
                if inst.import_id and inst.instance_type != inst.current_instance_type:
                    ec2 = factory.client("ec2", inst.region)
                    ec2.modify_instance_attribute(
                        InstanceId=inst.import_id, InstanceType={"Value": inst.instance_type}
                    )
                    changed += 1
        self.desired = desired.model_dump_json()
        self.applied.append(desired)
        return SimpleNamespace(
            status="applied", message=f"applied: {changed} resources changed", counts={}
        )
