"""Censored demand (issue 14, section 2): bandwidth measured while a cap held it is a floor of
the demand. The censored steps are found from the ENA allowance counters and the instance's
cap, corrected from the same time of day on uncensored days before fitting, and left out of
scoring; the real cycle does it (``run_once``), so Headroom does not learn its own caps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from forecasting.censor import CAP_FRACTION, censor_groups, censored_members
from policies.loader import parse_policy
from providers.fake import FakeProvider
from providers.models import InstanceType, MetricName, MetricSeries, ProviderName, Resource
from reconciler.clock import SimulatedClock
from reconciler.loop import CycleOutputs, run_once
from reconciler.steps.build import CycleSettings, build_context
from reconciler.steps.package import StepSettings
from tests.cycle.test_forecast_metrics import POLICY as FLEET_POLICY

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
TS = pl.Datetime("us", "UTC")
PolarsType = pl.DataType | type[pl.DataType]


def _frame(rows: Sequence[tuple[object, ...]], schema: Mapping[str, PolarsType]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row")


def test_members_are_censored_by_their_counters_and_their_cap() -> None:
    t0, t1, t2 = NOW, NOW + STEP, NOW + 2 * STEP
    points = _frame(
        [
            ("i-1", "bw_out_allowance_exceeded", t1 + timedelta(minutes=1), 12.0),
            ("i-1", "bw_in_allowance_exceeded", t0, 0.0),  # a zero count shaped nothing
            ("i-2", "NetworkIn", t2, 5.0),  # not a counter
        ],
        {"resource_id": pl.String, "metric": pl.String, "ts": TS, "value": pl.Float64},
    )
    gbps = _frame(
        [("i-1", t0, 0.5), ("i-2", t0, 3.0), ("i-2", t1, 2.9), ("i-3", t0, 5.0)],
        {"resource_id": pl.String, "ts": TS, "gbps": pl.Float64},
    )
    capacity = _frame(
        [("i-1", 12.5), ("i-2", 3.125)], {"resource_id": pl.String, "peak_gbps": pl.Float64}
    )
    found = censored_members(points, gbps, capacity, STEP)
    assert found.rows() == [
        ("i-1", t1, "allowance_exceeded"),  # the counter's step, truncated to the grid
        ("i-2", t0, "at_instance_cap"),  # 3.0 >= 0.95 x 3.125; 2.9 is below it
    ]
    assert 2.9 < CAP_FRACTION * 3.125 <= 3.0
    # i-3's type is not in the catalog: no cap to judge it by


def test_a_censored_step_is_raised_to_its_uncensored_days_and_never_lowered() -> None:
    day = timedelta(days=1)
    series = _frame(
        [
            ("g", NOW - 3 * day, 1.0),
            ("g", NOW - 2 * day, 3.0),
            ("g", NOW - day, 9.0),  # censored itself: not a reference
            ("g", NOW, 0.6),  # censored: median(1.0, 3.0) = 2.0
            ("g", NOW + STEP, 0.7),  # censored, no reference at its time of day: kept
            ("h", NOW, 5.0),  # censored, above its reference: never lowered
            ("h", NOW - day, 4.0),
        ],
        {"group_id": pl.String, "ts": TS, "y": pl.Float64},
    )
    members = _frame(
        [("i-g", "g"), ("i-h", "h")], {"resource_id": pl.String, "group_id": pl.String}
    )
    censored = _frame(
        [("i-g", NOW - day), ("i-g", NOW), ("i-g", NOW + STEP), ("i-h", NOW)],
        {"resource_id": pl.String, "ts": TS},
    )
    corrected, censoring = censor_groups(series, members, censored)
    values = {(g, t): y for g, t, y in corrected.iter_rows()}
    assert values[("g", NOW)] == pytest.approx(2.0)
    assert values[("g", NOW + STEP)] == pytest.approx(0.7)
    assert values[("g", NOW - day)] == pytest.approx(9.0)  # above median(3.0, 1.0): kept
    assert values[("h", NOW)] == pytest.approx(5.0)
    assert values[("g", NOW - 3 * day)] == 1.0 and corrected.height == series.height
    summary = censoring.summary()
    assert summary == {"censored_steps": 4, "censored_groups": 2, "censored_uncorrected": 1}


# ---- the cycle ---------------------------------------------------------------------------------

# the tenant fleet policy of the forecast-metrics cycle test, without headroom
POLICY = FLEET_POLICY.replace(
    "headroom: {relative: 0.2, absolute_gbps: 0.0}", "headroom: {relative: 0.0}"
)
BIG = InstanceType(name="m6i.2xlarge", vcpu=8, memory_gib=32, baseline_gbps=3.12, peak_gbps=3.12)


def _fleet(counters: bool) -> FakeProvider:
    """One VM: yesterday 1.0 Gbps (in + out); the last day held to 0.6 Gbps by a cap, whose
    ENA counter rose in every step when ``counters``."""
    n = 2 * 288
    times = [NOW - STEP * (n - 1 - k) for k in range(n)]
    gbps = [1.0 if k < 288 else 0.6 for k in range(n)]
    per_direction = [g / 2 * 1e9 / 8 * 300 for g in gbps]  # bytes per 5-minute period

    def series(metric: MetricName, values: list[float]) -> MetricSeries:
        return MetricSeries(
            resource_id="i-1",
            metric=metric,
            stat="Sum",
            period_s=300,
            timestamps=times,
            values=values,
        )

    out = [
        series(MetricName.NETWORK_IN, per_direction),
        series(MetricName.NETWORK_OUT, per_direction),
    ]
    if counters:
        shaped = [0.0 if k < 288 else 40.0 for k in range(n)]
        out.append(series(MetricName.BW_OUT_ALLOWANCE_EXCEEDED, shaped))
    return FakeProvider(resources=[_vm()], catalog={BIG.name: BIG}, series=out)


def _vm() -> Resource:
    return Resource(
        id="i-1",
        provider=ProviderName.AWS,
        account="1",
        region="us-east-1",
        instance_type=BIG.name,
        tags={"tenant": "acme"},
    )


def _cycle(tmp_path: Path, counters: bool) -> tuple[float, dict[str, object]]:
    tmp_path.mkdir(parents=True)
    settings = CycleSettings(
        policy_path=tmp_path / "unused.yaml",
        history_root=str(tmp_path / "history"),
        state_dir=tmp_path / "state",
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        steps=StepSettings(collect_lookback=timedelta(days=3)),
    )
    seen: list[CycleOutputs] = []
    ctx = build_context(
        settings, clock=SimulatedClock(NOW), provider=_fleet(counters), policy=parse_policy(POLICY)
    )
    ctx.observer = lambda report, out: seen.append(out)
    report = run_once(ctx)
    assert report.ok, report.error
    forecasts = seen[0].forecasts
    assert forecasts is not None
    # the near term after NOW: seasonal naive reads the last day, which the cap held
    ahead = forecasts.near_term().filter(pl.col("ts") > NOW)
    return float(ahead.select(pl.col("p50").max()).item()), report.step("forecast").summary


def test_the_cycle_does_not_learn_its_own_cap(tmp_path: Path) -> None:
    peak, summary = _cycle(tmp_path / "shaped", counters=True)
    assert peak == pytest.approx(1.0, rel=0.02)  # yesterday's demand, not the cap
    # the last day's steps, but the one at NOW: a cycle reads complete steps only
    assert summary["censored_steps"] == 287 and summary["censored_uncorrected"] == 0
    capped, plain = _cycle(tmp_path / "plain", counters=False)
    assert capped == pytest.approx(0.6, rel=0.02)  # without evidence, 0.6 is the demand
    assert plain["censored_steps"] == 0


def test_build_demand_fits_the_corrected_series_and_scores_only_uncensored_steps() -> None:
    from forecasting.demand import build_demand, member_capacity
    from reconciler.steps.types import Group, GroupSet

    day = timedelta(days=1)
    rows = []
    for t, gbps, shaped in ((NOW - day, 1.0, 0.0), (NOW, 0.6, 7.0), (NOW + STEP, 0.6, 0.0)):
        per_direction = gbps / 2 * 1e9 / 8 * 300
        rows += [
            ("i-1", "NetworkIn", t, per_direction, "Sum"),
            ("i-1", "NetworkOut", t, per_direction, "Sum"),
            ("i-1", "bw_in_allowance_exceeded", t, shaped, "Sum"),
        ]
    points = _frame(
        rows,
        {
            "resource_id": pl.String,
            "metric": pl.String,
            "ts": TS,
            "value": pl.Float64,
            "stat": pl.String,
        },
    )
    groups = GroupSet((Group("g", "tenant", ("i-1",), "us-east-1"),))
    demand = build_demand(points, STEP, member_capacity([_vm()], {BIG.name: BIG}), groups)
    fitted = dict(demand.groups.select("ts", "y").iter_rows())
    measured = dict(demand.measured.select("ts", "y").iter_rows())
    assert fitted[NOW] == pytest.approx(1.0) and measured[NOW] == pytest.approx(0.6)
    assert fitted[NOW + STEP] == pytest.approx(0.6)  # not shaped: its measurement stands
    assert set(demand.scorable["ts"]) == {NOW - day, NOW + STEP}
    assert dict(demand.bandwidth.select("ts", "y").iter_rows())[NOW] == pytest.approx(0.6)
