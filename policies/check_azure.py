"""Azure meaning checks of a policy, run by ``policies.check.check_against``.

Names written the Azure way are checked against what Azure and Headroom know, without a
provider: a pool region without a dash (AWS and GCP regions have one) that is close to an Azure
region but not one (``westeurop``) is refused with the region meant; a resize family shaped like
a versioned Azure series (``dsv5``: letters then ``v<n>``; AWS and GCP families carry a
generation digit of their own or a dash) must be
one whose bandwidth Headroom knows (``providers/azure/vm_bandwidth.json``: a size without a
bandwidth figure is left out of the catalog and can never be chosen); a ``largest_size`` written
as an Azure size (``Standard_D16s_v5``) is refused with the vCPU count to write instead (Azure
sizes are capped by vCPUs, and a size name would cap nothing).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping

from policies.actions import ResizeAction
from policies.loader import PolicyIssue
from policies.schema import Policy
from providers.models import InstanceType

__all__ = ["AZURE_REGIONS", "azure_issues", "is_azure_family", "is_azure_region"]

#: Azure's regions as ARM names them (``az account list-locations``, physical regions of the
#: public, US Government and China clouds).
AZURE_REGIONS = frozenset(
    [
        "australiacentral",
        "australiacentral2",
        "australiaeast",
        "australiasoutheast",
        "austriaeast",
        "belgiumcentral",
        "brazilsouth",
        "brazilsoutheast",
        "canadacentral",
        "canadaeast",
        "centralindia",
        "centralus",
        "centraluseuap",
        "chilecentral",
        "eastasia",
        "eastus",
        "eastus2",
        "eastus2euap",
        "francecentral",
        "francesouth",
        "germanynorth",
        "germanywestcentral",
        "indonesiacentral",
        "israelcentral",
        "italynorth",
        "japaneast",
        "japanwest",
        "jioindiacentral",
        "jioindiawest",
        "koreacentral",
        "koreasouth",
        "malaysiawest",
        "mexicocentral",
        "newzealandnorth",
        "northcentralus",
        "northeurope",
        "norwayeast",
        "norwaywest",
        "polandcentral",
        "qatarcentral",
        "southafricanorth",
        "southafricawest",
        "southcentralus",
        "southeastasia",
        "southindia",
        "spaincentral",
        "swedencentral",
        "swedensouth",
        "switzerlandnorth",
        "switzerlandwest",
        "uaecentral",
        "uaenorth",
        "uksouth",
        "ukwest",
        "westcentralus",
        "westeurope",
        "westindia",
        "westus",
        "westus2",
        "westus3",
        "usgovarizona",
        "usgovtexas",
        "usgovvirginia",
        "usdodcentral",
        "usdodeast",
        "chinaeast",
        "chinaeast2",
        "chinaeast3",
        "chinanorth",
        "chinanorth2",
        "chinanorth3",
    ]
)
_REGION_SHAPE = re.compile(r"^[a-z][a-z0-9]*$")
_FAMILY_SHAPE = re.compile(r"^[a-z]+v\d+$")
_SIZE = re.compile(r"^(?:standard|basic)_([a-z]+)(\d+)(-\d+)?([a-z]*)(?:_?(v\d+))?$", re.IGNORECASE)


def is_azure_region(name: str) -> bool:
    """Whether ``name`` is written as an Azure region (no dash), known or not."""
    return bool(_REGION_SHAPE.match(name))


def is_azure_family(family: str) -> bool:
    """Whether a resize family is written as a versioned Azure series (``dsv5``, ``fsv2``)."""
    return bool(_FAMILY_SHAPE.match(family.lower()))


def _known_families() -> dict[str, str]:
    """Azure series with a bandwidth figure, lower-cased -> as Azure writes them."""
    from providers.azure.catalog import bandwidth_table

    return {b.series.lower(): b.series for b in bandwidth_table().values()}


def _like(name: str, known: list[str], cutoff: float = 0.6) -> str:
    """`` (did you mean x?)`` for the closest of ``known``; "" when none is close."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=cutoff)
    return f" (did you mean {close[0]}?)" if close else ""


def azure_issues(
    policy: Policy,
    catalog: Mapping[str, InstanceType] | None,
    served: Collection[str] = (),
    *,
    source: str = "<policy>",
) -> list[PolicyIssue]:
    """Problems with the Azure regions, VM families and sizes ``policy`` names, at their field
    paths (``policies.loader.locate_issues`` adds the lines).

    ``served``: regions the provider serves (never refused); ``catalog`` given: families are
    left to the catalog check."""
    return [
        PolicyIssue(source, None, path, message)
        for path, message in _problems(policy, served, check_families=catalog is None)
    ]


def _problems(
    policy: Policy, served: Collection[str], *, check_families: bool
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    regions = sorted(AZURE_REGIONS)
    for name in policy.pools.regions:
        if not is_azure_region(name) or name in AZURE_REGIONS or name in served:
            continue
        like = _like(name, regions, cutoff=0.85)  # one or two letters off
        if like:  # a name close to none of Azure's may be another cloud's or a new region
            out.append((f"pools.regions.{name}", f"{name!r} is not an Azure region{like}"))
    families: dict[str, str] | None = None
    for i, action in enumerate(policy.actions):
        if not isinstance(action, ResizeAction):
            continue
        for j, family in enumerate(action.families):
            if not check_families or not is_azure_family(family):
                continue
            families = families if families is not None else _known_families()
            if family.lower() not in families:
                known = ", ".join(sorted(families.values()))
                out.append(
                    (
                        f"actions[{i}].families[{j}]",
                        f"Azure VM family {family!r} has no bandwidth figure, so no size of it "
                        f"can be chosen{_like(family.lower(), sorted(families))} (known: {known})",
                    )
                )
        cap = action.largest_size
        m = _SIZE.match(cap or "")
        if cap is not None and m is not None:
            out.append(
                (
                    f"actions[{i}].largest_size",
                    f"{cap!r} is an Azure VM size; Azure sizes are capped by vCPUs: write "
                    f"largest_size: '{m.group(2)}'",
                )
            )
    return out
