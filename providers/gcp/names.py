"""Google resource names: full URLs cut to relative names, zones to regions.

Headroom's id of a GCP resource is its relative resource name
(``projects/p/zones/us-central1-a/instances/web-1``): unique, readable, the name Cloud Logging
and Cloud Monitoring use, and the import id ``pulumi-gcp`` takes to adopt it.
"""

from __future__ import annotations

__all__ = ["last_segment", "region_of_zone", "relative_name", "scope_location"]

_API_PREFIXES = (
    "https://www.googleapis.com/compute/v1/",
    "https://compute.googleapis.com/compute/v1/",
    "https://www.googleapis.com/compute/beta/",
)


def relative_name(url: str) -> str:
    """``https://www.googleapis.com/compute/v1/projects/p/zones/z/instances/n`` ->
    ``projects/p/zones/z/instances/n`` (a relative name is returned unchanged)."""
    for prefix in _API_PREFIXES:
        if url.startswith(prefix):
            return url[len(prefix) :]
    return url


def last_segment(url: str) -> str:
    """The name at the end of a URL or relative name (``.../machineTypes/n2-standard-4``)."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def region_of_zone(zone: str) -> str:
    """``us-central1-a`` -> ``us-central1``."""
    region, sep, _ = zone.rpartition("-")
    if not sep or not region:
        raise ValueError(f"not a zone name: {zone!r}")
    return region


def scope_location(scope: str) -> tuple[str, str]:
    """An aggregated list's scope key ``zones/us-central1-a`` or ``regions/us-central1`` ->
    (``zones`` | ``regions``, name)."""
    kind, sep, name = scope.partition("/")
    if not sep or kind not in {"zones", "regions"}:
        raise ValueError(f"not a zonal or regional scope: {scope!r}")
    return kind, name
