"""Scale sets as ``ScalingGroup``s: capacity from the scale set, bounds from its autoscale
setting (``Microsoft.Insights/autoscalesettings``), members from the inventory.

Autoscale settings are read with a plain ARM request through the compute client's pipeline (same
credential, retries and transport), following ``nextLink``. The bounds are the default profile's
(the one without a recurrence or fixed date); a scale set without an enabled setting has its
capacity as both bounds (nothing scales it but a person).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest

from providers.azure.errors import azure_errors
from providers.azure.ids import arm_id
from providers.base import InvalidResponseError
from providers.models import ProviderName, Resource, ScalingGroup

__all__ = ["AUTOSCALE_API_VERSION", "Bounds", "autoscale_bounds", "scaling_group_of"]

AUTOSCALE_API_VERSION = "2022-10-01"
Bounds = tuple[int, int, int]  # (minimum, maximum, default)


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


def _default_profile(profiles: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    for profile in profiles:
        if not profile.get("recurrence") and not profile.get("fixedDate"):
            return profile
    return profiles[0] if profiles else None


def autoscale_bounds(compute: Any, subscription: str) -> dict[str, Bounds]:
    """Target scale set id (lower-cased) -> (min, max, default) of its enabled setting."""
    url = (
        f"/subscriptions/{subscription}/providers/Microsoft.Insights/autoscalesettings"
        f"?api-version={AUTOSCALE_API_VERSION}"
    )
    out: dict[str, Bounds] = {}
    for setting in _pages(compute, url, f"ListAutoscaleSettings {subscription}"):
        props = setting.get("properties") or {}
        if props.get("enabled") is False:
            continue
        profile = _default_profile(props.get("profiles") or [])
        capacity = (profile or {}).get("capacity") or {}
        try:
            bounds = (
                int(capacity["minimum"]),
                int(capacity["maximum"]),
                int(capacity.get("default", capacity["minimum"])),
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
    bounds: Mapping[str, Bounds],
    members: Sequence[Resource],
) -> ScalingGroup:
    """A ``ScalingGroup`` for one scale set; ``members`` are inventory VMs of any scale set."""
    sid = arm_id(raw["id"])
    sku = raw.get("sku") or {}
    desired = int(sku.get("capacity") or 0)
    low, high, _ = bounds.get(sid, (desired, desired, desired))
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
        tags={"Name": str(raw.get("name", "")), **(raw.get("tags") or {})},
    )
