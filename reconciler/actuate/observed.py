"""The desired state built from what the cloud has now: observe first, then fold the changes.

Each cycle the apply step starts from the fleet as the provider reports it (instances with
their type, image and subnet; scaling groups with their counts and launch template; on GCP and
Azure the same, by their relative names and ARM ids, members of a MIG or scale set found by the
group's instance list), laid
out by this cycle's groups, each group with the bandwidth class the allocator granted it. Every
resource carries its inventory id as ``import_id``: a fresh account's first cycle *adopts* the
fleet and proposes no change. The planner's commands are then folded into it
(``reconciler.actuate.from_commands``).

What the cloud does not report is taken from the previous desired state (the stack's config):
edge caches, the CDN, routing records, capacity reservations (a group's pre-allocation, kept
until a ``preallocate`` command changes it; a user group holding only reservations keeps its
spec), and an instance's image when the inventory lacks it. A
resource the previous state declared and the cloud still has stays declared even when no group
holds it any more (leaving it out would make Pulumi delete it); one the cloud no longer has is
dropped with a note.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from infra.clouds import Cloud
from infra.desired_state import (
    AzureAutoscaleSpec,
    BandwidthTierSpec,
    CapacityReservationSpec,
    DesiredState,
    GroupSpec,
    InstanceSpec,
    ScalingGroupSpec,
)
from providers.models import ProviderName, Resource, ResourceKind, ScalingGroup

__all__ = [
    "ASG_TAG",
    "PROTECTED_TAG",
    "Observed",
    "ObservedGroup",
    "observed_state",
    "spec_id",
]

ASG_TAG = "aws:autoscaling:groupName"
#: Tag the GCP inventory puts on a MIG naming its autoscaler (``providers.gcp.scaling``).
AUTOSCALER_TAG = "gcp:autoscaler"
#: Tag the Azure provider puts on a scale set naming its autoscale setting and bounding profile
#: (``providers.azure.scaling.AUTOSCALE_TAG``: JSON of ``AzureAutoscaleSpec``).
AZURE_AUTOSCALE_TAG = "headroom:scaleSet:autoscale"
PROTECTED_TAG = "headroom:protected"
_S = TypeVar("_S", InstanceSpec, ScalingGroupSpec)
_VALID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
#: Tag prefixes the cloud owns: never declared (AWS refuses to set them).
_RESERVED_TAGS = ("aws:",)
#: Tags the GCP and Azure inventories add for Headroom (the name, network tags, the scale set):
#: not labels or tags of the resource, so never declared there.
_SYNTHETIC_TAGS: dict[Cloud, tuple[str, ...]] = {
    "aws": (),
    "gcp": ("Name", "gcp:"),
    "azure": ("Name", "headroom:scaleSet"),
}
_CLOUDS: dict[ProviderName, Cloud] = {
    ProviderName.GCP: "gcp",
    ProviderName.AZURE: "azure",
}


def spec_id(name: str) -> str:
    """A name valid in the desired state (``[a-z0-9-]``, at most 63 characters); ids already
    valid are kept, others get a short hash so two names never meet."""
    if _VALID.match(name):
        return name
    clean = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "x"
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{clean[:54]}-{digest}"


@dataclass(frozen=True)
class ObservedGroup:
    """A group as the apply step lays it out: id, members and its bandwidth (if allocated)."""

    id: str
    members: tuple[str, ...]
    bandwidth: BandwidthTierSpec | None = None


@dataclass(frozen=True)
class Observed:
    """The desired state built from the cloud, and what could not be declared and why."""

    state: DesiredState
    notes: tuple[str, ...] = ()


def _cloud(provider: ProviderName) -> Cloud:
    """The desired state's cloud of a provider (the fake provider stands in for AWS)."""
    return _CLOUDS.get(provider, "aws")


def _tags(tags: Mapping[str, str], cloud: Cloud = "aws") -> dict[str, str]:
    drop = _RESERVED_TAGS + _SYNTHETIC_TAGS[cloud]
    return {k: v for k, v in tags.items() if not k.startswith(drop)}


def _protected(tags: Mapping[str, str]) -> bool:
    return tags.get(PROTECTED_TAG, "").lower() in ("1", "true", "yes")


def _instance(r: Resource, before: InstanceSpec | None) -> InstanceSpec | str:
    cloud = _cloud(r.provider)
    ami = r.image_id or (before.ami if before else None)
    if not r.instance_type:
        return f"instance {r.id}: the inventory has no instance type"
    if cloud == "aws" and not ami:
        return f"instance {r.id}: the inventory has no image id (AMI) to declare it with"
    return _made(
        InstanceSpec,
        f"instance {r.id}",
        provider=cloud,
        name=before.name if before else spec_id(_short(r.id, cloud)),
        region=r.region,
        import_id=r.id,
        instance_type=r.instance_type,
        current_instance_type=r.instance_type,
        ami=ami if cloud == "aws" else None,
        subnet_id=r.subnet_id or (before.subnet_id if before else None),
        protected=_protected(r.tags),
        tags=_tags(r.tags, cloud),
    )


def _made(model: type[_S], what: str, **fields: Any) -> _S | str:
    """The spec, or a note saying why the inventory's values do not fit the desired state."""
    try:
        return model(**fields)
    except ValidationError as exc:
        why = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        return f"{what}: cannot be declared: {why}"


def _short(rid: str, cloud: Cloud) -> str:
    """A readable base for a logical name: the last part of a GCP or Azure id (the
    resource's own name, unique with the hash ``spec_id`` adds when it is not valid as is)."""
    if cloud == "aws":
        return rid
    name = rid.rstrip("/").rsplit("/", 1)[-1]
    return f"{name[:50]}-{hashlib.sha1(rid.encode()).hexdigest()[:6]}"


def _scaling(
    g: ScalingGroup, types: Sequence[str], before: ScalingGroupSpec | None
) -> ScalingGroupSpec | str:
    cloud = _cloud(g.provider)
    template = g.launch_template_id or (before.launch_template_id if before else None)
    subnets = g.subnet_ids or (before.subnet_ids if before else ())
    if not template and cloud != "azure":
        return f"scaling group {g.name}: no launch template to declare it with"
    if not subnets and cloud == "aws":
        return f"scaling group {g.name}: no subnets to declare it with"
    current = Counter(types).most_common(1)[0][0] if types else None
    return _made(
        ScalingGroupSpec,
        f"scaling group {g.name}",
        provider=cloud,
        name=before.name if before else spec_id(_short(g.name, cloud)),
        region=g.region,
        import_id=g.name,
        desired=g.desired,
        min_size=min(g.min_size, g.desired),
        max_size=max(g.max_size, g.desired),
        launch_template_id=template,
        launch_template_version=g.launch_template_version or "$Latest",
        instance_type=current,
        current_instance_type=current,
        subnet_ids=tuple(subnets),
        protected=_protected(g.tags),
        tags=_tags(g.tags, cloud),
        autoscaler_id=g.tags.get(AUTOSCALER_TAG) if cloud == "gcp" else None,
        autoscale=_azure_autoscale(g.tags) if cloud == "azure" else None,
    )


def _azure_autoscale(tags: Mapping[str, str]) -> AzureAutoscaleSpec | None:
    """The scale set's autoscale setting as the Azure provider reports it (None without one)."""
    raw = tags.get(AZURE_AUTOSCALE_TAG)
    return AzureAutoscaleSpec.model_validate_json(raw) if raw else None


def observed_state(
    inventory: Sequence[Resource],
    scaling: Sequence[ScalingGroup],
    groups: Sequence[ObservedGroup],
    *,
    previous: DesiredState | None,
    generated_at: datetime,
) -> Observed:
    """The fleet as the cloud has it, laid out by ``groups`` (``previous`` supplies what the
    cloud does not report and the resources no group holds any more)."""
    notes: list[str] = []
    by_id = {r.id: r for r in inventory if r.kind is ResourceKind.INSTANCE}
    asg_by_name = {g.name: g for g in scaling}
    member_of = {i: g.name for g in scaling for i in g.instance_ids}
    prev_groups = previous.groups if previous else ()
    prev_instance = {i.import_id or i.name: i for g in prev_groups for i in g.instances}
    prev_asg = {s.physical_name: s for g in prev_groups for s in g.scaling_groups}
    placed: set[str] = set()
    laid: dict[str, _Layout] = {}
    for group in groups:
        out = laid.setdefault(spec_id(group.id), _Layout(bandwidth=group.bandwidth))
        for rid in group.members:
            r = by_id.get(rid)
            if r is None or rid in placed:
                continue
            asg_name = r.tags.get(ASG_TAG) or member_of.get(rid)
            if asg_name is not None and (asg_name in asg_by_name or asg_name in prev_asg):
                if asg_name not in placed:
                    placed.add(asg_name)
                    _add(out.asgs, notes, _asg_spec(asg_name, asg_by_name, prev_asg, by_id))
                continue
            placed.add(rid)
            _add(out.instances, notes, _instance(r, prev_instance.get(rid)))
    _keep_left_over(prev_groups, placed, by_id, asg_by_name, laid, notes)
    for g in prev_groups:  # the cloud does not report them: held until a command changes them
        if g.capacity_reservations:
            laid.setdefault(g.id, _Layout()).reservations = g.capacity_reservations
    specs = [
        GroupSpec(
            id=gid,
            instances=tuple(out.instances),
            scaling_groups=tuple(out.asgs),
            bandwidth_tier=out.bandwidth,
            capacity_reservations=out.reservations,
        )
        for gid, out in laid.items()
        if out.instances or out.asgs or out.bandwidth is not None or out.reservations
    ]
    state = DesiredState(
        schema_version=1,
        generated_at=generated_at,
        groups=tuple(specs),
        edge_caches=previous.edge_caches if previous else (),
        cdn=previous.cdn if previous else None,
        routing=previous.routing if previous else (),
    )
    return Observed(state=state, notes=tuple(notes))


@dataclass
class _Layout:
    bandwidth: BandwidthTierSpec | None = None
    instances: list[InstanceSpec] = field(default_factory=list)
    asgs: list[ScalingGroupSpec] = field(default_factory=list)
    reservations: tuple[CapacityReservationSpec, ...] = ()


def _add(into: list[_S], notes: list[str], made: _S | str) -> None:
    if isinstance(made, str):
        notes.append(made)
    else:
        into.append(made)


def _asg_spec(
    name: str,
    asg_by_name: Mapping[str, ScalingGroup],
    prev_asg: Mapping[str, ScalingGroupSpec],
    by_id: Mapping[str, Resource],
) -> ScalingGroupSpec | str:
    """The cloud's view of an autoscaling group; the previous spec when the provider does
    not report autoscaling groups."""
    asg = asg_by_name.get(name)
    if asg is None:
        return prev_asg[name]
    types = [
        t for i in asg.instance_ids if (m := by_id.get(i)) is not None and (t := m.instance_type)
    ]
    return _scaling(asg, types, prev_asg.get(name))


def _keep_left_over(
    prev_groups: Sequence[GroupSpec],
    placed: set[str],
    instances: Mapping[str, Resource],
    asgs: Mapping[str, ScalingGroup],
    laid: dict[str, _Layout],
    notes: list[str],
) -> None:
    """Previously declared resources no group holds now: kept under their old group id while
    the cloud has them (a resource left out of the program would be deleted by Pulumi)."""
    for g in prev_groups:
        keep_i = []
        for i in g.instances:
            if (i.import_id or i.name) in placed:
                continue
            if i.import_id is not None and instances and i.import_id not in instances:
                notes.append(f"instance {i.import_id}: no longer in the cloud, left out")
                continue
            keep_i.append(i)
        keep_s = []
        for sg in g.scaling_groups:
            if sg.physical_name in placed:
                continue
            if sg.import_id is not None and asgs and sg.import_id not in asgs:
                notes.append(f"scaling group {sg.import_id}: no longer in the cloud, left out")
                continue
            keep_s.append(sg)
        if not (keep_i or keep_s):
            continue
        out = laid.setdefault(g.id, _Layout(bandwidth=g.bandwidth_tier))
        out.instances.extend(keep_i)
        out.asgs.extend(keep_s)
