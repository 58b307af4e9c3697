"""GcpCompute: a group's Compute Engine instances (machine types) and managed instance groups
(target size, autoscaler bounds), all adopted by their relative names.

Machine type: GCP changes an instance's machine type only while it is stopped (TERMINATED).
``allow_stopping_for_update=True`` lets the provider stop the instance, change the type and
start it again; without it the update fails on a running instance. A resize is therefore a
short outage of that instance, as on EC2.

The provider requires a boot disk and a network interface to declare an instance; an adopted
instance's are given as they are by GCP's defaults (the boot disk named like the instance, the
inventory's subnetwork) and left alone (``ignore_changes``): Headroom manages the machine type
and labels only, and never replaces a disk or a NIC.

A MIG's size is ``target_size``; when an autoscaler is attached (``autoscaler_id``) it moves the
size between its min and max replicas, which are declared here too. A MIG's machine type is its
instance template's and is not changed here (the desired state refuses a new one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_gcp as gcp

from infra.clouds import gcp_location
from infra.components.adopted import AdoptedCompute, CloudComputeArgs
from infra.desired_state import InstanceSpec, ScalingGroupSpec
from infra.guards import ScalingCounts, instance_type_for

__all__ = ["GcpCompute", "GcpComputeArgs", "gcp_labels"]

COMPONENT_TYPE = "headroom:infra:GcpCompute"
#: Kept by an adopted resource but not Headroom's to change (the provider requires them).
_FIXED = ["bootDisk", "networkInterfaces"]
#: An autoscaler's signals (CPU, load balancing, metrics, cool-down): the operator's, not ours.
_SIGNALS = [
    "autoscalingPolicy.cpuUtilization",
    "autoscalingPolicy.loadBalancingUtilization",
    "autoscalingPolicy.metrics",
    "autoscalingPolicy.cooldownPeriod",
]
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def gcp_labels(tags: Mapping[str, str], group: str) -> dict[str, str]:
    """GCP labels: the spec's tags that are valid label keys, and the group's label."""
    labels = {k: v for k, v in tags.items() if _LABEL_KEY.match(k)}
    return {**labels, "headroom-group": group}


#: The arguments of ``GcpCompute``: the group and its guarded counts.
GcpComputeArgs = CloudComputeArgs


class GcpCompute(AdoptedCompute):
    """Declares the group's GCP compute (instances, MIGs and their autoscalers)."""

    def __init__(
        self, name: str, args: GcpComputeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, opts)
        instances, groups = args.group.compute_of("gcp")
        for spec in instances:
            self._instance(spec, args.group.id)
        for sg in groups:
            self._mig(sg, args.counts[sg.name])
        self.register_outputs({"instanceTypes": self.instance_types})

    def _instance(self, spec: InstanceSpec, group: str) -> gcp.compute.Instance:
        itype = instance_type_for(spec, self.events)
        assert itype is not None and spec.import_id is not None  # required by the spec
        self.instance_types[spec.name] = itype
        project, zone, vm = gcp_location(spec.import_id)
        nic = gcp.compute.InstanceNetworkInterfaceArgs(subnetwork=spec.subnet_id)
        return gcp.compute.Instance(
            spec.name,
            name=vm,
            project=project,
            zone=zone,
            machine_type=itype,
            allow_stopping_for_update=True,  # the type changes only while stopped
            boot_disk=gcp.compute.InstanceBootDiskArgs(
                source=f"projects/{project}/zones/{zone}/disks/{vm}"
            ),
            network_interfaces=[nic],
            labels=gcp_labels(spec.tags, group),
            opts=self.adopt(spec.import_id, ignore_changes=_FIXED),
        )

    def _mig(self, spec: ScalingGroupSpec, counts: ScalingCounts) -> None:
        assert spec.import_id is not None and spec.launch_template_id is not None
        project, where, mig = gcp_location(spec.import_id)
        zonal = "/zones/" in spec.import_id
        manager: dict[str, Any] = {
            "name": mig,
            "project": project,
            "zone" if zonal else "region": where,
            "base_instance_name": mig,
            "versions": [{"instance_template": spec.launch_template_id}],
            "target_size": counts.desired,
            "opts": self.adopt(spec.import_id, ignore_changes=["baseInstanceName"]),
        }
        if zonal:
            gcp.compute.InstanceGroupManager(spec.name, **manager)
        else:
            gcp.compute.RegionInstanceGroupManager(spec.name, **manager)
        if spec.autoscaler_id is None:
            return
        scaler_project, scaler_where, scaler = gcp_location(spec.autoscaler_id)
        autoscaler: dict[str, Any] = {
            "name": scaler,
            "project": scaler_project,
            "zone" if zonal else "region": scaler_where,
            "target": spec.import_id,
            # only the bounds are Headroom's: the scaling signal stays as the operator set it
            "autoscaling_policy": {
                "min_replicas": counts.min_size,
                "max_replicas": counts.max_size,
            },
            "opts": self.adopt(spec.autoscaler_id, ignore_changes=_SIGNALS),
        }
        if zonal:
            gcp.compute.Autoscaler(f"{spec.name}-autoscaler", **autoscaler)
        else:
            gcp.compute.RegionAutoscaler(f"{spec.name}-autoscaler", **autoscaler)
