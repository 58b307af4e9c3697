"""moto-backed tests of load balancers: listed through ELBv2 (merged with their ENIs) and their
TargetResponseTime read from ``AWS/ApplicationELB`` back onto the load balancer's resource."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from providers.aws.inventory import collect_inventory, load_balancer_id
from providers.aws.metrics import METRIC_SOURCES, fetch_metrics
from providers.aws.provider import AwsProvider
from providers.aws.session import AwsSessionFactory
from providers.base import AccessDeniedError
from providers.models import MetricName, MetricQuery, ResourceKind, TimeWindow
from reconciler.clock import SimulatedClock
from reconciler.collect import collect
from reconciler.history import HistoryStore

ACCT = "123456789012"
REGION = "us-east-1"
T0 = datetime(2026, 2, 2, tzinfo=UTC)
WINDOW = TimeWindow(start=T0, end=T0 + timedelta(hours=2))
LATENCY = MetricName.TARGET_RESPONSE_TIME


def _subnets(ec2: Any) -> list[str]:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{k}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for k, z in ((1, "a"), (2, "b"))
    ]


def _alb(name: str, subnets: list[str], tags: dict[str, str]) -> dict[str, Any]:
    elbv2 = boto3.client("elbv2", region_name=REGION)
    extra = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
    return dict(elbv2.create_load_balancer(Name=name, Subnets=subnets, **extra)["LoadBalancers"][0])


def test_load_balancer_id_is_the_arn_suffix() -> None:
    arn = f"arn:aws:elasticloadbalancing:{REGION}:{ACCT}:loadbalancer/app/web/50dc6c495c0c9188"
    assert load_balancer_id(arn) == "elb:app/web/50dc6c495c0c9188"
    assert load_balancer_id(arn.replace("/app/", "/net/")) == "elb:net/web/50dc6c495c0c9188"
    assert load_balancer_id(f"arn:aws:elasticloadbalancing:{REGION}:{ACCT}:targetgroup/x/1") is None


def test_inventory_lists_albs_with_tags_merged_with_their_enis(mocked_aws: None) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    subnets = _subnets(ec2)
    web = _alb("web", subnets, {"tenant": "acme", "Name": "web"})
    bare = _alb("bare", subnets, {})
    web_id = "elb:" + web["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    # moto gives an ALB no ENIs; AWS gives one per zone, described by the same ARN suffix
    for subnet in subnets:
        ec2.create_network_interface(SubnetId=subnet, Description=f"ELB {web_id[4:]}")
    found = collect_inventory(ec2, ACCT, REGION, boto3.client("elbv2", region_name=REGION))
    lbs = {r.id: r for r in found if r.kind is ResourceKind.LOAD_BALANCER}
    bare_id = "elb:" + bare["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    assert set(lbs) == {web_id, bare_id}  # one resource per load balancer, not per ENI
    assert lbs[web_id].tags == {"tenant": "acme", "Name": "web"}
    assert len(lbs[web_id].interfaces) == 2 and lbs[web_id].addresses
    assert lbs[web_id].state == "active" and lbs[web_id].zone == f"{REGION}a"
    assert lbs[bare_id].tags == {} and lbs[bare_id].interfaces == ()
    # without an ELBv2 client, the ENIs still make the load balancer (untagged)
    only_enis = [
        r for r in collect_inventory(ec2, ACCT, REGION) if r.kind is ResourceKind.LOAD_BALANCER
    ]
    assert [(r.id, r.tags) for r in only_enis] == [(web_id, {})]


def test_alb_response_time_is_collected_as_the_load_balancers_series(
    mocked_aws: None, tmp_path: Path
) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    lb = _alb("web", _subnets(ec2), {"tenant": "acme"})
    suffix = lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    cw = boto3.client("cloudwatch", region_name=REGION)
    # two requests per 5-minute period: 0.1 s + 0.02 k and 0.3 s + 0.02 k (Average 0.2 + 0.02 k)
    cw.put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {
                "MetricName": "TargetResponseTime",
                "Dimensions": [{"Name": "LoadBalancer", "Value": suffix}],
                "Timestamp": T0 + timedelta(minutes=5 * k, seconds=s),
                "Value": base + 0.02 * k,
                "Unit": "Seconds",
            }
            for k in range(6)
            for s, base in ((10, 0.1), (70, 0.3))
        ],
    )
    provider = AwsProvider(AwsSessionFactory(), regions=[REGION])
    [resource] = [r for r in provider.inventory() if r.kind is ResourceKind.LOAD_BALANCER]
    assert resource.id == f"elb:{suffix}" and resource.tags == {"tenant": "acme"}
    [series] = provider.metrics([MetricQuery(resource_id=resource.id, metric=LATENCY)], WINDOW)
    assert series.resource_id == resource.id and series.metric is LATENCY
    assert (series.stat, series.unit) == ("Average", "Seconds")
    assert series.timestamps == [T0 + timedelta(minutes=5 * k) for k in range(6)]
    assert series.values == pytest.approx([0.2 + 0.02 * k for k in range(6)])
    # the collect step asks the load balancer for it (and nothing else) and stores it under its id
    store = HistoryStore(str(tmp_path))
    report = collect(provider, store, WINDOW, SimulatedClock(WINDOW.end), progress=False)
    assert report.resources_by_kind == {"load_balancer": 1} and report.metric_series == 1
    stored = store.metric_points(WINDOW)
    assert set(stored["resource_id"]) == {resource.id}
    assert set(stored["metric"]) == {"TargetResponseTime"} and set(stored["stat"]) == {"Average"}
    assert stored["value"].to_list() == pytest.approx(series.values)


class _Recording:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.sent.extend(kwargs["MetricDataQueries"])
        return {
            "MetricDataResults": [
                {"Id": q["Id"], "Timestamps": [T0], "Values": [0.25]}
                for q in kwargs["MetricDataQueries"]
            ]
        }


def test_response_time_is_asked_only_of_application_load_balancers() -> None:
    cw = _Recording()
    queries = [
        MetricQuery(resource_id="elb:app/web/0123456789abcdef", metric=LATENCY),
        MetricQuery(resource_id="elb:net/tcp/0123456789abcdef", metric=LATENCY),  # NLB: none
        MetricQuery(resource_id="i-0abc", metric=LATENCY),  # not a load balancer
        MetricQuery(resource_id="i-0abc", metric=MetricName.CPU_UTILIZATION),
    ]
    alb, nlb, inst, cpu = fetch_metrics(cw, queries, WINDOW)
    assert [q["Id"] for q in cw.sent] == ["q0", "q3"]  # ids stay the queries' positions
    metric = cw.sent[0]["MetricStat"]["Metric"]
    assert metric == {
        "Namespace": "AWS/ApplicationELB",
        "MetricName": "TargetResponseTime",
        "Dimensions": [{"Name": "LoadBalancer", "Value": "app/web/0123456789abcdef"}],
    }
    assert cw.sent[1]["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "InstanceId", "Value": "i-0abc"}
    ]
    assert alb.values == [0.25] and cpu.values == [0.25]
    assert nlb.values == [] and inst.values == [] and nlb.resource_id.startswith("elb:net/")
    assert METRIC_SOURCES[LATENCY].dimension_value("elb:gwy/fw/1") is None


def test_missing_elbv2_permission_names_the_operation() -> None:
    class Denied:
        def get_paginator(self, name: str) -> Any:
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "Describe"
            )

    class NoEc2:
        def get_paginator(self, name: str) -> Any:
            class Pages:
                def paginate(self) -> list[dict[str, Any]]:
                    return []

            return Pages()

    with pytest.raises(AccessDeniedError, match="DescribeLoadBalancers in us-east-1"):
        collect_inventory(NoEc2(), ACCT, REGION, Denied())
