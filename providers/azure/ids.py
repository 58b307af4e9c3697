"""ARM resource ids: compared case-insensitively (Azure returns them in mixed case), kept
lower-cased as Headroom's resource ids so the inventory, metrics and flow logs meet."""

from __future__ import annotations

__all__ = ["arm_id", "id_part", "resource_group"]


def arm_id(value: str | None) -> str:
    """The canonical (lower-case, no trailing slash) form of an ARM id; "" for None."""
    return (value or "").rstrip("/").lower()


def id_part(resource_id: str, key: str) -> str | None:
    """The segment after ``key`` (``resourceGroups``, ``virtualMachineScaleSets``...)."""
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    try:
        return parts[lowered.index(key.lower()) + 1]
    except (ValueError, IndexError):
        return None


def resource_group(resource_id: str) -> str | None:
    return id_part(resource_id, "resourceGroups")
