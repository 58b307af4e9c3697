"""``largest_size`` caps GCP and Azure types too: their sizes are numbers (``n2-standard-16``,
``Standard_D16s_v5``), read as vCPUs; a number caps them directly, an AWS name by its
general-purpose vCPUs (``4xlarge`` is 16)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from providers.models import InstanceType, ProviderName
from reconciler.planning.sizing import within_size


def _gcp(vcpu: int) -> InstanceType:
    return InstanceType(
        name=f"n2-standard-{vcpu}",
        provider=ProviderName.GCP,
        vcpu=vcpu,
        memory_gib=4.0 * vcpu,
        baseline_gbps=min(32.0, 2.0 * vcpu),
        peak_gbps=min(32.0, 2.0 * vcpu),
    )


def _azure(vcpu: int) -> InstanceType:
    return InstanceType(
        name=f"Standard_D{vcpu}s_v5",
        provider=ProviderName.AZURE,
        vcpu=vcpu,
        memory_gib=4.0 * vcpu,
        baseline_gbps=12.5,
        peak_gbps=12.5,
    )


@pytest.mark.parametrize("make", [_gcp, _azure])
@pytest.mark.parametrize(
    ("largest", "fits", "too_big"),
    [("16", 16, 32), ("4xlarge", 16, 32), ("xlarge", 4, 8), (None, 128, 128)],
)
def test_numbered_sizes_are_capped_by_vcpus(
    make: Callable[[int], InstanceType], largest: str | None, fits: int, too_big: int
) -> None:
    assert make(fits).size.isdigit()
    assert within_size({}, make(fits), largest)
    assert within_size({}, make(too_big), largest) is (largest is None)


def test_policy_families_match_azure_families_in_any_case() -> None:
    """Policies write families in lower case (``dsv5``); Azure's catalog says ``Dsv5``."""
    from reconciler.planning.sizing import cheapest_type

    catalog = {t.name: t for t in (_azure(4), _azure(8))}
    assert {t.family for t in catalog.values()} == {"Dsv5"}
    found = cheapest_type(catalog, ["dsv5"], gbps=1.0, vcpu=3, memory_gib=8)
    assert found is not None and found.name == "Standard_D4s_v5"
