"""What a compute spec must look like on each cloud: regions, instance types and import ids.

The desired state's ``InstanceSpec`` and ``ScalingGroupSpec`` carry a ``provider``; these rules
check the fields by it. AWS keeps the rules it always had (``m5.large``, ``us-east-1``, any id).
GCP and Azure resources are adopted, never created, so they need their import id, and the id
names where the resource lives:

- GCP: ``n2-standard-4`` in ``us-central1``; an instance's id is its relative name
  ``projects/p/zones/us-central1-a/instances/n`` (its zone in the spec's region), a managed
  instance group's ``projects/p/zones|regions/<where>/instanceGroupManagers/n``.
- Azure: ``Standard_D4s_v5`` in ``westeurope``; ids are lower-cased ARM ids
  (``/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/n``, and
  ``.../virtualmachinescalesets/n`` for a scale set).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "ANY_REGION",
    "ANY_TYPE",
    "AWS_REGION",
    "AWS_TYPE",
    "RULES",
    "Cloud",
    "CloudRules",
    "ComputeLike",
    "arm_part",
    "check_compute",
    "gcp_location",
]

Cloud = Literal["aws", "gcp", "azure"]

AWS_REGION = r"^[a-z]{2}(-[a-z]+)+-\d$"
AWS_TYPE = r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"
#: What any cloud's region or type looks like (the per-cloud rules below are stricter).
ANY_REGION = r"^[a-z][a-z0-9-]*[a-z0-9]$"
ANY_TYPE = r"^[A-Za-z][A-Za-z0-9_.-]*[A-Za-z0-9]$"

_GCP_NAME = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_GCP_REGION = r"[a-z]+-[a-z]+\d+"
_ARM = (
    r"^/subscriptions/[^/A-Z]+/resourcegroups/[^/A-Z]+"
    r"/providers/microsoft\.compute/{kind}/[^/A-Z]+$"
)


@dataclass(frozen=True, slots=True)
class CloudRules:
    """Patterns of one cloud; an import id pattern of None accepts any id (and none)."""

    region: re.Pattern[str]
    instance_type: re.Pattern[str]
    instance_id: re.Pattern[str] | None
    group_id: re.Pattern[str] | None
    type_example: str
    region_example: str


RULES: dict[Cloud, CloudRules] = {
    "aws": CloudRules(
        re.compile(AWS_REGION), re.compile(AWS_TYPE), None, None, "m5.large", "us-east-1"
    ),
    "gcp": CloudRules(
        re.compile(f"^{_GCP_REGION}$"),
        re.compile(r"^[a-z][a-z0-9]*-[a-z0-9-]*[a-z0-9]$"),
        re.compile(f"^projects/[^/]+/zones/{_GCP_REGION}-[a-z]/instances/{_GCP_NAME}$"),
        re.compile(
            f"^projects/[^/]+/(zones|regions)/[a-z0-9-]+/instanceGroupManagers/{_GCP_NAME}$"
        ),
        "n2-standard-4",
        "us-central1",
    ),
    "azure": CloudRules(
        re.compile(r"^[a-z][a-z0-9]+$"),
        re.compile(r"^(Standard|Basic)_[A-Za-z0-9_-]+$"),
        re.compile(_ARM.format(kind="virtualmachines")),
        re.compile(_ARM.format(kind="virtualmachinescalesets")),
        "Standard_D4s_v5",
        "westeurope",
    ),
}


def gcp_location(import_id: str) -> tuple[str, str, str]:
    """``(project, zone or region, name)`` of a GCP relative name."""
    parts = import_id.split("/")
    return parts[1], parts[3], parts[-1]


def arm_part(import_id: str, key: str) -> str:
    """The segment after ``key`` in a (lower-cased) ARM id, e.g. ``resourcegroups``."""
    parts = import_id.strip("/").split("/")
    return parts[parts.index(key) + 1]


class ComputeLike(Protocol):
    """What the checks read of an ``InstanceSpec`` or a ``ScalingGroupSpec``."""

    @property
    def provider(self) -> Cloud: ...
    @property
    def region(self) -> str: ...
    @property
    def import_id(self) -> str | None: ...
    @property
    def instance_type(self) -> str | None: ...
    @property
    def current_instance_type(self) -> str | None: ...


def check_compute(spec: ComputeLike, what: str, *, is_group: bool) -> None:
    """Raise ``ValueError`` naming the field when a compute spec does not fit its cloud."""
    cloud, region, import_id = spec.provider, spec.region, spec.import_id
    types = (spec.instance_type, spec.current_instance_type)
    rules = RULES[cloud]
    if not rules.region.match(region):
        raise ValueError(
            f"{what}: region {region!r} is not a region of {cloud} (like {rules.region_example})"
        )
    for t in types:
        if t is not None and not rules.instance_type.match(t):
            raise ValueError(
                f"{what}: instance_type {t!r} is not an instance type of {cloud} "
                f"(like {rules.type_example})"
            )
    pattern = rules.group_id if is_group else rules.instance_id
    if pattern is None:
        return
    if import_id is None:
        raise ValueError(f"{what}: a {cloud} resource is adopted, never created: set import_id")
    if not pattern.match(import_id):
        raise ValueError(f"{what}: import_id {import_id!r} does not match {pattern.pattern}")
    if cloud == "gcp":
        _, where, _ = gcp_location(import_id)
        if where != region and not where.startswith(f"{region}-"):
            raise ValueError(f"{what}: import_id is in {where}, not in region {region}")
