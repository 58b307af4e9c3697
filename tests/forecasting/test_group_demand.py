"""Group demand series per planner metric, from CloudWatch-like points and the inventory."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from forecasting.demand import (
    DEMAND_SOURCES,
    group_demand,
    member_capacity,
    resource_demand,
    to_gbps,
)
from providers.models import InstanceType, ProviderName, Resource
from reconciler.steps.types import Group, GroupSet

T0 = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
CATALOG = {
    "m6i.large": InstanceType(
        name="m6i.large", vcpu=2, memory_gib=8, baseline_gbps=0.78, peak_gbps=12.5
    ),
    "r6i.xlarge": InstanceType(
        name="r6i.xlarge", vcpu=4, memory_gib=32, baseline_gbps=1.56, peak_gbps=12.5
    ),
}


def _vm(rid: str, itype: str | None, launched_at: datetime | None = None) -> Resource:
    return Resource(
        id=rid,
        provider=ProviderName.AWS,
        account="1",
        region="us-east-1",
        instance_type=itype,
        launched_at=launched_at,
    )


def _points(rows: list[tuple[str, str, str, datetime, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "resource_id": pl.String,
            "metric": pl.String,
            "stat": pl.String,
            "ts": pl.Datetime("us", "UTC"),
            "value": pl.Float64,
        },
        orient="row",
    ).select("resource_id", "metric", "ts", "value", "stat")


def _at(frame: pl.DataFrame, group: str, metric: str) -> list[float]:
    return (
        frame.filter((pl.col("group_id") == group) & (pl.col("metric") == metric))
        .sort("ts")["y"]
        .to_list()
    )


GROUPS = GroupSet(
    (
        Group("g1", "application", ("i-a", "i-b"), "us-east-1"),
        Group("g2", "application", ("i-c",), "us-east-1"),
    )
)


def test_cpu_memory_io_and_network_per_group_are_exact() -> None:
    inventory = [_vm("i-a", "m6i.large"), _vm("i-b", "r6i.xlarge"), _vm("i-c", "m6i.large")]
    t1 = T0 + STEP
    rows = [
        # CPU percent of the type's vCPU: i-a 50 % of 2, i-b 25 % of 4 -> 1 + 1 = 2 vCPU
        ("i-a", "CPUUtilization", "Average", T0, 50.0),
        ("i-b", "CPUUtilization", "Average", T0, 25.0),
        ("i-a", "CPUUtilization", "Average", t1, 100.0),
        ("i-b", "CPUUtilization", "Average", t1, 75.0),
        # a Maximum of the same metric is not the demand (a different statistic)
        ("i-a", "CPUUtilization", "Maximum", T0, 99.0),
        # memory percent of the type's GiB: 50 % of 8 + 25 % of 32 = 12 GiB
        ("i-a", "mem_used_percent", "Average", T0, 50.0),
        ("i-b", "mem_used_percent", "Average", T0, 25.0),
        # EBS bytes per 5-minute period -> MB/s: (300 + 150) MB / 300 s + 600 MB / 300 s
        ("i-a", "EBSReadBytes", "Sum", T0, 300e6),
        ("i-a", "EBSWriteBytes", "Sum", T0, 150e6),
        ("i-b", "EBSReadBytes", "Sum", T0, 600e6),
        # network bytes in + out per period -> Gbps: 3.75e9 B * 8 / 300 s = 0.1 Gbps
        ("i-a", "NetworkIn", "Sum", T0, 1.5e9),
        ("i-a", "NetworkOut", "Sum", T0, 2.25e9),
        ("i-c", "NetworkIn", "Sum", T0, 3.75e9),
    ]
    resource = resource_demand(_points(rows), STEP, member_capacity(inventory, CATALOG))
    demand = group_demand(resource, GROUPS)
    assert _at(demand, "g1", "cpu_vcpu") == pytest.approx([2.0, 5.0])
    assert _at(demand, "g1", "memory_gib") == pytest.approx([12.0])
    assert _at(demand, "g1", "io_mbps") == pytest.approx([3.5])
    assert _at(demand, "g1", "network_gbps") == pytest.approx([0.1])
    assert _at(demand, "g2", "network_gbps") == pytest.approx([0.1])
    # g2 has no CPU, memory or IO points: those metrics are absent, not zero
    g2 = demand.filter(pl.col("group_id") == "g2")["metric"].unique().to_list()
    assert g2 == ["network_gbps"]
    assert to_gbps(_points(rows), STEP)["gbps"].sum() == pytest.approx(0.2)


def test_points_are_put_on_the_step_grid_and_averaged_or_summed() -> None:
    inventory = [_vm("i-a", "m6i.large")]
    minute = timedelta(minutes=1)
    rows = [("i-a", "CPUUtilization", "Average", T0 + minute * k, 10.0 * (k + 1)) for k in range(5)]
    rows += [("i-a", "EBSReadBytes", "Sum", T0 + minute * k, 60e6) for k in range(5)]
    resource = resource_demand(_points(rows), STEP, member_capacity(inventory, CATALOG))
    demand = group_demand(resource, GroupSet((Group("g", "manual", ("i-a",), "us-east-1"),)))
    assert _at(demand, "g", "cpu_vcpu") == pytest.approx([0.6])  # mean 30 % of 2 vCPU
    assert _at(demand, "g", "io_mbps") == pytest.approx([1.0])  # 300 MB over 300 s


def test_unknown_type_and_points_before_the_last_launch_are_not_converted() -> None:
    relaunched = T0 + STEP  # resized (stop/start) at T0 + 5 min: earlier points were another type
    inventory = [_vm("i-a", "m6i.large", launched_at=relaunched), _vm("i-b", None)]
    rows = [
        ("i-a", "CPUUtilization", "Average", T0, 90.0),
        ("i-a", "CPUUtilization", "Average", relaunched, 40.0),
        ("i-b", "CPUUtilization", "Average", T0, 50.0),
        ("i-b", "mem_used_percent", "Average", T0, 50.0),
    ]
    resource = resource_demand(_points(rows), STEP, member_capacity(inventory, CATALOG))
    demand = group_demand(resource, GROUPS)
    assert demand.select("metric", "ts", "y").rows() == [("cpu_vcpu", relaunched, 0.8)]
    # without the inventory, CPU and memory cannot be converted at all
    assert resource_demand(_points(rows), STEP).height == 0


def test_latency_is_the_slowest_member_not_a_sum() -> None:
    assert DEMAND_SOURCES["latency_ms"].members == "max"
    rows = [
        ("i-a", "TargetResponseTime", "Average", T0, 0.120),
        ("i-b", "TargetResponseTime", "Average", T0, 0.030),
    ]
    demand = group_demand(resource_demand(_points(rows), STEP), GROUPS)
    assert _at(demand, "g1", "latency_ms") == pytest.approx([120.0])


def test_no_points_or_no_groups_give_empty_frames() -> None:
    empty = resource_demand(_points([]), STEP)
    assert empty.height == 0 and empty.columns == ["resource_id", "metric", "ts", "value"]
    demand = group_demand(empty, GROUPS)
    assert demand.height == 0 and demand.columns == ["group_id", "metric", "ts", "y"]
