"""Meaning checks for the Google Cloud names a policy writes: regions and machine families.

A policy names GCP things in two places: pools (``pools.regions.us-central1``) and resize
families (``n2-standard``, ``n2d-highmem``, ``c3-highcpu``: a machine series and a class; the
shared-core ``e2``, ``f1`` and ``g1`` families have the sizes ``micro``/``small``/``medium``).
A name is taken as Google's by its shape (``us-central1``, not AWS's ``us-east-1`` nor Azure's
``westeurope``; ``<series>-<class>`` with a digit in the series, not AWS's ``m6i``), and then
checked against the tables below, so a typo or a zone in place of a region is caught by
``headroom policy validate`` without credentials.

The tables are Google's public lists (https://cloud.google.com/compute/docs/regions-zones and
https://cloud.google.com/compute/docs/machine-resource) transcribed for Headroom in 2025 from
memory: this environment could not re-read the pages. So they give way to the provider: a
region the provider serves (``--region``, or the live inventory's regions in a cycle) is never
refused, and families are checked here only when no catalog is given (a catalog, such as the
project's own machine types, is then the check, in ``policies.check``). When Google adds a
region or series, add it below.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from policies.actions import ResizeAction
from policies.loader import PolicyIssue
from policies.schema import Policy
from providers.models import InstanceType
from providers.sizes import size_rank

__all__ = ["GCP_FAMILY", "GCP_REGION", "GCP_REGIONS", "GCP_SERIES", "gcp_issues"]

#: A region as Google writes it (``us-central1``, ``northamerica-northeast2``).
GCP_REGION = re.compile(r"[a-z]+-[a-z]+[0-9]+")
#: A zone (``us-central1-a``): a region and a letter.
_GCP_ZONE = re.compile(r"([a-z]+-[a-z]+[0-9]+)-[a-z]")
#: A machine family as the catalog derives it from a type name (``n2-standard`` of
#: ``n2-standard-8``): a series with a digit, a dash, a class.
GCP_FAMILY = re.compile(r"([a-z][0-9]+[a-z]?)-([a-z]+)")

#: Compute Engine regions (2025).
GCP_REGIONS: frozenset[str] = frozenset(
    {
        "africa-south1",
        "asia-east1",
        "asia-east2",
        "asia-northeast1",
        "asia-northeast2",
        "asia-northeast3",
        "asia-south1",
        "asia-south2",
        "asia-southeast1",
        "asia-southeast2",
        "australia-southeast1",
        "australia-southeast2",
        "europe-central2",
        "europe-north1",
        "europe-north2",
        "europe-southwest1",
        "europe-west1",
        "europe-west2",
        "europe-west3",
        "europe-west4",
        "europe-west6",
        "europe-west8",
        "europe-west9",
        "europe-west10",
        "europe-west12",
        "me-central1",
        "me-central2",
        "me-west1",
        "northamerica-northeast1",
        "northamerica-northeast2",
        "northamerica-south1",
        "southamerica-east1",
        "southamerica-west1",
        "us-central1",
        "us-east1",
        "us-east4",
        "us-east5",
        "us-south1",
        "us-west1",
        "us-west2",
        "us-west3",
        "us-west4",
    }
)

_GENERAL = ("standard", "highmem", "highcpu")
#: Machine series and the classes each offers (2025).
GCP_SERIES: dict[str, tuple[str, ...]] = {
    "e2": _GENERAL,
    "n1": (*_GENERAL, "megamem", "ultramem"),
    "n2": _GENERAL,
    "n2d": _GENERAL,
    "n4": _GENERAL,
    "c2": ("standard",),
    "c2d": _GENERAL,
    "c3": _GENERAL,
    "c3d": _GENERAL,
    "c4": _GENERAL,
    "c4a": _GENERAL,
    "c4d": _GENERAL,
    "t2d": ("standard",),
    "t2a": ("standard",),
    "h3": ("standard",),
    "z3": ("highmem",),
    "m1": ("megamem", "ultramem"),
    "m2": ("megamem", "ultramem", "hypermem"),
    "m3": ("megamem", "ultramem"),
    "m4": ("megamem", "ultramem"),
    "x4": ("megamem",),
    "a2": ("highgpu", "megagpu", "ultragpu"),
    "a3": ("highgpu", "megagpu", "edgegpu", "ultragpu"),
    "g2": ("standard",),
}
#: Shared-core families (``e2-micro``: family ``e2``, size ``micro``); ``f1`` is left out as
#: it is an AWS family too (``f1.2xlarge``).
_SHARED_CORE = frozenset({"e2", "g1"})
#: Series that are also AWS families (``c4.large``, ``m3.medium``): a bare one is AWS's.
_AWS_TOO = frozenset({"c3", "c4", "m1", "m2", "m3", "m4", "g2"})


def gcp_issues(
    policy: Policy,
    catalog: Mapping[str, InstanceType] | None,
    served: Collection[str] = (),
    *,
    source: str = "<policy>",
) -> list[PolicyIssue]:
    """Problems with the GCP regions and machine families ``policy`` names.

    ``served``: regions the provider serves (never refused); ``catalog`` given: families are
    left to the catalog check."""
    issues = [
        PolicyIssue(source, None, f"pools.regions.{name}", message)
        for name in policy.pools.regions
        if name not in served and (message := _region_problem(name)) is not None
    ]
    for i, action in enumerate(policy.actions):
        if isinstance(action, ResizeAction):
            issues += [
                PolicyIssue(source, None, f"actions[{i}].{field}", message)
                for field, message in _family_problems(action, catalog is None)
            ]
    return issues


def _region_problem(name: str) -> str | None:
    """Why ``name`` cannot be a GCP pool region; None when it is one or is not GCP-shaped."""
    if zone := _GCP_ZONE.fullmatch(name):
        region = zone.group(1)
        return f"{name!r} is a Google Cloud zone: pools are per region ({region})"
    if GCP_REGION.fullmatch(name) and name not in GCP_REGIONS:
        near = sorted(r for r in GCP_REGIONS if r.rstrip("0123456789") == name.rstrip("0123456789"))
        hint = ", ".join(near) if near else "us-central1, europe-west1, asia-east1, ..."
        return f"{name!r} is not a Google Cloud region (e.g. {hint})"
    return None


def _family_problems(action: ResizeAction, check_names: bool) -> list[tuple[str, str]]:
    """(field, message) for GCP-shaped families that are not Compute Engine families, and for
    a ``largest_size`` a GCP family cannot be capped by."""
    out: list[tuple[str, str]] = []
    gcp = False
    for fam in action.families:
        m = GCP_FAMILY.fullmatch(fam)
        if m is not None:
            gcp = True
            series, cls = m.groups()
            if not check_names:
                continue
            if series not in GCP_SERIES:
                out.append(("families", f"{fam!r}: {series!r} is not a Compute Engine series"))
            elif cls not in GCP_SERIES[series]:
                classes = ", ".join(f"{series}-{c}" for c in GCP_SERIES[series])
                out.append(("families", f"{fam!r} is not one of the {series} families: {classes}"))
        elif fam in _SHARED_CORE:
            gcp = True
        elif check_names and fam in GCP_SERIES and fam not in _AWS_TOO:
            classes = ", ".join(f"{fam}-{c}" for c in GCP_SERIES[fam])
            out.append(("families", f"{fam!r} is a machine series, not a family: write {classes}"))
    cap = action.largest_size
    if gcp and cap is not None and not cap.isdigit() and size_rank(cap) is None:
        out.append(
            (
                "largest_size",
                f"{cap!r} caps no Google Cloud family: give a vCPU count (16 for n2-standard-16) "
                "or an instance size name (8xlarge = 32 vCPUs)",
            )
        )
    return out
