"""The real program (infra/__main__.py) run under Pulumi mocks for several desired states."""

from __future__ import annotations

import json

import pytest
from pulumi.runtime import rpc

from infra.desired_state import DesiredStateError
from tests.infra.harness import ProgramFailed, ProgramRun, run_program
from tests.infra.samples import minimal_state, web_state

INSTANCE = "aws:ec2/instance:Instance"
ASG = "aws:autoscaling/group:Group"
RECORD = "aws:route53/record:Record"
ENDPOINT_GROUP = "aws:globalaccelerator/endpointGroup:EndpointGroup"
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
PARAMETER = "aws:ssm/parameter:Parameter"


@pytest.fixture(scope="module")
def web() -> ProgramRun:
    return run_program(web_state())


def test_instance_types_and_adoption(web: ProgramRun) -> None:
    web1 = web.named("web-1")
    assert web1.inputs["instanceType"] == "m5.2xlarge"
    assert web1.import_id == "i-0aaa"
    assert web1.inputs["region"] == "us-east-1"
    assert web1.inputs["tags"]["Name"] == "web-1"
    assert web1.inputs["tags"]["headroom:group"] == "web"


def test_protected_instance_keeps_its_type_and_is_reported(web: ProgramRun) -> None:
    db = web.named("web-db")
    assert db.inputs["instanceType"] == "r6i.2xlarge"
    assert web.outputs["protected"] == ["web-db"]
    rails = [g for g in web.outputs["guardRails"] if g["resource"] == "web-db"]
    assert rails == [
        {
            "resource": "web-db",
            "rule": "protected: never resized",
            "requested": "r6i.4xlarge",
            "applied": "r6i.2xlarge",
        }
    ]


def test_scaling_group_counts_type_and_stable_name(web: ProgramRun) -> None:
    asg = web.named("web-asg")
    assert asg.inputs["name"] == "web-asg-prod"
    assert asg.import_id == "web-asg-prod"
    assert (asg.inputs["desiredCapacity"], asg.inputs["minSize"], asg.inputs["maxSize"]) == (
        4,
        2,
        8,
    )
    mixed = asg.inputs["mixedInstancesPolicy"]["launchTemplate"]
    assert mixed["overrides"] == [{"instanceType": "c6in.large"}]
    assert mixed["launchTemplateSpecification"]["launchTemplateId"] == "lt-0web"
    assert asg.inputs["vpcZoneIdentifiers"] == ["subnet-e1", "subnet-e2"]


def test_policy_minimum_raises_counts(web: ProgramRun) -> None:
    batch = web.named("batch-asg")
    assert (batch.inputs["desiredCapacity"], batch.inputs["minSize"]) == (5, 5)
    assert batch.inputs["maxSize"] == 5
    assert web.outputs["scalingCounts"]["batch-asg"] == {"desired": 5, "min": 5, "max": 5}
    assert "launchTemplate" in batch.inputs and "mixedInstancesPolicy" not in batch.inputs


def test_caches_only_in_asked_regions(web: ProgramRun) -> None:
    caches = {c.name: c for c in web.of_type(CACHE)}
    assert set(caches) == {"edge-use1", "edge-apse2"}
    assert {c.inputs["region"] for c in caches.values()} == {"us-east-1", "ap-southeast-2"}
    assert caches["edge-use1"].inputs["numCacheClusters"] == 3
    assert caches["edge-use1"].import_id == "edge-use1"
    assert caches["edge-apse2"].inputs["numCacheClusters"] == 2  # raised to min_nodes
    assert caches["edge-apse2"].import_id is None
    (dist,) = web.of_type(DISTRIBUTION)
    (origin,) = dist.inputs["origins"]
    assert origin["originShield"] == {"enabled": True, "originShieldRegion": "us-east-1"}
    assert origin["domainName"] == "use1.origin.example.com"
    assert dist.inputs["defaultCacheBehavior"]["targetOriginId"] == origin["originId"]


def test_route53_weights_sum_to_100_with_policy_floor(web: ProgramRun) -> None:
    records = {r.inputs["setIdentifier"]: r for r in web.of_type(RECORD)}
    weights = {k: r.inputs["weightedRoutingPolicies"][0]["weight"] for k, r in records.items()}
    assert weights == {"us-east-1": 68, "eu-west-1": 22, "ap-southeast-2": 10}
    assert sum(weights.values()) == 100
    assert {r.inputs["name"] for r in records.values()} == {"api.example.com"}
    assert records["us-east-1"].import_id == "Z0123_api.example.com_CNAME_us-east-1"
    assert web.outputs["routingWeights"]["api"] == weights


def test_global_accelerator_dials(web: ProgramRun) -> None:
    groups = {g.inputs["endpointGroupRegion"]: g for g in web.of_type(ENDPOINT_GROUP)}
    dials = {k: g.inputs["trafficDialPercentage"] for k, g in groups.items()}
    assert dials == {"us-east-1": 100.0, "eu-west-1": 32.4, "ap-southeast-2": 14.7}
    assert groups["eu-west-1"].inputs["endpointConfigurations"] == [{"endpointId": "arn:alb/euw1"}]


def test_bandwidth_tier_parameters_per_group_region(web: ProgramRun) -> None:
    params = web.of_type(PARAMETER)
    assert {p.inputs["region"] for p in params} == {"us-east-1", "eu-west-1"}
    assert {p.inputs["name"] for p in params} == {"/headroom/bandwidth-tier/web"}
    raw = params[0].inputs["value"]  # pulumi-aws marks a parameter value secret
    assert raw[rpc._special_sig_key] == rpc._special_secret_sig
    value = json.loads(raw["value"])
    assert value == {
        "group": "web",
        "tier": "gold",
        "rate_mbps": 800.0,
        "ceil_mbps": 2000.0,
        "priority": 1,
        "bandwidth_weighting": "default",
    }


def test_every_cloud_resource_is_parented_by_a_component(web: ProgramRun) -> None:
    custom = [d for d in web.declared if d.type.startswith("aws:")]
    # 2 instances, 2 ASGs, 2 caches, 1 CDN, 3 records, 3 endpoint groups, 2 tier parameters
    assert len(custom) == 15
    for d in custom:
        assert "$headroom:infra:" in d.urn or "::headroom:infra:" in d.urn, d.urn


def test_minimal_state_equal_shares_and_no_caches() -> None:
    run = run_program(minimal_state())
    weights = [r.inputs["weightedRoutingPolicies"][0]["weight"] for r in run.of_type(RECORD)]
    assert sorted(weights) == [33, 33, 34]
    assert run.of_type(ENDPOINT_GROUP) == []
    assert run.of_type(CACHE) == [] and run.of_type(DISTRIBUTION) == []
    (asg,) = run.of_type(ASG)
    assert asg.inputs["launchTemplate"] == {"id": "lt-api", "version": "$Latest"}
    assert asg.inputs["name"] == "api-asg"
    assert run.outputs["guardRails"] == []


def test_schema_violation_refused_before_anything_is_declared() -> None:
    bad = web_state()
    bad["groups"][0]["scaling_groups"][0]["min_size"] = 9  # above desired and max
    bad["routing"][0]["regions"][0]["share"] = -1
    with pytest.raises(ProgramFailed) as failed:
        run_program(bad)
    assert isinstance(failed.value.error, DesiredStateError)
    message = str(failed.value.error)
    assert "groups.0.scaling_groups.0" in message and "min_size <= desired" in message
    assert "routing.0.regions.0.share" in message
    assert failed.value.declared == []


def test_unknown_field_and_version_refused() -> None:
    bad = minimal_state()
    bad["schema_version"] = 2
    bad["groups"][0]["colour"] = "blue"
    with pytest.raises(ProgramFailed) as failed:
        run_program(bad)
    message = str(failed.value.error)
    assert "unsupported schema_version 2" in message
    assert "groups.0.colour: Extra inputs are not permitted" in message
    assert failed.value.declared == []


def test_missing_config_is_a_clear_error() -> None:
    with pytest.raises(ProgramFailed) as failed:
        run_program(None)
    assert "headroom:desiredState is not set" in str(failed.value.error)
    assert failed.value.declared == []


def test_not_json_is_a_clear_error() -> None:
    with pytest.raises(ProgramFailed) as failed:
        run_program("{not json")
    assert "invalid" in str(failed.value.error) and "json" in str(failed.value.error).lower()


def test_cdn_fails_over_to_a_second_shielded_region() -> None:
    doc = web_state()
    doc["edge_caches"][1].update(origin_shield=True, origin_domain="apse2.origin.example.com")
    doc["cdn"]["failover_region"] = "ap-southeast-2"
    run = run_program(doc)
    (dist,) = run.of_type(DISTRIBUTION)
    shields = {
        o["originId"]: o["originShield"]["originShieldRegion"] for o in dist.inputs["origins"]
    }
    assert shields == {"origin-us-east-1": "us-east-1", "origin-ap-southeast-2": "ap-southeast-2"}
    (group,) = dist.inputs["originGroups"]
    assert [m["originId"] for m in group["members"]] == [
        "origin-us-east-1",
        "origin-ap-southeast-2",
    ]
    assert group["failoverCriteria"]["statusCodes"] == [500, 502, 503, 504]
    assert dist.inputs["defaultCacheBehavior"]["targetOriginId"] == group["originId"]


def test_failover_region_must_be_shielded() -> None:
    doc = web_state()
    doc["cdn"]["failover_region"] = "ap-southeast-2"  # has a cache but no origin shield
    with pytest.raises(ProgramFailed) as failed:
        run_program(doc)
    assert "failover_region ap-southeast-2 has no edge cache with origin_shield" in str(
        failed.value
    )
    assert failed.value.declared == []


def test_capacity_reservations_for_a_tenant_group() -> None:
    """A tenant group's pre-allocation is declared as On-Demand Capacity Reservations."""
    state = minimal_state()
    state["groups"][0]["capacity_reservations"] = [
        {
            "name": "api-res-us-east-1a-m6i-large",
            "region": "us-east-1",
            "availability_zone": "us-east-1a",
            "instance_type": "m6i.large",
            "count": 3,
        }
    ]
    run = run_program(state)
    (held,) = run.of_type("aws:ec2/capacityReservation:CapacityReservation")
    assert held.inputs["availabilityZone"] == "us-east-1a"
    assert held.inputs["instanceType"] == "m6i.large"
    assert held.inputs["instanceCount"] == 3
    assert held.inputs["instanceMatchCriteria"] == "open"
    assert "::headroom:infra:" in held.urn or "$headroom:infra:" in held.urn
    group = state["groups"][0]["id"]
    assert run.outputs["capacityReservations"] == {group: {"api-res-us-east-1a-m6i-large": 3}}
