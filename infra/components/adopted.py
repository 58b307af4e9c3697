"""The base of the GCP and Azure compute components: resources adopted by import id, never
created and never deleted, with the guard-rail counts computed over the whole group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from infra.desired_state import GroupSpec
from infra.guards import GuardEvent, ScalingCounts

__all__ = ["AdoptedCompute", "CloudComputeArgs"]


@dataclass(frozen=True)
class CloudComputeArgs:
    group: GroupSpec
    #: Counts after the guard rails (``infra.guards.scaling_counts`` over the whole group).
    counts: Mapping[str, ScalingCounts]


class AdoptedCompute(pulumi.ComponentResource):
    """A group's compute in one cloud; ``events`` lists guard rails that changed a request."""

    instance_types: dict[str, str]
    events: list[GuardEvent]

    def __init__(self, type_: str, name: str, opts: pulumi.ResourceOptions | None) -> None:
        super().__init__(type_, name, None, opts)
        self.events = []
        self.instance_types = {}

    def adopt(self, import_id: str, ignore_changes: Sequence[str] = ()) -> pulumi.ResourceOptions:
        """Options of an adopted resource: imported, and kept in the cloud if dropped."""
        return pulumi.ResourceOptions(
            parent=self,
            import_=import_id,
            retain_on_delete=True,
            ignore_changes=list(ignore_changes) or None,
        )
