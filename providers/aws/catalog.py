"""The EC2 instance catalog: vCPU, memory and baseline/peak network bandwidth per type.

Bandwidth comes from ``NetworkInfo.NetworkCards`` (``BaselineBandwidthInGbps``,
``PeakBandwidthInGbps``) when AWS gives them; otherwise it is read from the
``NetworkPerformance`` text ("Up to 10 Gigabit", "25 Gigabit", "Moderate"...). For "up to"
types without a published baseline we assume 1/8 of the peak, flagged ``burstable_network``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from providers.aws.session import aws_errors
from providers.models import InstanceType, ProviderName

__all__ = ["BURST_BASELINE_FRACTION", "collect_catalog", "instance_type", "parse_performance"]

BURST_BASELINE_FRACTION = 1 / 8
_GIGABIT = re.compile(r"(?P<upto>up to\s+)?(?P<gbps>[0-9.]+)\s*gigabit", re.IGNORECASE)
#: Old named performance levels (Gbps, approximate public measurements).
_NAMED = {"very low": 0.05, "low": 0.3, "low to moderate": 0.4, "moderate": 0.5, "high": 1.0}


def parse_performance(text: str) -> tuple[float, float, bool]:
    """(baseline, peak, burstable) from a ``NetworkPerformance`` string."""
    m = _GIGABIT.search(text)
    if m:
        gbps = float(m["gbps"])
        if m["upto"]:
            return gbps * BURST_BASELINE_FRACTION, gbps, True
        return gbps, gbps, False
    named = _NAMED.get(text.strip().lower())
    if named is not None:
        return named, named, False
    raise ValueError(f"unrecognised NetworkPerformance {text!r}")


def instance_type(
    raw: Mapping[str, Any], prices: Mapping[str, float] | None = None
) -> InstanceType:
    """An InstanceType from one describe_instance_types entry."""
    name = raw["InstanceType"]
    net = raw.get("NetworkInfo", {})
    perf = str(net.get("NetworkPerformance", ""))
    cards = net.get("NetworkCards") or []
    baseline_cards = [c["BaselineBandwidthInGbps"] for c in cards if "BaselineBandwidthInGbps" in c]
    peak_cards = [c["PeakBandwidthInGbps"] for c in cards if "PeakBandwidthInGbps" in c]
    if baseline_cards and peak_cards:
        baseline, peak = float(sum(baseline_cards)), float(sum(peak_cards))
        burstable = peak > baseline
    else:
        try:
            baseline, peak, burstable = parse_performance(perf)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from exc
    return InstanceType(
        name=name,
        provider=ProviderName.AWS,
        vcpu=int(raw["VCpuInfo"]["DefaultVCpus"]),
        memory_gib=float(raw["MemoryInfo"]["SizeInMiB"]) / 1024.0,
        baseline_gbps=baseline,
        peak_gbps=max(peak, baseline),
        hourly_price_usd=(prices or {}).get(name),
        burstable_network=burstable,
    )


def collect_catalog(
    ec2: Any,
    region: str,
    prices: Mapping[str, float] | None = None,
    types: Sequence[str] | None = None,
) -> dict[str, InstanceType]:
    """Instance types offered in ``region`` (all, or only ``types``); prices in USD/hour."""
    out: dict[str, InstanceType] = {}
    kwargs: dict[str, Any] = {"InstanceTypes": list(types)} if types else {}
    with aws_errors("DescribeInstanceTypes", region):
        for page in ec2.get_paginator("describe_instance_types").paginate(**kwargs):
            for raw in page.get("InstanceTypes", []):
                if "VCpuInfo" not in raw or "MemoryInfo" not in raw:
                    continue  # bare-metal placeholders without sizing cannot be planned on
                item = instance_type(raw, prices)
                out[item.name] = item
    return out
