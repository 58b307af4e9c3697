"""Inventory, scale sets and the size catalog from recorded ARM exchanges (REST shapes)."""

from __future__ import annotations

import pytest

from providers.azure.provider import AzureProvider
from providers.base import (
    AccessDeniedError,
    NotFoundError,
    ProviderUnavailableError,
    ThrottledError,
)
from providers.models import ProviderName, ResourceKind
from tests.providers.azure.recorded import ARM_VMS, SUB, load, served

ERRORS = load("errors.json")
SS = (
    f"/subscriptions/{SUB}/resourcegroups/shop-rg/providers/microsoft.compute/"
    "virtualmachinescalesets/api-ss"
)


def _provider(session) -> AzureProvider:
    return AzureProvider(session=session, regions=["westeurope"])


def test_inventory_follows_next_link_and_keeps_one_region(session) -> None:
    with served("fleet.json"):
        found = {r.tags["Name"]: r for r in _provider(session).inventory()}
    assert set(found) == {"web-1", "web two", "api-ss_0", "api-ss_1", "shop-lb"}  # db-1: eastus
    web1 = found["web-1"]
    assert web1.provider is ProviderName.AZURE and web1.account == SUB
    assert web1.id == web1.id.lower() and web1.id.endswith("/virtualmachines/web-1")
    assert web1.instance_type == "Standard_D4s_v5" and web1.zone == "1"
    assert web1.state == "running" and found["web two"].state == "deallocated"
    assert web1.tags["tenant"] == "acme"
    (nic,) = web1.interfaces
    assert nic.private_ips == ("10.0.1.4",) and nic.public_ips == ("20.50.1.4",)
    assert nic.subnet_id and nic.subnet_id.endswith("/subnets/app")
    assert nic.vpc_id and nic.vpc_id.endswith("/virtualnetworks/shop-vnet")
    assert web1.image_id == "Canonical:ubuntu-24_04-lts:server:latest"
    member = found["api-ss_1"]
    assert member.instance_type == "Standard_D2s_v5"  # the scale set's size
    assert member.tags["headroom:scaleSet"] == SS
    assert member.addresses == ("10.0.1.11",)
    lb = found["shop-lb"]
    assert lb.kind is ResourceKind.LOAD_BALANCER and lb.addresses == ("10.0.1.100",)


def test_scale_set_bounds_come_from_the_default_autoscale_profile(session) -> None:
    provider = _provider(session)
    with served("fleet.json"):
        (group,) = provider.scaling_groups()
    assert group.name == SS  # the autoscale setting named it in other case
    assert (group.desired, group.min_size, group.max_size) == (2, 2, 6)
    assert len(group.instance_ids) == 2 and group.subnet_ids[0].endswith("/subnets/app")


def test_catalog_has_bandwidth_from_data_and_leaves_unknown_sizes_out(session) -> None:
    with served("fleet.json"):
        catalog = _provider(session).instance_catalog()
    assert set(catalog) == {"Standard_D2s_v5", "Standard_D4s_v5"}  # Standard_B1s: no figure
    d4 = catalog["Standard_D4s_v5"]
    assert (d4.vcpu, d4.memory_gib, d4.baseline_gbps, d4.peak_gbps) == (4, 16.0, 12.5, 12.5)
    assert d4.provider is ProviderName.AZURE


def test_429_is_retried_after_retry_after(session, transport) -> None:
    throttled = {
        "url": f"{ARM_VMS}?api-version=x",
        "status": 429,
        "headers": {"Retry-After": "7"},
        "body": ERRORS["throttled"],
    }
    with served(extra=[throttled, *load("fleet.json")]):
        found = _provider(session).inventory()
    assert len(found) == 5
    assert 7 in transport.slept


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (403, "authorization_failed", AccessDeniedError, "AuthorizationFailed"),
        (404, "subscription_not_found", NotFoundError, "SubscriptionNotFound"),
        (429, "throttled", ThrottledError, "TooManyRequests"),
        (500, "internal", ProviderUnavailableError, "InternalServerError"),
    ],
)
def test_errors_map_to_the_contract(session, status, body, error, text) -> None:
    failing = {
        "url": f"{ARM_VMS}?api-version=x",
        "status": status,
        "body": ERRORS[body],
        "headers": {"Retry-After": "1"},
    }
    others = [ex for ex in load("fleet.json") if not ex["url"].startswith(ARM_VMS)]
    with served(extra=[*others, failing]), pytest.raises(error) as raised:
        _provider(session).inventory()
    assert text in str(raised.value)
    assert "ListVirtualMachines" in str(raised.value)
