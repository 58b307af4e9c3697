"""A small report built from the same kinds of data a cycle produces (see
tests/cycle/test_report.py): two named groups, one shared group in two regions, forecasts,
actual demand, three allocations, commands and remediation."""

from datetime import timedelta

import polars as pl
import pytest

from infra.desired_state import DesiredState, GroupSpec, InstanceSpec
from reconciler.actuate.observed import spec_id
from reconciler.remediation.types import Action, ActionKind
from reconciler.report import ReportData, compare_with_reactive
from reconciler.steps.types import Allocation, CommandView, Group, GroupSet, PoolAllocation
from tests.cycle.fakes import T0


def _instance(name: str, region: str) -> InstanceSpec:
    return InstanceSpec(name=name, region=region, instance_type="m6i.large", ami="ami-1")


@pytest.fixture
def report_data() -> ReportData:
    groups = GroupSet(
        (
            Group("grp-aaa", "application", ("a1", "a2"), "eu-west-1", name="shop"),
            Group("grp-bbb", "application", ("b1", "b2"), "us-east-1", name="search"),
            Group(
                "shared-services",
                "shared",
                ("dns-eu", "dns-us"),
                "eu-west-1",
                name="shared services",
            ),
        )
    )
    desired = DesiredState(
        schema_version=1,
        groups=(
            GroupSpec(id=spec_id("grp-aaa"), instances=(_instance("a1", "eu-west-1"),)),
            GroupSpec(
                id=spec_id("shared-services"),
                instances=(_instance("dns-eu", "eu-west-1"), _instance("dns-us", "us-east-1")),
            ),
        ),
    )
    edges = pl.DataFrame(
        {
            "src": ["a1", "a2", "a1", "b1", "b2", "b1"],
            "dst": ["a2", "dns-eu", "x", "b2", "dns-us", "a1"],
            "bytes": [10e9, 5e9, 1e9, 8e9, 3e9, 1e9],
        }
    )
    ts = [T0 + timedelta(minutes=5 * i) for i in range(24)]
    fc, actual, force = [], [], []
    for gid, base in (("grp-aaa", 1.0), ("grp-bbb", 0.5), ("shared-services", 0.2)):
        for i, t in enumerate(ts):
            y = base * (1.6 if i >= 12 else 1.0)  # a surge half way
            fc.append((gid, t, base, base * 1.2, base * 1.5))
            actual.append((gid, t, y))
            force.append((gid, t, y, base * 1.3))
    cols = ["group_id", "ts", "p50", "p90", "p99"]
    forecasts = pl.DataFrame(fc, schema=cols, orient="row")
    actual_frame = pl.DataFrame(actual, schema=["group_id", "ts", "y"], orient="row")
    in_force = pl.DataFrame(
        force, schema=["group_id", "ts", "demand_gbps", "allocated_gbps"], orient="row"
    )
    allocs = [
        Allocation(
            T0 + timedelta(minutes=30 * i),
            {"grp-aaa": 1.3, "grp-bbb": 0.65, "shared-services": 0.26},
            (
                PoolAllocation("global", None, 5.0, 2.2),
                PoolAllocation("eu-west-1", "global", 2.0, 1.56 + 0.1 * i),
                PoolAllocation("us-east-1", "global", 2.0, 0.65),
            ),
            pool_of_group={"grp-aaa": "eu-west-1", "grp-bbb": "us-east-1"},
        )
        for i in range(3)
    ]
    return ReportData(
        title="Headroom <test> report",
        groups=groups,
        edges=edges,
        forecasts=forecasts,
        actual=actual_frame,
        allocations=allocs,
        commands=[
            CommandView(
                "resize",
                "a1",
                {"instance_type": "m6i.large"},
                {"instance_type": "m6i.xlarge"},
                "p90 1.2 Gbps over 1.0 Gbps",
            ),
            CommandView(
                "bandwidth_tier",
                spec_id("grp-bbb"),
                {"tier": None},
                {"tier": "premium", "rate_mbps": 650},
                "p90 0.6 Gbps",
            ),
        ],
        actions=[
            Action(
                ActionKind.BORROW,
                "grp-aaa",
                "utilisation 90%",
                "eu-west-1",
                1.3,
                1.6,
                {"grp-bbb": 0.3},
            )
        ],
        comparison=compare_with_reactive(in_force),
        desired=desired,
        forecast_peaks={"grp-aaa": 1.2, "grp-bbb": 0.6},
        in_force=in_force,
        markers=[(ts[12], "surge starts")],
    )
