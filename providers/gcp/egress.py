"""Per-VM egress bandwidth caps of Compute Engine machine types, as data with its source.

The Compute Engine API's ``MachineType`` carries vCPUs and memory but no bandwidth, so the
documented rule is applied here: a VM may send up to **2 Gbps per vCPU**, capped per machine
series; shared-core types have a fixed cap; with **Tier_1 networking** (per-VM higher
bandwidth, an opt-in on some series at larger sizes) the cap is raised. These are maximums
Google publishes, not guarantees, and they limit egress only (ingress is not capped per VM).

Source: https://cloud.google.com/compute/docs/network-bandwidth (the "Maximum egress
bandwidth" and "Tier_1 networking" tables) and the per-series pages of
https://cloud.google.com/compute/docs/machine-resource. Transcribed for Headroom in 2025;
this environment could not re-read the pages, so check a figure against them before relying
on it and edit the tables below when Google changes them (the tests pin the rule, not the
figures' truth).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_CAP_GBPS",
    "EGRESS_SOURCE",
    "GBPS_PER_VCPU",
    "SERIES_CAPS",
    "SHARED_CORE_GBPS",
    "TIER1",
    "Tier1",
    "egress_gbps",
    "series_of",
]

EGRESS_SOURCE = "https://cloud.google.com/compute/docs/network-bandwidth"
GBPS_PER_VCPU = 2.0
#: The cap of a series this table does not list.
DEFAULT_CAP_GBPS = 32.0

#: Default per-VM egress cap by machine series (Gbps).
SERIES_CAPS: dict[str, float] = {
    "e2": 16.0,
    "n1": 32.0,
    "n2": 32.0,
    "n2d": 32.0,
    "n4": 50.0,
    "t2d": 32.0,
    "t2a": 32.0,
    "c2": 32.0,
    "c2d": 32.0,
    "c3": 100.0,
    "c3d": 100.0,
    "c4": 100.0,
    "m1": 32.0,
    "m2": 32.0,
    "m3": 32.0,
}

#: Shared-core types: a fixed cap whatever the fractional vCPU.
SHARED_CORE_GBPS: dict[str, float] = {
    "e2-micro": 1.0,
    "e2-small": 1.0,
    "e2-medium": 2.0,
    "f1-micro": 1.0,
    "g1-small": 1.0,
}


@dataclass(frozen=True)
class Tier1:
    """Tier_1 networking of a series: the cap with it on, from ``min_vcpus`` upwards."""

    min_vcpus: int
    cap_gbps: float


#: Series offering Tier_1 networking, the smallest size it applies to, and its cap.
TIER1: dict[str, Tier1] = {
    "n2": Tier1(min_vcpus=32, cap_gbps=100.0),
    "n2d": Tier1(min_vcpus=48, cap_gbps=100.0),
    "c2": Tier1(min_vcpus=30, cap_gbps=100.0),
    "c2d": Tier1(min_vcpus=56, cap_gbps=100.0),
    "c3": Tier1(min_vcpus=44, cap_gbps=200.0),
    "c3d": Tier1(min_vcpus=60, cap_gbps=200.0),
    "m3": Tier1(min_vcpus=64, cap_gbps=100.0),
}


def series_of(machine_type: str) -> str:
    """``n2-standard-8`` -> ``n2``; ``custom-4-16384`` (an N1 custom type) -> ``n1``."""
    head = machine_type.split("-", 1)[0]
    return "n1" if head == "custom" else head


def egress_gbps(machine_type: str, vcpus: int, *, tier1: bool = False) -> float:
    """The per-VM egress cap of ``machine_type`` with ``vcpus`` (Tier_1 when on and offered)."""
    if machine_type in SHARED_CORE_GBPS:
        return SHARED_CORE_GBPS[machine_type]
    series = series_of(machine_type)
    cap = SERIES_CAPS.get(series, DEFAULT_CAP_GBPS)
    offered = TIER1.get(series)
    if tier1 and offered is not None and vcpus >= offered.min_vcpus:
        return offered.cap_gbps
    return min(GBPS_PER_VCPU * vcpus, cap)
