"""Instances and MIGs through google-cloud-compute's REST transport against recorded pages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import responses

from providers.base import ProviderUnavailableError
from providers.gcp import GcpProvider
from providers.gcp.inventory import NETWORK_TAGS
from providers.gcp.scaling import AUTOSCALER_TAG
from providers.models import ProviderName
from tests.providers.gcp.conftest import COMPUTE, fixture, serve_instances

WEB1 = "projects/demo-proj/zones/us-central1-a/instances/web-1"


def test_instances_across_pages_and_zones(
    rsps: responses.RequestsMock, provider: GcpProvider
) -> None:
    serve_instances(rsps)
    found = {r.id: r for r in provider.inventory()}
    assert sorted(found) == [
        "projects/demo-proj/zones/europe-west1-b/instances/db-1",
        "projects/demo-proj/zones/us-central1-a/instances/web-1",
        "projects/demo-proj/zones/us-central1-a/instances/web-2",
        "projects/demo-proj/zones/us-central1-f/instances/api-x1",
    ]
    web = found[WEB1]
    assert web.provider is ProviderName.GCP and web.account == "demo-proj"
    assert (web.region, web.zone, web.instance_type) == (
        "us-central1",
        "us-central1-a",
        "n2-standard-4",
    )
    assert web.tags == {
        "app": "web",
        "tenant": "acme",
        "Name": "web-1",
        NETWORK_TAGS: "http-server,web",
    }
    assert web.name == "web-1" and web.state == "running"
    nic = web.interfaces[0]
    assert nic.id == f"{WEB1}/nic0"
    assert (nic.private_ips, nic.public_ips) == (("10.128.0.2",), ("34.68.10.20",))
    assert nic.subnet_id == "projects/demo-proj/regions/us-central1/subnetworks/prod-us"
    assert nic.vpc_id == "projects/demo-proj/global/networks/prod"
    assert nic.interface_type == "gvnic"
    assert web.launched_at == datetime(2025, 1, 6, 11, 14, 15, 926000, tzinfo=UTC)


def test_stopped_instance_with_two_nics(
    rsps: responses.RequestsMock, provider: GcpProvider
) -> None:
    serve_instances(rsps)
    web2 = next(r for r in provider.inventory() if r.name == "web-2")
    assert web2.state == "stopped"
    assert [n.id.rsplit("/", 1)[1] for n in web2.interfaces] == ["nic0", "nic1"]
    assert web2.interfaces[1].ipv6_ips == ("fd20:a:b::3",)
    assert web2.addresses == ("10.128.0.3", "192.168.5.3", "fd20:a:b::3")


def test_regions_filter_what_is_kept(rsps: responses.RequestsMock, factory: object) -> None:
    serve_instances(rsps)
    only_eu = GcpProvider(factory=factory, regions=["europe-west1"])  # type: ignore[arg-type]
    assert [r.name for r in only_eu.inventory()] == ["db-1"]


def test_an_unreachable_zone_fails_rather_than_hiding_instances(
    rsps: responses.RequestsMock, provider: GcpProvider
) -> None:
    rsps.get(f"{COMPUTE}/aggregated/instances", json=fixture("instances_unreachable.json"))
    with pytest.raises(ProviderUnavailableError, match="zones/asia-east1-a"):
        provider.inventory()


def test_migs_with_autoscaler_members_and_regional(
    rsps: responses.RequestsMock, provider: GcpProvider
) -> None:
    rsps.get(f"{COMPUTE}/aggregated/autoscalers", json=fixture("autoscalers_aggregated.json"))
    rsps.get(f"{COMPUTE}/aggregated/instanceGroupManagers", json=fixture("igm_aggregated.json"))
    rsps.post(
        f"{COMPUTE}/zones/us-central1-f/instanceGroupManagers/api-mig/listManagedInstances",
        json=fixture("managed_instances_api.json"),
    )
    rsps.post(
        f"{COMPUTE}/regions/europe-west1/instanceGroupManagers/batch/listManagedInstances",
        json=fixture("managed_instances_batch.json"),
    )
    groups = {g.name.rsplit("/", 1)[1]: g for g in provider.scaling_groups()}
    api = groups["api-mig"]
    assert api.name == "projects/demo-proj/zones/us-central1-f/instanceGroupManagers/api-mig"
    assert (api.region, api.desired, api.min_size, api.max_size) == ("us-central1", 2, 2, 6)
    assert api.launch_template_id == "projects/demo-proj/global/instanceTemplates/api-tmpl-v3"
    assert api.instance_ids == (
        "projects/demo-proj/zones/us-central1-f/instances/api-x1",
        "projects/demo-proj/zones/us-central1-f/instances/api-x2",
    )
    assert api.tags[AUTOSCALER_TAG] == "projects/demo-proj/zones/us-central1-f/autoscalers/api-as"
    batch = groups["batch"]  # its autoscaler is OFF: bounds are the target size
    assert (batch.region, batch.desired, batch.min_size, batch.max_size) == (
        "europe-west1",
        1,
        1,
        1,
    )
    assert AUTOSCALER_TAG not in batch.tags
    assert batch.instance_ids == ("projects/demo-proj/zones/europe-west1-c/instances/batch-q7",)
