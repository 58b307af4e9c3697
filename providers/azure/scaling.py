"""Scale sets as ``ScalingGroup``s: capacity from the scale set, bounds from its autoscale
setting (``Microsoft.Insights/autoscalesettings``), members from the inventory.

Autoscale settings are read with a plain ARM request through the compute client's pipeline (same
credential, retries and transport), following ``nextLink``. The bounds are the default profile's
(the one without a recurrence or fixed date); a scale set without an enabled setting has its
capacity as both bounds (nothing scales it but a person). Where the bounds come from (the
setting, the profile's name and position, its default capacity) rides on the scaling group as
the ``AUTOSCALE_TAG`` tag (JSON, the fields of the desired state's ``AzureAutoscaleSpec``), so
the desired state can set the same profile's bounds (``infra.components.azure_compute``); the
tag starts with ``headroom:scaleSet``, a synthetic prefix never declared as an Azure tag.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest

from providers.azure.errors import azure_errors
from providers.azure.ids import arm_id
from providers.base import InvalidResponseError
from providers.models import ProviderName, Resource, ScalingGroup

__all__ = [
    "AUTOSCALE_API_VERSION",
    "AUTOSCALE_TAG",
    "Autoscale",
    "autoscale_bounds",
    "scaling_group_of",
]

AUTOSCALE_API_VERSION = "2022-10-01"
#: The scaling group's tag saying which autoscale setting and profile bound it (JSON).
AUTOSCALE_TAG = "headroom:scaleSet:autoscale"


@dataclass(frozen=True)
class Autoscale:
    """The bounds of a scale set's enabled autoscale setting, and where they are set: the
    setting's (lower-cased) ARM id, the bounding profile's name, its position among the
    setting's ``profiles``."""

    minimum: int
    maximum: int
    default: int
    setting_id: str
    profile: str
    profile_index: int
    profiles: int

    def tag(self) -> str:
        """The ``AUTOSCALE_TAG`` value: the desired state's ``AzureAutoscaleSpec`` as JSON."""
        return json.dumps(
            {
                "setting_id": self.setting_id,
                "profile": self.profile,
                "profile_index": self.profile_index,
                "profiles": self.profiles,
                "default": self.default,
            },
            sort_keys=True,
        )


def _pages(client: Any, url: str, operation: str) -> Iterator[dict[str, Any]]:
    """Every item of a paged ARM list (``value`` + ``nextLink``)."""
    next_url: str | None = url
    while next_url:
        with azure_errors(operation):
            response = client.send_request(HttpRequest("GET", next_url))
            if response.status_code >= 400:
                raise HttpResponseError(response=response)
            try:
                page = response.json()
            except ValueError as exc:
                raise InvalidResponseError(f"not JSON: {exc}", operation=operation) from exc
        yield from page.get("value") or []
        next_url = page.get("nextLink")


def _default_profile(profiles: Sequence[Mapping[str, Any]]) -> int | None:
    """The position of the profile without a recurrence or fixed date (else the first)."""
    for i, profile in enumerate(profiles):
        if not profile.get("recurrence") and not profile.get("fixedDate"):
            return i
    return 0 if profiles else None


def autoscale_bounds(compute: Any, subscription: str) -> dict[str, Autoscale]:
    """Target scale set id (lower-cased) -> the bounds of its enabled setting."""
    url = (
        f"/subscriptions/{subscription}/providers/Microsoft.Insights/autoscalesettings"
        f"?api-version={AUTOSCALE_API_VERSION}"
    )
    out: dict[str, Autoscale] = {}
    for setting in _pages(compute, url, f"ListAutoscaleSettings {subscription}"):
        props = setting.get("properties") or {}
        if props.get("enabled") is False:
            continue
        profiles = props.get("profiles") or []
        at = _default_profile(profiles)
        profile = profiles[at] if at is not None else {}
        capacity = profile.get("capacity") or {}
        try:
            bounds = Autoscale(
                minimum=int(capacity["minimum"]),
                maximum=int(capacity["maximum"]),
                default=int(capacity.get("default", capacity["minimum"])),
                setting_id=arm_id(setting.get("id")),
                profile=str(profile.get("name") or ""),
                profile_index=at or 0,
                profiles=len(profiles),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidResponseError(
                f"autoscale setting {setting.get('id')} has no usable capacity: {capacity!r}",
                operation="ListAutoscaleSettings",
            ) from exc
        out[arm_id(props.get("targetResourceUri"))] = bounds
    return out


def scaling_group_of(
    raw: Mapping[str, Any],
    subscription: str,
    bounds: Mapping[str, Autoscale],
    members: Sequence[Resource],
) -> ScalingGroup:
    """A ``ScalingGroup`` for one scale set; ``members`` are inventory VMs of any scale set."""
    sid = arm_id(raw["id"])
    sku = raw.get("sku") or {}
    desired = int(sku.get("capacity") or 0)
    scaler = bounds.get(sid)
    low, high = (scaler.minimum, scaler.maximum) if scaler else (desired, desired)
    props = raw.get("properties") or {}
    nets = ((props.get("virtualMachineProfile") or {}).get("networkProfile") or {}).get(
        "networkInterfaceConfigurations"
    ) or []
    subnets = [
        arm_id(((ip.get("properties") or {}).get("subnet") or {}).get("id"))
        for conf in nets
        for ip in (conf.get("properties") or {}).get("ipConfigurations") or []
    ]
    return ScalingGroup(
        name=sid,
        provider=ProviderName.AZURE,
        account=subscription,
        region=str(raw.get("location", "")).lower(),
        desired=desired,
        min_size=low,
        max_size=high,
        subnet_ids=tuple(dict.fromkeys(s for s in subnets if s)),
        instance_ids=tuple(r.id for r in members if r.tags.get("headroom:scaleSet") == sid),
        tags={
            "Name": str(raw.get("name", "")),
            **(raw.get("tags") or {}),
            **({AUTOSCALE_TAG: scaler.tag()} if scaler and scaler.setting_id else {}),
        },
    )
