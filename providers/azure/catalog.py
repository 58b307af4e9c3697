"""The Azure VM size catalog: vCPUs and memory from ARM, network bandwidth from data.

ARM's size list (``virtualMachineSizes``) has no network figure, so the expected bandwidth of
each size is data (``vm_bandwidth.json``, with the Microsoft Learn page of each series as its
source). A size the table lacks cannot be sized for bandwidth and is left out; ``missing``
lists such sizes so a caller can say so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from providers.azure.errors import azure_errors
from providers.models import InstanceType, ProviderName

__all__ = ["Bandwidth", "Catalog", "bandwidth_table", "collect_catalog", "size_of"]


@dataclass(frozen=True)
class Bandwidth:
    """Expected bandwidth of one size and the page it was taken from."""

    mbps: int
    series: str
    source: str


@cache
def bandwidth_table() -> dict[str, Bandwidth]:
    """VM size name (lower case) -> its published bandwidth."""
    raw = json.loads(
        resources.files("providers.azure").joinpath("vm_bandwidth.json").read_text("utf-8")
    )
    sources: dict[str, str] = raw["sources"]
    return {
        name.lower(): Bandwidth(int(row["mbps"]), row["series"], sources[row["series"]])
        for name, row in raw["sizes"].items()
    }


def size_of(
    raw: Mapping[str, Any], prices: Mapping[str, float] | None = None
) -> InstanceType | None:
    """An ``InstanceType`` from one ARM VM size entry; None when its bandwidth is unknown."""
    name = str(raw["name"])
    known = bandwidth_table().get(name.lower())
    if known is None:
        return None
    gbps = known.mbps / 1000.0
    return InstanceType(
        name=name,
        provider=ProviderName.AZURE,
        vcpu=int(raw["numberOfCores"]),
        memory_gib=float(raw["memoryInMB"]) / 1024.0,
        baseline_gbps=gbps,
        peak_gbps=gbps,
        hourly_price_usd=(prices or {}).get(name),
        burstable_network=False,
    )


@dataclass
class Catalog:
    """Sizes offered in the asked regions, and the sizes left out for want of a figure."""

    types: dict[str, InstanceType] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)


def collect_catalog(
    compute: Any, regions: Iterable[str], prices: Mapping[str, float] | None = None
) -> Catalog:
    """Sizes offered in any of ``regions`` (the union), with prices in USD/hour when given."""
    out = Catalog()
    for region in regions:
        with azure_errors("ListVirtualMachineSizes", region):
            listed = [
                s.as_dict() if hasattr(s, "as_dict") else dict(s)
                for s in compute.virtual_machine_sizes.list(region)
            ]
        for raw in listed:
            item = size_of(raw, prices)
            if item is None:
                out.missing.add(str(raw.get("name")))
            else:
                out.types[item.name] = item
    return out
