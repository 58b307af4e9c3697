"""The policy's forecast settings drive the cycle: ``frequency`` is the grid, ``lookback`` the
history fitted on, ``horizon`` how far ahead; what is sized now is the provisioning window's peak
(to the next cycle plus the longest lead time), while a growing resize is scheduled ahead of a
peak further out.

Two models serve the horizon: a near-term one over the provisioning window (at least an hour),
the only one sizing reads, and, only when the horizon reaches further, a look-ahead one whose
rows are stored as hourly peaks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from forecasting.grid import ForecastGrid, ForecastSettings
from policies import PolicyError
from policies.loader import parse_policy
from providers.fake import FakeProvider
from providers.models import InstanceType, MetricName, MetricSeries, ProviderName, Resource
from reconciler.clock import SimulatedClock
from reconciler.loop import CycleOutputs, run_once
from reconciler.steps.allocate import provisioning_window, run_allocate
from reconciler.steps.build import CycleSettings, build_context
from reconciler.steps.forecast import run_forecast
from reconciler.steps.package import StepSettings
from reconciler.steps.plan import ASG_TAG, plan_forecasts, run_plan
from reconciler.steps.types import ForecastSet, Group, GroupSet

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)

POOLS = """\
name: horizon
pools:
  global_gbps: 40
  regions:
    us-east-1: {capacity_gbps: 40}
"""


# ---- the policy's frequency, lookback and horizon reach the forecast step --------------------


class _Recorder:
    """A stand-in forecaster: flat at each series' last value; records what it was given."""

    calls: list[dict[str, Any]] = []

    def __init__(self, kind: str, grid: ForecastGrid) -> None:
        self.kind, self.grid = kind, grid

    def fit(self, df: pl.DataFrame) -> _Recorder:
        ts = df.sort("series_id", "ts")["ts"]
        steps = df.sort("series_id", "ts").select(pl.col("ts").diff().over("series_id"))
        _Recorder.calls.append(
            {
                "kind": self.kind,
                "first": self.grid.first_step,
                "season": self.grid.season_steps,
                "start": ts.min(),
                "step": set(steps["ts"].drop_nulls().to_list()),
            }
        )
        self.last = df.sort("ts").group_by("series_id").agg(pl.col("y").last(), pl.col("ts").last())
        return self

    def predict(self, horizon: int, history: pl.DataFrame | None = None) -> pl.DataFrame:
        _Recorder.calls[-1]["horizon"] = horizon
        rows = [
            (s, t + self.grid.step * h, y, y, y)
            for s, y, t in self.last.iter_rows()
            for h in range(1, horizon + 1)
        ]
        return pl.DataFrame(rows, schema=["series_id", "ts", "p50", "p90", "p99"], orient="row")


def _fleet(days: int) -> FakeProvider:
    n = days * 288
    times = [NOW - FIVE * (n - 1 - k) for k in range(n)]
    net = 0.1e9 / 8 * 300
    series = [
        MetricSeries(
            resource_id="i-1",
            metric=m,
            stat="Sum",
            period_s=300,
            timestamps=times,
            values=[net] * n,
        )
        for m in (MetricName.NETWORK_IN, MetricName.NETWORK_OUT)
    ]
    vm = Resource(
        id="i-1",
        provider=ProviderName.AWS,
        account="1",
        region="us-east-1",
        instance_type="m6i.large",
        tags={"tenant": "acme"},
    )
    catalog = {
        "m6i.large": InstanceType(
            name="m6i.large", vcpu=2, memory_gib=8, baseline_gbps=0.78, peak_gbps=0.78
        )
    }
    return FakeProvider(resources=[vm], catalog=catalog, series=series)


def _forecast_cycle(tmp_path: Path, policy_text: str, steps: StepSettings) -> CycleOutputs:
    settings = CycleSettings(
        policy_path=tmp_path / "unused.yaml",
        history_root=str(tmp_path / "history"),
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        steps=steps,
    )
    ctx = build_context(
        settings, clock=SimulatedClock(NOW), provider=_fleet(4), policy=parse_policy(policy_text)
    )
    ctx.steps.make_model = _Recorder  # type: ignore[attr-defined]
    seen: list[CycleOutputs] = []
    ctx.observer = lambda report, out: seen.append(out)
    report = run_once(ctx)
    assert report.ok, report.error
    return seen[0]


SELECT = """\
group_selection:
  tag_keys: {hard: [tenant]}
  tenant_tag_keys: [tenant]
  traffic: {form_cycles: 1}
"""


def test_policy_frequency_lookback_and_horizon_reach_the_forecast_step(tmp_path: Path) -> None:
    _Recorder.calls = []
    policy = POOLS + SELECT + "forecast: {frequency: 15m, lookback: 2d, horizon: 6h}\n"
    out = _forecast_cycle(tmp_path, policy, StepSettings(collect_lookback=timedelta(minutes=15)))
    # the near term (an hour past now: 5 steps from the last point, 11:45), then the look-ahead
    near, ahead = _Recorder.calls
    for call in (near, ahead):
        assert call["kind"] == "seasonal-naive"  # two days: below min_lgbm_days
        assert call["step"] == {timedelta(minutes=15)}  # the series are built on the policy's grid
        assert call["season"] == 96  # one day of 15-minute steps
        start = call["start"]
        assert NOW - timedelta(days=2) <= start < NOW - timedelta(days=2) + timedelta(hours=1)
    assert (near["first"], near["horizon"]) == (1, 5)
    # the look-ahead model starts where an hour from now would (step 5; its first row is dropped)
    assert (ahead["first"], ahead["horizon"]) == (5, 24)  # 6 h / 15 min
    assert out.forecasts is not None
    frame = out.forecasts.frame
    origin = NOW - timedelta(minutes=15)  # the last whole 15-minute step seen
    fine = frame.filter(~pl.col("lookahead"))["ts"].to_list()
    assert fine == [origin + timedelta(minutes=15) * h for h in range(1, 6)]  # to 13:00
    hourly = frame.filter(pl.col("lookahead"))["ts"].to_list()
    later = [NOW + timedelta(hours=h) for h in range(2, 6)]  # 14:00 .. 17:00 (17:45)
    assert hourly == [NOW + timedelta(hours=1, minutes=15), *later]


def test_explicit_step_settings_override_the_policy(tmp_path: Path) -> None:
    _Recorder.calls = []
    policy = POOLS + SELECT + "forecast: {frequency: 15m, lookback: 2d, horizon: 6h}\n"
    steps = StepSettings(
        collect_lookback=timedelta(minutes=15),
        forecast_history=timedelta(days=4),
        forecast=ForecastSettings(step=FIVE, horizon=timedelta(hours=1), min_lgbm_days=10),
    )
    _forecast_cycle(tmp_path, policy, steps)
    (call,) = _Recorder.calls
    # an hour past now from the last point (11:55): 13 steps, past the 1 h horizon
    assert call["step"] == {FIVE} and call["season"] == 288 and call["horizon"] == 13
    assert call["start"] < NOW - timedelta(days=3)


def test_a_horizon_past_one_season_is_cut_to_a_day_and_said_so() -> None:
    policy = parse_policy(POOLS + "forecast: {horizon: 2d, frequency: 10m}\n")
    grid = ForecastSettings().resolve(policy.forecast)
    assert (grid.step, grid.season_steps, grid.horizon_steps) == (timedelta(minutes=10), 144, 144)
    assert grid.near == 6  # an hour of 10-minute steps
    assert grid.notes and "horizon 2d cut to one season" in grid.notes[0]
    # a horizon that is not a whole number of steps is rounded up: it is covered
    assert ForecastSettings(horizon=timedelta(minutes=7)).resolve().horizon_steps == 2
    assert ForecastSettings().resolve().horizon_steps == 288  # the schema's 24 h at 5 min


@pytest.mark.parametrize("frequency", ["7m", "11m", "2d", "7.5s"])
def test_a_frequency_that_does_not_divide_a_day_is_rejected_with_its_path(frequency: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(POOLS + f"forecast:\n  frequency: {frequency}\n")
    (issue,) = err.value.issues
    assert issue.path == "forecast.frequency"
    assert issue.line == 7
    assert "must be a whole number of seconds that divides one day" in issue.message


# ---- what is sized now: the provisioning window, not the day's peak -----------------------

SIZED = (
    POOLS
    + """\
forecast: {default_quantile: 0.9}
headroom: {relative: 0.0}
actions:
  - type: resize
    families: [m6i]
    lead_time: 20m
  - type: scale
    min_count: 1
    max_count: 10
    target_utilization: 1.0
safety:
  max_fraction_changed: 1.0
  max_resources_changed: 50
schedule: {cron: "*/15 * * * *"}
"""
)

CATALOG = {
    n: InstanceType(name=n, vcpu=v, memory_gib=m, baseline_gbps=b, peak_gbps=b, hourly_price_usd=p)
    for n, v, m, b, p in [
        ("m6i.large", 2, 8, 0.78, 0.096),
        ("m6i.xlarge", 4, 16, 1.56, 0.192),
        ("m6i.2xlarge", 8, 32, 3.12, 0.384),
    ]
}
SPIKE_AT = NOW + timedelta(hours=12)


def _vm(rid: str, **tags: str) -> Resource:
    return Resource(
        id=rid,
        provider=ProviderName.AWS,
        account="1",
        region="us-east-1",
        instance_type="m6i.large",
        tags=tags,
    )


def _spiky(groups: list[str], base: float, spike: float) -> ForecastSet:
    """A day of 5-minute bandwidth forecasts per group: ``base`` Gbps, ``spike`` for an hour
    12 h ahead."""
    rows = []
    for g in groups:
        for h in range(1, 289):
            ts = NOW + FIVE * h
            y = spike if SPIKE_AT <= ts < SPIKE_AT + timedelta(hours=1) else base
            rows.append((g, "network_gbps", ts, y * 0.8, y, y * 1.1))
    return ForecastSet(
        pl.DataFrame(
            rows,
            schema={
                "group_id": pl.String,
                "metric": pl.String,
                "ts": pl.Datetime("us", "UTC"),
                "p50": pl.Float64,
                "p90": pl.Float64,
                "p99": pl.Float64,
            },
            orient="row",
        )
    )


def test_provisioning_window_is_to_the_next_cycle_plus_the_longest_lead_time() -> None:
    policy = parse_policy(SIZED)
    assert provisioning_window(policy, NOW) == timedelta(minutes=15 + 20)
    assert provisioning_window(policy, NOW + timedelta(minutes=5)) == timedelta(minutes=30)
    no_lead = parse_policy(POOLS + "schedule: {cron: '0 * * * *'}\n")
    assert provisioning_window(no_lead, NOW) == timedelta(hours=1)


def test_a_spike_half_a_day_ahead_is_not_allocated_now_but_a_resize_is_scheduled_for_it() -> None:
    policy = parse_policy(SIZED)
    groups = GroupSet(
        (
            Group("solo", "application", ("i-s",), "us-east-1"),  # resized: no ASG
            Group("fleet", "application", ("i-a", "i-b"), "us-east-1"),  # scaled
        )
    )
    inventory = [_vm("i-s"), _vm("i-a", **{ASG_TAG: "asg-1"}), _vm("i-b", **{ASG_TAG: "asg-1"})]
    forecasts = _spiky(["solo", "fleet"], base=0.5, spike=2.5)
    assert forecasts.peak("network_gbps") == {"solo": 2.5, "fleet": 2.5}  # the day's peak

    allocation = run_allocate(policy, groups, forecasts, NOW)
    assert allocation.groups == {"solo": pytest.approx(0.5), "fleet": pytest.approx(0.5)}

    window = plan_forecasts(forecasts, NOW + provisioning_window(policy, NOW))
    assert window["solo"][next(iter(window["solo"]))].quantiles["p90"] == pytest.approx(0.5)

    result = run_plan(policy, groups, forecasts, allocation, inventory, CATALOG, NOW)
    by_key = {(c.kind, c.target): c for c in result.commands}
    # the fleet is not scaled out now for a spike 12 h away (one m6i.large carries 0.5 Gbps)
    assert by_key[("scale", "asg-1")].after == {"desired": 1}
    # the standalone member's growing resize is sized for the spike, 20 min (lead) before it
    resize = by_key[("resize", "i-s")]
    assert resize.after == {"instance_type": "m6i.2xlarge"}  # carries 2.5 Gbps
    assert resize.body is not None
    assert datetime.fromisoformat(resize.body["not_before"]) == SPIKE_AT - timedelta(minutes=20)
    assert datetime.fromisoformat(resize.body["evidence"]["peak_at"]) == SPIKE_AT


def test_a_peak_inside_the_window_is_sized_now() -> None:
    policy = parse_policy(SIZED)
    groups = GroupSet((Group("fleet", "application", ("i-a", "i-b"), "us-east-1"),))
    inventory = [_vm("i-a", **{ASG_TAG: "asg-1"}), _vm("i-b", **{ASG_TAG: "asg-1"})]
    rows = [
        ("fleet", "network_gbps", NOW + FIVE * h, 2.0, 2.5 if h == 4 else 0.5, 2.8)
        for h in range(1, 289)
    ]
    forecasts = ForecastSet(
        pl.DataFrame(rows, schema=["group_id", "metric", "ts", "p50", "p90", "p99"], orient="row")
    )
    allocation = run_allocate(policy, groups, forecasts, NOW)
    assert allocation.groups == {"fleet": pytest.approx(2.5)}
    result = run_plan(policy, groups, forecasts, allocation, inventory, CATALOG, NOW)
    scale = next(c for c in result.commands if c.kind == "scale")
    assert scale.after == {"desired": 4}  # 2.5 Gbps on m6i.large (0.78) at 100 %


# ---- two models: the near term over the provisioning window, a look-ahead for the rest --------

HOURLY = (
    POOLS
    + SELECT
    + "schedule: {cron: '0 * * * *'}\n"
    + ("actions:\n  - type: resize\n    families: [m6i]\n    lead_time: 30m\n")
)


@pytest.mark.parametrize(
    ("policy_text", "near", "horizon", "first_ahead"),
    [
        (SIZED, 12, 288, 13),  # 15 min to the next cycle + 20 min lead: the hour minimum
        (HOURLY, 18, 288, 19),  # 1 h to the next cycle + 30 min lead = 18 steps of 5 min
        (HOURLY + "forecast: {frequency: 15m}\n", 6, 96, 7),
        # the near term covers the window (90 min) whatever the horizon
        (HOURLY + "forecast: {horizon: 75m}\n", 18, 15, None),
        (SIZED.replace("{default_quantile: 0.9}", "{horizon: 1h}"), 12, 12, None),
    ],
)
def test_the_near_term_model_covers_the_provisioning_window(
    policy_text: str, near: int, horizon: int, first_ahead: int | None
) -> None:
    policy = parse_policy(policy_text)
    grid = ForecastSettings().resolve(policy.forecast, provisioning_window(policy, NOW))
    assert (grid.near, grid.horizon_steps) == (near, horizon)
    assert grid.near_term().horizon_steps == near and grid.near_term().first_step == 1
    ahead = grid.look_ahead()
    assert (ahead.first_step if ahead else None) == first_ahead
    if ahead is not None:
        assert ahead.horizon_steps == horizon and ahead.key("lightgbm") != grid.key("lightgbm")


class _Ramp(_Recorder):
    """Like ``_Recorder``, but step ``h`` of every quantile is ``1 + h / 1000`` (p50 x 0.5,
    p99 x 1.5), from step one whatever its grid: the hourly peak is its hour's last step."""

    def predict(self, horizon: int, history: pl.DataFrame | None = None) -> pl.DataFrame:
        _Recorder.calls[-1]["horizon"] = horizon
        rows = [
            (s, t + self.grid.step * h, 0.5 * v, v, 1.5 * v)
            for s, _y, t in self.last.iter_rows()
            for h in range(1, horizon + 1)
            for v in [1 + h / 1000]
        ]
        return pl.DataFrame(rows, schema=["series_id", "ts", "p50", "p90", "p99"], orient="row")


def test_a_cycle_stores_the_near_term_in_full_and_the_look_ahead_as_hourly_peaks(
    tmp_path: Path,
) -> None:
    from fastapi.testclient import TestClient

    from forecasting.cache import ModelCache
    from reconciler.api import create_app, issue_token

    _Recorder.calls = []
    settings = CycleSettings(
        policy_path=tmp_path / "unused.yaml",
        history_root=str(tmp_path / "history"),
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        steps=StepSettings(collect_lookback=timedelta(minutes=15)),
    )
    ctx = build_context(
        settings, clock=SimulatedClock(NOW), provider=_fleet(4), policy=parse_policy(HOURLY)
    )
    ctx.steps.make_model = _Ramp  # type: ignore[attr-defined]
    ctx.models = cache = ModelCache()
    seen: list[CycleOutputs] = []
    ctx.observer = lambda report, out: seen.append(out)
    assert run_once(ctx).ok
    near, ahead = _Recorder.calls
    # 1 h 30 min past now, counted from the last point seen (11:55): 19 steps
    assert (near["kind"], near["first"], near["horizon"]) == ("lightgbm", 1, 19)
    assert (ahead["kind"], ahead["first"], ahead["horizon"]) == ("lightgbm", 19, 288)
    assert cache.fits == 2
    (out,) = seen
    assert out.forecasts is not None
    summary = out.forecasts.summary()
    assert summary["near_term"] == {"horizon": "1h35m", "models": {"lightgbm": 1}, "rows": 19}
    assert summary["look_ahead"]["horizon"] == "1d"
    assert summary["look_ahead"]["models"] == {"lightgbm": 1}

    (group,) = out.forecasts.frame["group_id"].unique().to_list()
    stored = ctx.steps.state.latest_forecasts(group)  # type: ignore[attr-defined]
    origin = NOW - FIVE  # the last 5-minute step seen
    fine = [f for f in stored if f.model_kind == "lightgbm"]
    assert [f.ts.replace(tzinfo=UTC) for f in fine] == [origin + FIVE * h for h in range(1, 20)]
    hourly = [f for f in stored if f.model_kind == "lightgbm/lookahead-1h-peak"]
    assert len(fine) + len(hourly) == len(stored)
    # the near term ends at 13:30: 13:35-13:55, then whole hours to the last step (11:55)
    starts = [NOW + timedelta(hours=1, minutes=35)] + [
        NOW + timedelta(hours=h) for h in range(2, 24)
    ]
    assert [f.ts.replace(tzinfo=UTC) for f in hourly] == starts
    # each is its hour's highest step of every quantile: the ramp's last step in the hour
    ends = [*starts[1:], origin + FIVE * 289]
    for f, end in zip(hourly, ends, strict=True):
        last = (end - origin) // FIVE - 1
        assert f.quantiles == pytest.approx(
            {
                "0.5": 0.5 * (1 + last / 1000),
                "0.9": 1 + last / 1000,
                "0.99": 1.5 * (1 + last / 1000),
            }
        )
    assert len(stored) == 19 + 23  # not 288

    store = ctx.steps.state  # type: ignore[attr-defined]
    _, token = issue_token(store, name="r", scope="read", at=NOW)
    client = TestClient(create_app(store, clock=SimulatedClock(NOW)))
    body = client.get(f"/metrics/group/{group}", headers={"Authorization": f"Bearer {token}"})
    assert body.status_code == 200
    served = body.json()["forecasts"]
    times = [datetime.fromisoformat(f["ts"]) for f in served]
    assert times == sorted(times) and len(set(times)) == len(times) == 42  # one ordered series
    assert [f["model_kind"].endswith("/lookahead-1h-peak") for f in served] == (
        [False] * 19 + [True] * 23
    )


def test_no_look_ahead_model_when_the_near_term_covers_the_horizon(tmp_path: Path) -> None:
    from forecasting.cache import ModelCache

    _Recorder.calls = []
    policy = HOURLY + "forecast: {horizon: 75m}\n"
    out = _forecast_cycle(tmp_path, policy, StepSettings(collect_lookback=timedelta(minutes=15)))
    (call,) = _Recorder.calls  # one fit: no second model; the window (to 13:30) from 11:55
    assert (call["first"], call["horizon"]) == (1, 19)
    assert out.forecasts is not None
    assert not out.forecasts.frame["lookahead"].any() and out.forecasts.frame.height == 19
    assert out.forecasts.summary()["look_ahead"] == "none: the near term covers the 1h15m"

    cache = ModelCache()
    demand = _flat_demand(["g"], 0.5)
    run_forecast(demand, NOW, ForecastSettings(horizon=timedelta(hours=1)), _Recorder, cache)
    assert cache.fits == 1 and len(cache.entries) == 1


def _flat_demand(groups: list[str], y: float, days: int = 4) -> pl.DataFrame:
    n = days * 288
    rows = [(g, "network_gbps", NOW - FIVE * (n - 1 - k), y) for g in groups for k in range(n)]
    return pl.DataFrame(
        rows,
        schema={
            "group_id": pl.String,
            "metric": pl.String,
            "ts": pl.Datetime("us", "UTC"),
            "y": pl.Float64,
        },
        orient="row",
    )


class _Loud:
    """A fake forecaster: flat ``base`` as the near-term model; as the look-ahead model it
    forecasts from step one too, 100 Gbps over what would be the near term, ``base`` after and
    2.5 Gbps for the hour at ``SPIKE_AT``."""

    def __init__(self, kind: str, grid: ForecastGrid) -> None:
        self.grid = grid

    def fit(self, df: pl.DataFrame) -> _Loud:
        self.last = df.group_by("series_id").agg(pl.col("ts").max())
        return self

    def predict(self, horizon: int, history: pl.DataFrame | None = None) -> pl.DataFrame:
        ahead, rows = self.grid.first_step > 1, []
        for s, t in self.last.iter_rows():
            for h in range(1, horizon + 1):
                ts = t + self.grid.step * h
                y = 0.5
                if ahead and h <= self.grid.near_steps:
                    y = 100.0
                elif ahead and SPIKE_AT <= ts < SPIKE_AT + timedelta(hours=1):
                    y = 2.5
                rows.append((s, ts, y * 0.8, y, y * 1.1))
        return pl.DataFrame(rows, schema=["series_id", "ts", "p50", "p90", "p99"], orient="row")


def test_the_look_ahead_model_never_sizes_now() -> None:
    policy = parse_policy(SIZED)
    groups = GroupSet(
        (
            Group("solo", "application", ("i-s",), "us-east-1"),
            Group("fleet", "application", ("i-a", "i-b"), "us-east-1"),
        )
    )
    inventory = [_vm("i-s"), _vm("i-a", **{ASG_TAG: "asg-1"}), _vm("i-b", **{ASG_TAG: "asg-1"})]
    demand = _flat_demand(["solo", "fleet"], 0.5)
    window = provisioning_window(policy, NOW)
    grid = ForecastSettings().resolve(policy.forecast, window)
    both = run_forecast(demand, NOW, grid, make_model=_Loud)
    near_only = run_forecast(demand, NOW, replace(grid, horizon_steps=grid.near), make_model=_Loud)
    ahead = both.frame.filter(pl.col("lookahead"))
    assert ahead.height and ahead["p90"].max() == pytest.approx(2.5)  # its 100s were dropped
    assert both.near_term().equals(near_only.frame)

    allocation = run_allocate(policy, groups, both, NOW)
    assert allocation.groups == run_allocate(policy, groups, near_only, NOW).groups
    assert allocation.groups == {"solo": pytest.approx(0.5), "fleet": pytest.approx(0.5)}
    result = run_plan(policy, groups, both, allocation, inventory, CATALOG, NOW)
    by_key = {(c.kind, c.target): c for c in result.commands}
    assert by_key[("scale", "asg-1")].after == {"desired": 1}  # not sized on the look-ahead
    resize = by_key[("resize", "i-s")]  # but a resize is scheduled ahead of its far peak
    assert resize.after == {"instance_type": "m6i.2xlarge"} and resize.body is not None
    assert datetime.fromisoformat(resize.body["not_before"]) == SPIKE_AT - timedelta(minutes=20)


def test_the_look_ahead_model_is_refitted_less_often_than_the_near_term_one() -> None:
    from forecasting.cache import ModelCache

    cache, flat = ModelCache(), _flat_demand(["g"], 0.5)

    def demand(at: timedelta) -> pl.DataFrame:  # the history as seen ``at`` after NOW
        return flat.with_columns(pl.col("ts") + at)

    settings = ForecastSettings()  # near term refit after 6 h, look-ahead after 24 h
    run_forecast(demand(timedelta(0)), NOW, settings, _Recorder, cache)
    assert (cache.fits, cache.reuses) == (2, 0)
    run_forecast(demand(timedelta(hours=7)), NOW + timedelta(hours=7), settings, _Recorder, cache)
    assert (cache.fits, cache.reuses) == (3, 1)  # the near term refitted, the look-ahead reused
    # a model serves the steps it was fitted for: a near-term one fitted for 12 steps is
    # refitted for 18; the look-ahead one fitted from step 13 serves from step 19
    longer = replace(settings.resolve(), near_steps=18)
    run_forecast(demand(timedelta(hours=8)), NOW + timedelta(hours=8), longer, _Recorder, cache)
    assert (cache.fits, cache.reuses) == (4, 2)
    run_forecast(demand(timedelta(hours=9)), NOW + timedelta(hours=9), settings, _Recorder, cache)
    assert (cache.fits, cache.reuses) == (4, 4)  # the 18-step near-term model serves 12
