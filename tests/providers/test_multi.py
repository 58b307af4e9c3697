"""``MultiProvider`` over two fakes: merged answers, routed metrics, errors naming the cloud."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from providers.base import AccessDeniedError, CloudProvider, ThrottledError
from providers.fake import FakeProvider
from providers.models import (
    FlowChunk,
    InstanceType,
    MetricName,
    MetricQuery,
    MetricSeries,
    ProviderName,
    Resource,
    ScalingGroup,
    TimeWindow,
)
from providers.multi import MultiProvider

T0 = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
WINDOW = TimeWindow(start=T0, end=T0 + timedelta(hours=1))
AZ_VM = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/web-1"
METRIC = MetricName.NETWORK_OUT
EMPTY = pl.DataFrame()


def _series(resource_id: str, value: float) -> MetricSeries:
    return MetricSeries(resource_id=resource_id, metric=METRIC, timestamps=[T0], values=[value])


def _fakes() -> tuple[FakeProvider, FakeProvider]:
    aws = FakeProvider(
        name="aws",
        resources=[Resource(id="i-1", provider=ProviderName.AWS, account="1", region="us-east-1")],
        catalog={
            "m5.large": InstanceType(
                name="m5.large", vcpu=2, memory_gib=8, baseline_gbps=0.75, peak_gbps=10
            )
        },
        series=[_series("i-1", 1.0)],
        scaling=[
            ScalingGroup(
                name="asg-web",
                provider=ProviderName.AWS,
                account="1",
                region="us-east-1",
                desired=2,
                min_size=1,
                max_size=4,
            )
        ],
    )
    azure = FakeProvider(
        name="azure",
        resources=[
            Resource(id=AZ_VM, provider=ProviderName.AZURE, account="s", region="westeurope")
        ],
        catalog={
            "Standard_D4s_v5": InstanceType(
                name="Standard_D4s_v5",
                provider=ProviderName.AZURE,
                vcpu=4,
                memory_gib=16,
                baseline_gbps=12.5,
                peak_gbps=12.5,
            )
        },
        series=[_series(AZ_VM, 2.0)],
        scaling=[
            ScalingGroup(
                name="vmss-api",
                provider=ProviderName.AZURE,
                account="s",
                region="westeurope",
                desired=3,
                min_size=1,
                max_size=6,
            )
        ],
    )
    return aws, azure


def test_it_is_a_cloud_provider_named_after_its_members() -> None:
    multi = MultiProvider(_fakes())
    assert isinstance(multi, CloudProvider)
    assert multi.name == "aws+azure"


def test_inventory_groups_and_catalog_cover_both_clouds() -> None:
    multi = MultiProvider(_fakes())
    assert [r.id for r in multi.inventory()] == ["i-1", AZ_VM]
    assert [g.name for g in multi.scaling_groups()] == ["asg-web", "vmss-api"]
    assert set(multi.instance_catalog()) == {"m5.large", "Standard_D4s_v5"}


def test_a_type_name_both_clouds_list_keeps_the_first_clouds_entry() -> None:
    aws, azure = _fakes()
    azure.catalog["m5.large"] = azure.catalog["Standard_D4s_v5"].model_copy(
        update={"name": "m5.large"}
    )
    assert MultiProvider([aws, azure]).instance_catalog()["m5.large"].provider == "aws"


def test_metrics_go_to_the_provider_that_owns_the_resource() -> None:
    aws, azure = _fakes()
    multi = MultiProvider([aws, azure])
    multi.inventory()
    got = multi.metrics(
        [
            MetricQuery(resource_id=AZ_VM, metric=METRIC),
            MetricQuery(resource_id="i-1", metric=METRIC),
        ],
        WINDOW,
    )
    assert {s.resource_id: s.values for s in got} == {"i-1": [1.0], AZ_VM: [2.0]}
    (aws_call,) = [c for c in aws.calls if c.method == "metrics"]
    (azure_call,) = [c for c in azure.calls if c.method == "metrics"]
    assert [q.resource_id for q in aws_call.args[0]] == ["i-1"]
    assert [q.resource_id for q in azure_call.args[0]] == [AZ_VM]


def test_metrics_list_the_inventory_first_when_a_resource_is_unknown() -> None:
    aws, azure = _fakes()
    multi = MultiProvider([aws, azure])
    got = multi.metrics([MetricQuery(resource_id="i-1", metric=METRIC)], WINDOW)
    assert [c.method for c in aws.calls] == ["inventory", "metrics"]
    assert got[0].values == [1.0]
    assert not [c for c in azure.calls if c.method == "metrics"]


def test_a_resource_no_cloud_lists_gets_an_empty_series() -> None:
    multi = MultiProvider(_fakes())
    (got,) = multi.metrics([MetricQuery(resource_id="i-gone", metric=METRIC)], WINDOW)
    assert got.resource_id == "i-gone" and got.values == []


def test_flow_chunks_are_concatenated_in_provider_order() -> None:
    aws, azure = _fakes()
    aws.chunks = [
        FlowChunk(source="aws-1", records=EMPTY),
        FlowChunk(source="aws-2", records=EMPTY),
    ]
    azure.chunks = [FlowChunk(source="azure-1", records=EMPTY)]
    got = [c.source for c in MultiProvider([aws, azure]).flow_records(WINDOW)]
    assert got == ["aws-1", "aws-2", "azure-1"]


@pytest.mark.parametrize(
    "method, call",
    [
        ("inventory", lambda m: m.inventory()),
        ("scaling_groups", lambda m: m.scaling_groups()),
        ("instance_catalog", lambda m: m.instance_catalog()),
        ("flow_records", lambda m: list(m.flow_records(WINDOW))),
        ("metrics", lambda m: m.metrics([MetricQuery(resource_id=AZ_VM, metric=METRIC)], WINDOW)),
    ],
)
def test_an_error_says_which_cloud_raised_it(method: str, call: object) -> None:
    aws, azure = _fakes()
    multi = MultiProvider([aws, azure])
    multi.inventory()
    azure.fail_next(
        method, AccessDeniedError("AuthorizationFailed", operation="List", region="westeurope")
    )
    with pytest.raises(AccessDeniedError) as caught:
        call(multi)  # type: ignore[operator]
    assert str(caught.value) == "azure: List in westeurope: AuthorizationFailed"
    assert caught.value.operation == "List" and caught.value.region == "westeurope"
    assert isinstance(caught.value.__cause__, AccessDeniedError)


def test_an_error_keeps_its_contract_type() -> None:
    aws, azure = _fakes()
    aws.fail_next("inventory", ThrottledError("Rate exceeded"))
    with pytest.raises(ThrottledError, match="^aws: Rate exceeded$"):
        MultiProvider([aws, azure]).inventory()


def test_providers_need_distinct_names() -> None:
    aws, _ = _fakes()
    with pytest.raises(ValueError, match="distinct names"):
        MultiProvider([aws, FakeProvider(name="aws")])
    with pytest.raises(ValueError, match="at least one"):
        MultiProvider([])
