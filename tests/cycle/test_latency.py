"""Load-balancer latency: asked only of load balancers, turned into a group's ``latency_ms``
(the slowest member's), forecast, and carried by a tenant group's pre-allocation record."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from forecasting.demand import DEMAND_SOURCES, group_demand, resource_demand
from providers.fake import FakeProvider
from providers.models import (
    METRIC_KINDS,
    MetricName,
    MetricQuery,
    ProviderName,
    Resource,
    ResourceKind,
    TimeWindow,
    metric_applies,
)
from reconciler.clock import SimulatedClock
from reconciler.collect import DEFAULT_METRICS, collect
from reconciler.history import HistoryStore
from reconciler.steps.build import CycleSettings
from reconciler.steps.package import COLLECTED_METRICS, StepSettings
from reconciler.steps.types import Group, GroupSet
from tests.cycle.test_forecast_metrics import CATALOG, NOW, STEP, _cycle, _series

LATENCY = MetricName.TARGET_RESPONSE_TIME
NET = 0.1e9 / 8 * 300  # 0.1 Gbps in bytes per 5-minute period, per direction


def _vm(rid: str, tenant: str) -> Resource:
    return Resource(
        id=rid,
        provider=ProviderName.AWS,
        account="1",
        region="us-east-1",
        instance_type="m6i.large",
        tags={"tenant": tenant},
    )


def _lb(rid: str, tenant: str) -> Resource:
    return Resource(
        id=rid,
        provider=ProviderName.AWS,
        account="1",
        region="us-east-1",
        kind=ResourceKind.LOAD_BALANCER,
        state="active",
        tags={"tenant": tenant},
    )


def _asked(provider: FakeProvider) -> set[tuple[str, MetricName, str]]:
    return {
        (q.resource_id, q.metric, q.stat)
        for call in provider.calls
        if call.method == "metrics"
        for q in call.args[0]
        if isinstance(q, MetricQuery)
    }


# ---- which resources are asked for which metrics --------------------------------------------


def test_each_metric_applies_to_its_kind_only() -> None:
    assert metric_applies(LATENCY, ResourceKind.LOAD_BALANCER)
    assert not metric_applies(LATENCY, ResourceKind.INSTANCE)
    assert metric_applies(MetricName.CPU_UTILIZATION, ResourceKind.INSTANCE)
    assert not metric_applies(MetricName.CPU_UTILIZATION, ResourceKind.LOAD_BALANCER)
    assert not metric_applies(MetricName.NETWORK_IN, ResourceKind.NAT_GATEWAY)
    assert set(METRIC_KINDS) == set(MetricName)  # every metric is asked of some kind


def test_collect_asks_instances_for_host_metrics_and_load_balancers_for_latency(
    tmp_path: Path,
) -> None:
    nat = Resource(
        id="nat-1",
        provider=ProviderName.AWS,
        account="1",
        region="us-east-1",
        kind=ResourceKind.NAT_GATEWAY,
    )
    provider = FakeProvider(resources=[_vm("i-1", "acme"), _lb("elb:app/web/1", "acme"), nat])
    window = TimeWindow(start=NOW - timedelta(hours=1), end=NOW)
    collect(provider, HistoryStore(str(tmp_path)), window, SimulatedClock(NOW), progress=False)
    asked = _asked(provider)
    assert {(r, m) for r, m, _ in asked if r == "elb:app/web/1"} == {("elb:app/web/1", LATENCY)}
    assert ("elb:app/web/1", LATENCY, "Average") in asked  # a level: averaged, not summed
    on_vm = {m for r, m, _ in asked if r == "i-1"}
    assert on_vm == set(DEFAULT_METRICS) - {LATENCY}
    assert not any(r == "nat-1" for r, _, _ in asked)


def test_every_demand_source_is_collected_with_its_stat_for_some_kind() -> None:
    collected = dict(COLLECTED_METRICS)
    for metric, src in DEMAND_SOURCES.items():
        for name in src.sources:
            assert collected.get(name) == src.stat, (metric, name)
            assert METRIC_KINDS[name], name
    assert DEMAND_SOURCES["latency_ms"].sources == (LATENCY,)


# ---- group latency: the slowest member's -----------------------------------------------------


def test_group_latency_is_the_slowest_members_in_ms() -> None:
    points = pl.DataFrame(
        {
            "resource_id": ["elb:app/a/1", "elb:app/a/1", "elb:app/b/2", "i-1"],
            "metric": [str(LATENCY)] * 3 + ["NetworkIn"],
            "ts": [NOW, NOW + timedelta(minutes=1), NOW, NOW],
            "value": [0.1, 0.3, 0.12, 1e6],
            "stat": ["Average", "Average", "Average", "Sum"],
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    resource = resource_demand(points, STEP)
    latency = resource.filter(pl.col("metric") == "latency_ms")
    assert dict(latency.select("resource_id", "value").iter_rows()) == pytest.approx(
        {"elb:app/a/1": 200.0, "elb:app/b/2": 120.0}  # a's two points in the step averaged
    )
    groups = GroupSet(
        groups=(
            Group("g", "tenant", ("elb:app/a/1", "elb:app/b/2", "i-1"), "us-east-1"),
            Group("solo", "tenant", ("i-1",), "us-east-1"),  # no load balancer: no latency
        )
    )
    demand = group_demand(resource, groups)
    got = {(g, m): y for g, m, _, y in demand.iter_rows()}
    assert got[("g", "latency_ms")] == pytest.approx(200.0)  # max, not 320 (sum)
    assert ("solo", "latency_ms") not in got and ("solo", "network_gbps") in got


# ---- the cycle: a tenant's load balancers give its group a latency forecast and record ------


def _fleet() -> FakeProvider:
    end = NOW + timedelta(hours=1)
    series = []
    for rid in ("i-a1", "i-b1"):
        series += [
            _series(rid, MetricName.NETWORK_IN, "Sum", NET, end),
            _series(rid, MetricName.NETWORK_OUT, "Sum", NET, end),
        ]
    series += [
        _series("elb:app/acme-web/1", LATENCY, "Average", 0.25, end),  # 250 ms
        _series("elb:app/acme-api/2", LATENCY, "Average", 0.08, end),  # 80 ms
        _series("i-a1", LATENCY, "Average", 9.0, end),  # never asked of an instance
    ]
    return FakeProvider(
        resources=[
            _vm("i-a1", "acme"),
            _vm("i-b1", "beta"),
            _lb("elb:app/acme-web/1", "acme"),
            _lb("elb:app/acme-api/2", "acme"),
        ],
        catalog=dict(CATALOG),
        series=series,
    )


def test_tenant_with_load_balancers_gets_a_latency_forecast_and_preallocation(
    tmp_path: Path,
) -> None:
    settings = CycleSettings(
        policy_path=tmp_path / "unused.yaml",
        history_root=str(tmp_path / "history"),
        state_dir=tmp_path / "state",
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        steps=StepSettings(collect_lookback=timedelta(minutes=15)),
    )
    provider = _fleet()
    report, out, _ = _cycle(settings, SimulatedClock(NOW), provider)
    asked = _asked(provider)
    assert ("elb:app/acme-web/1", LATENCY, "Average") in asked
    assert not any(r.startswith("elb:") and m is not LATENCY for r, m, _ in asked)
    assert not any(r.startswith("i-") and m is LATENCY for r, m, _ in asked)

    assert out.forecasts is not None and out.plan is not None
    acme = next(g.id for g in out.groups.groups if g.name == "tenant=acme")
    beta = next(g.id for g in out.groups.groups if g.name == "tenant=beta")
    fc = out.forecasts
    assert fc.peak("latency_ms", "p90") == {acme: pytest.approx(250.0)}  # the slower LB
    assert set(fc.frame.filter(pl.col("group_id") == beta)["metric"]) == {"network_gbps"}
    assert report.step("forecast").summary["metrics"] == {"network_gbps": 2, "latency_ms": 1}

    commands = {(c.kind, c.target): c for c in out.plan.commands}
    pre = commands[("preallocate", acme)].after
    # latency is recorded as predicted (no headroom); bandwidth with the 20 % headroom
    assert pre == pytest.approx({"network_gbps": 0.24, "latency_ms": 250.0})
    assert "latency_ms" not in commands[("preallocate", beta)].after
