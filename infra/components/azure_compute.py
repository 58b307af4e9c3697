"""AzureCompute: a group's Azure VMs (sizes) and VM scale sets (capacity), adopted by their
(lower-cased) ARM ids.

VM size: Azure applies a new ``hardware_profile.vm_size`` to a running VM by restarting it when
the size is offered on the hardware cluster the VM runs on. When it is not, the update fails and
the VM must be deallocated first (stop-deallocate, resize, start: a longer outage, and a VM
without a static public IP gets a new one); Headroom does not deallocate on its own, so such a
resize fails at ``pulumi up`` and is reported by the apply step. A scale set's capacity is its
``sku.capacity``; its size (``sku.name``) applies to new instances, or to existing ones as the
scale set's upgrade policy says.

Autoscale: a scale set with an autoscale setting (``Microsoft.Insights/autoscalesettings``,
the spec's ``autoscale``) gets the setting adopted too, and the bounds of its default profile set
to the guarded counts' min and max (its default capacity kept between them), as an ASG's min and
max are: a capacity Headroom sets is one the autoscaler keeps rather than pulls back to its old
bounds. Only those three numbers are Headroom's; the setting's other profiles, the profile's
rules and schedule, notifications, predictive policy, target and location are left as the
operator set them (``ignore_changes``: an adopted resource keeps the cloud's values there).

Only the size, capacity, location and tags are declared: the provider needs nothing else to
adopt the resource, and ``pulumi preview`` after the import shows whether an update would touch
any other property before anything is applied.
"""

from __future__ import annotations

import pulumi
import pulumi_azure_native as azure

from infra.clouds import arm_part
from infra.components.adopted import AdoptedCompute, CloudComputeArgs
from infra.desired_state import AzureAutoscaleSpec, InstanceSpec, ScalingGroupSpec
from infra.guards import ScalingCounts, instance_type_for

__all__ = ["AzureCompute", "AzureComputeArgs"]

COMPONENT_TYPE = "headroom:infra:AzureCompute"
#: An autoscale setting's parts that stay the operator's (profiles other than the bounded one
#: are added per setting).
_OPERATORS = [
    "enabled",
    "location",
    "name",
    "notifications",
    "predictiveAutoscalePolicy",
    "tags",
    "targetResourceLocation",
    "targetResourceUri",
]


#: The arguments of ``AzureCompute``: the group and its guarded counts.
AzureComputeArgs = CloudComputeArgs


class AzureCompute(AdoptedCompute):
    """Declares the group's Azure compute (VMs and scale sets)."""

    def __init__(
        self, name: str, args: AzureComputeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, opts)
        tags = {"headroom:group": args.group.id}
        instances, groups = args.group.compute_of("azure")
        for spec in instances:
            self._vm(spec, tags)
        for sg in groups:
            self._scale_set(sg, args.counts[sg.name], tags)
            if sg.autoscale is not None:
                self._autoscale(sg, sg.autoscale, args.counts[sg.name])
        self.register_outputs({"instanceTypes": self.instance_types})

    def _vm(self, spec: InstanceSpec, tags: dict[str, str]) -> azure.compute.VirtualMachine:
        size = instance_type_for(spec, self.events)
        assert size is not None and spec.import_id is not None  # required by the spec
        self.instance_types[spec.name] = size
        return azure.compute.VirtualMachine(
            spec.name,
            resource_group_name=arm_part(spec.import_id, "resourcegroups"),
            vm_name=arm_part(spec.import_id, "virtualmachines"),
            location=spec.region,
            hardware_profile=azure.compute.HardwareProfileArgs(vm_size=size),
            tags={**spec.tags, **tags},
            opts=self.adopt(spec.import_id),
        )

    def _scale_set(
        self, spec: ScalingGroupSpec, counts: ScalingCounts, tags: dict[str, str]
    ) -> azure.compute.VirtualMachineScaleSet:
        size = instance_type_for(spec, self.events)
        assert spec.import_id is not None  # required by the spec
        if size is not None:
            self.instance_types[spec.name] = size
        return azure.compute.VirtualMachineScaleSet(
            spec.name,
            resource_group_name=arm_part(spec.import_id, "resourcegroups"),
            vm_scale_set_name=arm_part(spec.import_id, "virtualmachinescalesets"),
            location=spec.region,
            sku=azure.compute.SkuArgs(name=size, capacity=counts.desired),
            tags={**spec.tags, **tags},
            opts=self.adopt(spec.import_id),
        )

    def _autoscale(
        self, spec: ScalingGroupSpec, setting: AzureAutoscaleSpec, counts: ScalingCounts
    ) -> azure.monitor.AutoscaleSetting:
        """The scale set's autoscale setting, adopted: its bounded profile's min, max and
        default set from ``counts``; everything else ignored (the cloud's values stay)."""
        low, high = counts.min_size, counts.max_size
        default = min(max(setting.default, low), high)
        at = setting.profile_index
        profiles = []
        for i in range(setting.profiles):
            mine = i == at
            bounds = (low, high, default) if mine else (0, 0, 0)  # ignored: the cloud's stay
            profiles.append(
                azure.monitor.AutoscaleProfileArgs(
                    name=setting.profile if mine else f"kept-{i}",
                    capacity=azure.monitor.ScaleCapacityArgs(
                        minimum=str(bounds[0]), maximum=str(bounds[1]), default=str(bounds[2])
                    ),
                    rules=[],
                )
            )
        kept = [f"profiles[{i}]" for i in range(setting.profiles) if i != at]
        kept += [f"profiles[{at}].{part}" for part in ("rules", "recurrence", "fixedDate")]
        return azure.monitor.AutoscaleSetting(
            f"{spec.name}-autoscale",
            resource_group_name=arm_part(setting.setting_id, "resourcegroups"),
            autoscale_setting_name=arm_part(setting.setting_id, "autoscalesettings"),
            location=spec.region,
            target_resource_uri=spec.import_id,
            profiles=profiles,
            opts=self.adopt(setting.setting_id, ignore_changes=[*_OPERATORS, *kept]),
        )
