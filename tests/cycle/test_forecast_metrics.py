"""The forecast step forecasts every planner metric a group has data for, in one fit per model
kind, and the plan then sizes on CPU and memory (resize, tenant pre-allocation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from forecasting.grid import ForecastSettings
from policies.loader import parse_policy
from providers.fake import FakeProvider
from providers.models import InstanceType, MetricName, MetricSeries, ProviderName, Resource
from reconciler.clock import SimulatedClock
from reconciler.loop import CycleOutputs, run_once
from reconciler.steps.build import CycleSettings, build_context
from reconciler.steps.forecast import MetricForecastSet, run_forecast
from reconciler.steps.package import StepSettings

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)


def _demand(rows: dict[tuple[str, str], tuple[int, float]]) -> pl.DataFrame:
    """``(group, metric) -> (steps of history, constant value)`` as a ``group_id, metric, ts, y``
    frame ending at NOW."""
    out = [(g, m, NOW - STEP * (n - 1 - k), v) for (g, m), (n, v) in rows.items() for k in range(n)]
    return pl.DataFrame(
        out,
        schema={
            "group_id": pl.String,
            "metric": pl.String,
            "ts": pl.Datetime("us", "UTC"),
            "y": pl.Float64,
        },
        orient="row",
    )


class _LastValue:
    """A stand-in forecaster: the last value of each series, flat; it records what it saw."""

    fitted: list[set[str]] = []
    frames: list[pl.DataFrame] = []

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def fit(self, df: pl.DataFrame) -> _LastValue:
        self.last = df.sort("ts").group_by("series_id").agg(pl.col("y").last(), pl.col("ts").last())
        _LastValue.fitted.append(set(df["series_id"].unique().to_list()))
        _LastValue.frames.append(df)
        return self

    def predict(self, horizon: int, history: pl.DataFrame | None = None) -> pl.DataFrame:
        rows = [
            (s, t + STEP * h, y, y, y)
            for s, y, t in self.last.iter_rows()
            for h in range(1, horizon + 1)
        ]
        return pl.DataFrame(rows, schema=["series_id", "ts", "p50", "p90", "p99"], orient="row")


def test_each_metric_only_for_the_groups_that_have_it_in_one_fit_per_kind() -> None:
    _LastValue.fitted = []
    long, short = 4 * 288, 12  # four days (LightGBM) and an hour (recent peak)
    demand = _demand(
        {
            ("g1", "network_gbps"): (long, 0.5),
            ("g1", "cpu_vcpu"): (long, 3.0),
            ("g1", "memory_gib"): (short, 6.0),
            ("g2", "network_gbps"): (long, 0.2),
            ("g2", "io_mbps"): (long, 40.0),
        }
    )
    hour = ForecastSettings(horizon=timedelta(hours=1))  # the near term only: no look-ahead model
    result = run_forecast(demand, NOW, hour, make_model=lambda kind, s: _LastValue(kind))
    assert isinstance(result, MetricForecastSet)
    frame = result.frame
    assert frame.columns == ["group_id", "metric", "ts", "p50", "p90", "p99", "lookahead"]
    assert not frame["lookahead"].any()
    pairs = set(frame.select("group_id", "metric").unique().iter_rows())
    assert pairs == {
        ("g1", "network_gbps"),
        ("g1", "cpu_vcpu"),
        ("g1", "memory_gib"),
        ("g2", "network_gbps"),
        ("g2", "io_mbps"),
    }
    # one LightGBM fit over every long series, whatever its metric; the short one is a peak
    assert _LastValue.fitted == [
        {"g1|network_gbps", "g1|cpu_vcpu", "g2|network_gbps", "g2|io_mbps"}
    ]
    assert result.model_by_series[("g1", "memory_gib")] == "recent-peak"
    assert result.model_by_series[("g1", "cpu_vcpu")] == "lightgbm"
    assert result.model_by_group == {"g1": "lightgbm", "g2": "lightgbm"}  # bandwidth's model
    # what the state store records per forecast row: each series' own model
    assert result.model_of("g1", "memory_gib") == "recent-peak"
    assert result.model_of("g2", "latency_ms") == "lightgbm"  # no such series: the group's
    assert result.model_of("nope", "cpu_vcpu") == "unknown"
    assert result.peak("cpu_vcpu") == {"g1": pytest.approx(3.0)}
    assert result.peak("io_mbps") == {"g2": pytest.approx(40.0)}
    assert result.peak("network_gbps") == {"g1": pytest.approx(0.5), "g2": pytest.approx(0.2)}
    summary = result.summary()
    assert summary["metrics"] == {"network_gbps": 2, "cpu_vcpu": 1, "memory_gib": 1, "io_mbps": 1}
    assert summary["series"] == 5


def test_a_missing_level_step_keeps_the_last_level_and_a_missing_total_is_zero() -> None:
    _LastValue.fitted = []
    long = 4 * 288
    demand = _demand({("g", "memory_gib"): (long, 8.0), ("g", "network_gbps"): (long, 1.0)})
    gap = NOW - STEP * 10
    run_forecast(
        demand.filter(pl.col("ts") != gap),
        NOW,
        ForecastSettings(),
        make_model=lambda kind, s: _LastValue(kind),
    )
    seen = _LastValue.frames[-1].filter(pl.col("ts") == gap)
    assert dict(seen.select("series_id", "y").iter_rows()) == {
        "g|memory_gib": 8.0,  # a gap in reporting is not a host without memory
        "g|network_gbps": 0.0,  # no bytes seen in a step: none sent
    }


# ---- the cycle: real steps, a tenant fleet with CPU, memory, IO and network metrics ----------

POLICY = """\
name: forecast-metrics
pools:
  global_gbps: 10
  regions:
    us-east-1: {capacity_gbps: 10, guaranteed_gbps: 5}
group_selection:
  tag_keys: {hard: [tenant]}
  tenant_tag_keys: [tenant]
  traffic: {form_cycles: 1}
forecast: {default_quantile: 0.9}
headroom: {relative: 0.2, absolute_gbps: 0.0}
group_classes:
  default: {guarantee_gbps: 0, priority: 1}
actions:
  - type: resize
    families: [m6i]
    largest_size: 8xlarge
    lead_time: 0m
safety:
  max_fraction_changed: 1.0
  max_resources_changed: 50
  min_change_fraction: 0.05
"""

CATALOG = {
    n: InstanceType(name=n, vcpu=v, memory_gib=m, baseline_gbps=b, peak_gbps=b, hourly_price_usd=p)
    for n, v, m, b, p in [
        ("m6i.large", 2, 8, 0.78, 0.096),
        ("m6i.xlarge", 4, 16, 1.56, 0.192),
        ("m6i.2xlarge", 8, 32, 3.12, 0.384),
    ]
}


def _series(rid: str, metric: MetricName, stat: str, value: float, end: datetime) -> MetricSeries:
    n = 6 * 12  # six hours of 5-minute points up to ``end``: recent-peak forecasts (exact)
    times = [end - STEP * (n - 1 - k) for k in range(n)]
    return MetricSeries(
        resource_id=rid,
        metric=metric,
        stat=stat,
        period_s=300,
        timestamps=times,
        values=[value] * n,
    )


def _fleet(end: datetime) -> FakeProvider:
    def vm(rid: str, tenant: str) -> Resource:
        return Resource(
            id=rid,
            provider=ProviderName.AWS,
            account="1",
            region="us-east-1",
            instance_type="m6i.large",
            tags={"tenant": tenant},
        )

    net = 0.1e9 / 8 * 300  # 0.1 Gbps in bytes per 5-minute period, per direction
    series = []
    for rid in ("i-a1", "i-a2"):  # acme: every metric; 95 % CPU, 50 % memory, 15 MB/s disk
        series += [
            _series(rid, MetricName.NETWORK_IN, "Sum", net, end),
            _series(rid, MetricName.NETWORK_OUT, "Sum", net, end),
            _series(rid, MetricName.CPU_UTILIZATION, "Average", 95.0, end),
            _series(rid, MetricName.MEMORY_USED_PERCENT, "Average", 50.0, end),
            _series(rid, MetricName.EBS_READ_BYTES, "Sum", 10e6 * 300, end),
            _series(rid, MetricName.EBS_WRITE_BYTES, "Sum", 5e6 * 300, end),
        ]
    series += [  # beta: network only (no agent, no EBS data)
        _series("i-b1", MetricName.NETWORK_IN, "Sum", net, end),
        _series("i-b1", MetricName.NETWORK_OUT, "Sum", net, end),
    ]
    return FakeProvider(
        resources=[vm("i-a1", "acme"), vm("i-a2", "acme"), vm("i-b1", "beta")],
        catalog=dict(CATALOG),
        series=series,
    )


def _cycle(settings: CycleSettings, clock: SimulatedClock, provider: FakeProvider) -> Any:
    seen: list[CycleOutputs] = []
    ctx = build_context(settings, clock=clock, provider=provider, policy=parse_policy(POLICY))
    ctx.observer = lambda report, out: seen.append(out)
    report = run_once(ctx)
    assert report.ok, report.error
    return report, seen[0], ctx


def test_cycle_resizes_and_preallocates_on_cpu_and_memory(tmp_path: Path) -> None:
    settings = CycleSettings(
        policy_path=tmp_path / "unused.yaml",
        history_root=str(tmp_path / "history"),
        state_dir=tmp_path / "state",
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        steps=StepSettings(collect_lookback=timedelta(minutes=15)),
    )
    provider = _fleet(NOW + timedelta(hours=1))  # points past the first cycle, to score it
    clock = SimulatedClock(NOW)
    report, out, _ = _cycle(settings, clock, provider)
    assert out.forecasts is not None and out.plan is not None
    acme = next(g.id for g in out.groups.groups if g.name == "tenant=acme")
    beta = next(g.id for g in out.groups.groups if g.name == "tenant=beta")
    fc = out.forecasts
    assert set(fc.frame.filter(pl.col("group_id") == beta)["metric"]) == {"network_gbps"}
    assert fc.peak("cpu_vcpu", "p90") == {acme: pytest.approx(3.8)}  # 2 x 95 % of 2 vCPU
    assert fc.peak("memory_gib", "p90") == {acme: pytest.approx(8.0)}  # 2 x 50 % of 8 GiB
    assert fc.peak("io_mbps", "p90") == {acme: pytest.approx(30.0)}  # 2 x (10 + 5) MB/s
    assert fc.peak("network_gbps", "p90") == {acme: pytest.approx(0.4), beta: pytest.approx(0.2)}
    metrics = report.step("forecast").summary["metrics"]
    assert metrics == {"network_gbps": 2, "cpu_vcpu": 1, "memory_gib": 1, "io_mbps": 1}

    commands = {(c.kind, c.target): c for c in out.plan.commands}
    # CPU drives the resize: 3.8 vCPU x 1.2 headroom / 2 members = 2.28 vCPU > m6i.large's 2
    for rid in ("i-a1", "i-a2"):
        resize = commands[("resize", rid)]
        assert resize.after == {"instance_type": "m6i.xlarge"}
        assert "2.28 vCPU, 4.80 GiB" in resize.reason
    assert ("resize", "i-b1") not in commands  # no CPU data: its type's vCPU is the floor
    pre = commands[("preallocate", acme)].after
    assert pre == pytest.approx(
        {"cpu_vcpu": 4.56, "memory_gib": 9.6, "network_gbps": 0.48, "io_mbps": 36.0}
    )
    assert commands[("preallocate", beta)].after == pytest.approx({"network_gbps": 0.24})

    clock.advance(timedelta(minutes=15))
    _, _, ctx2 = _cycle(settings, clock, provider)
    state = ctx2.store.store  # type: ignore[attr-defined]
    scored = state.accuracy_for_group(acme)
    by_metric: dict[str, set[float]] = {}
    for a in scored:
        by_metric.setdefault(a.metric, set()).add(round(a.actual, 6))
    # each metric is scored against its own actuals
    assert by_metric == {
        "network_gbps": {0.4},
        "cpu_vcpu": {3.8},
        "memory_gib": {8.0},
        "io_mbps": {30.0},
    }
