"""Machine types and their egress caps (the documented rule, as data)."""

from __future__ import annotations

import pytest
import responses

from providers.gcp import GcpProvider
from providers.gcp.egress import EGRESS_SOURCE, egress_gbps
from providers.models import ProviderName
from tests.providers.gcp.conftest import COMPUTE, fixture, page_token


@pytest.mark.parametrize(
    ("name", "vcpus", "tier1", "gbps"),
    [
        ("e2-micro", 2, False, 1.0),  # shared core: a fixed cap
        ("e2-medium", 2, False, 2.0),
        ("e2-standard-4", 4, False, 8.0),  # 2 Gbps per vCPU
        ("e2-standard-16", 16, False, 16.0),  # E2's cap
        ("n2-standard-8", 8, False, 16.0),
        ("n2-standard-32", 32, False, 32.0),
        ("n2-standard-32", 32, True, 100.0),  # Tier_1 from 32 vCPUs
        ("n2-standard-16", 16, True, 32.0),  # too small for Tier_1
        ("c3-standard-176", 176, False, 100.0),
        ("c3-standard-176", 176, True, 200.0),
        ("custom-4-16384", 4, False, 8.0),  # an N1 custom type
        ("zz9-standard-64", 64, False, 32.0),  # an unknown series: the default cap
    ],
)
def test_egress_rule(name: str, vcpus: int, tier1: bool, gbps: float) -> None:
    assert egress_gbps(name, vcpus, tier1=tier1) == gbps
    assert EGRESS_SOURCE.startswith("https://cloud.google.com/compute/docs/")


def test_catalog_of_one_zone_paginated(rsps: responses.RequestsMock, factory: object) -> None:
    url = f"{COMPUTE}/zones/us-central1-a/machineTypes"
    rsps.get(url, json=fixture("machine_types_page1.json"), match=page_token(None))
    rsps.get(url, json=fixture("machine_types_page2.json"), match=page_token("mt-2"))
    provider = GcpProvider(
        factory=factory,  # type: ignore[arg-type]
        catalog_zone="us-central1-a",
        prices={"n2-standard-4": 0.194},
        tier1=True,
    )
    catalog = provider.instance_catalog()
    assert "n1-standard-1" not in catalog  # deprecated
    assert sorted(catalog) == [
        "c3-standard-176",
        "e2-micro",
        "e2-standard-16",
        "e2-standard-4",
        "n2-highmem-8",
        "n2-standard-32",
        "n2-standard-4",
        "n2-standard-8",
    ]
    n2 = catalog["n2-standard-4"]
    assert n2.provider is ProviderName.GCP
    assert (n2.vcpu, n2.memory_gib, n2.baseline_gbps, n2.peak_gbps) == (4, 16.0, 8.0, 8.0)
    assert n2.hourly_price_usd == 0.194
    assert catalog["n2-standard-32"].baseline_gbps == 100.0  # Tier_1 asked for
    assert catalog["e2-micro"].burstable_network
    assert (n2.family, n2.size) == ("n2-standard", "4")


def test_catalog_across_zones_deduplicated(
    rsps: responses.RequestsMock, provider: GcpProvider
) -> None:
    page = {
        "items": {
            "zones/us-central1-a": {"machineTypes": fixture("machine_types_page2.json")["items"]},
            "zones/europe-west1-b": {"machineTypes": fixture("machine_types_page2.json")["items"]},
            "zones/asia-east1-a": {
                "machineTypes": [{"name": "t2a-standard-4", "guestCpus": 4, "memoryMb": 16384}]
            },
        }
    }
    rsps.get(f"{COMPUTE}/aggregated/machineTypes", json=page)
    only = GcpProvider(factory=provider.factory, regions=["us-central1", "europe-west1"])
    assert sorted(only.instance_catalog()) == [
        "c3-standard-176",
        "n2-highmem-8",
        "n2-standard-32",
        "n2-standard-4",
        "n2-standard-8",
    ]
