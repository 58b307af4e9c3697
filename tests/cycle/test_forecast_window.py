"""The near term reaches the provisioning window's end from where the models forecast (each
series' last point, usually before now), the window is capped at one season with a note, and a
model that cannot fit falls back instead of failing the forecast step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from forecasting.grid import ForecastGrid, ForecastSettings
from forecasting.serve import default_model
from policies import PolicyError
from policies.loader import parse_policy
from reconciler.steps.allocate import provisioning_window, window_peaks
from reconciler.steps.forecast import run_forecast
from reconciler.steps.plan import lookahead_forecasts

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)
SPIKE_AT = datetime(2026, 3, 4, 13, 5, tzinfo=UTC)

POOLS = """\
name: window
pools:
  global_gbps: 40
  regions:
    us-east-1: {capacity_gbps: 40}
"""
HOURLY_10M = (
    POOLS
    + "schedule: {cron: '0 * * * *'}\n"
    + "actions:\n  - type: resize\n    families: [m6i]\n    lead_time: 10m\n"
)


def _demand(end: datetime, step: timedelta = FIVE, days: float = 4, y: float = 1.0) -> pl.DataFrame:
    n = int(timedelta(days=days) / step)
    rows = [("g", "network_gbps", end - step * (n - 1 - k), y) for k in range(n)]
    schema = {"group_id": pl.String, "metric": pl.String, "ts": pl.Datetime("us", "UTC")}
    return pl.DataFrame(rows, schema={**schema, "y": pl.Float64}, orient="row")


class _Spike:
    """Forecasts from each series' last point, as the real models do: 1.0, and 9.0 at
    ``SPIKE_AT``."""

    def __init__(self, kind: str, grid: ForecastGrid) -> None:
        self.grid = grid

    def fit(self, df: pl.DataFrame) -> _Spike:
        self.last = df.group_by("series_id").agg(pl.col("ts").max())
        return self

    def predict(self, horizon: int, history: pl.DataFrame | None = None) -> pl.DataFrame:
        rows = []
        for s, t in self.last.iter_rows():
            for h in range(self.grid.first_step, horizon + 1):
                ts = t + self.grid.step * h
                y = 9.0 if ts == SPIKE_AT else 1.0
                rows.append((s, ts, y, y, y))
        return pl.DataFrame(rows, schema=["series_id", "ts", "p50", "p90", "p99"], orient="row")


def test_the_near_term_reaches_the_window_end_when_the_data_ends_before_now() -> None:
    policy = parse_policy(HOURLY_10M)
    window = provisioning_window(policy, NOW)
    assert window == timedelta(minutes=70)
    until = NOW + window  # 13:10
    grid = ForecastSettings().resolve(policy.forecast, window)
    late = _demand(NOW - timedelta(minutes=10))  # CloudWatch: the last period is 11:50
    out = run_forecast(late, NOW, grid, make_model=_Spike)
    near = out.near_term()
    assert near["ts"].max() >= until  # 16 steps from 11:50, not 14
    assert window_peaks(out, "network_gbps", until) == {"g": pytest.approx(9.0)}
    assert out.grid is not None and out.grid.near == 16
    assert out.summary()["near_term"]["horizon"] == "1h20m"
    # the spike is sized now, so nothing is scheduled ahead of it
    assert lookahead_forecasts(out, until) == {}


def test_a_series_that_stopped_reporting_does_not_stretch_the_near_term() -> None:
    """A removed member's metric, silent for days, is no anchor: the current series are."""
    policy = parse_policy(HOURLY_10M)
    window = provisioning_window(policy, NOW)
    grid = ForecastSettings().resolve(policy.forecast, window)
    current = _demand(NOW - timedelta(minutes=10))
    stale = _demand(NOW - timedelta(days=2), days=2).with_columns(pl.lit("gone").alias("group_id"))
    out = run_forecast(pl.concat([current, stale]), NOW, grid, make_model=_Spike)
    alone = run_forecast(current, NOW, grid, make_model=_Spike)
    assert out.grid.near_steps == alone.grid.near_steps == 16
    assert not any("capped" in n for n in out.grid.notes)


def test_data_up_to_now_keeps_the_near_term_as_it_was() -> None:
    policy = parse_policy(HOURLY_10M)
    grid = ForecastSettings().resolve(policy.forecast, provisioning_window(policy, NOW))
    out = run_forecast(_demand(NOW), NOW, grid, make_model=_Spike)
    assert out.grid is not None and out.grid.near == grid.near == 14


def test_a_window_past_the_horizon_is_still_covered() -> None:
    policy = parse_policy(
        POOLS
        + "schedule: {cron: '0 * * * *'}\n"
        + "actions:\n  - type: resize\n    families: [m6i]\n    lead_time: 15m\n"
        + "forecast: {horizon: 30m}\n"
    )
    grid = ForecastSettings().resolve(policy.forecast, provisioning_window(policy, NOW))
    assert (grid.near, grid.horizon_steps, grid.look_ahead()) == (15, 6, None)
    assert not grid.notes


def test_a_window_past_one_season_is_capped_and_said_so() -> None:
    policy = parse_policy(
        POOLS
        + "schedule: {cron: '0 12 * * *'}\n"
        + "actions:\n  - type: resize\n    families: [m6i]\n    lead_time: 15m\n"
    )
    window = provisioning_window(policy, NOW)
    assert window == timedelta(days=1, minutes=15)
    grid = ForecastSettings().resolve(policy.forecast, window)
    assert (grid.near, grid.horizon_steps, grid.look_ahead()) == (288, 288, None)
    (note,) = grid.notes
    assert "provisioning window 1d15m capped at one season" in note
    out = run_forecast(_demand(NOW - FIVE), NOW, grid, make_model=_Spike)
    assert out.summary()["notes"] == [note]  # once, though the anchored window is longer too


def test_a_late_window_that_reaches_past_one_season_is_capped_and_said_so() -> None:
    grid = ForecastSettings().resolve(None, timedelta(hours=23, minutes=55))
    assert grid.near == 287 and not grid.notes
    out = run_forecast(_demand(NOW - timedelta(minutes=10)), NOW, grid, make_model=_Spike)
    assert out.grid is not None and out.grid.near == 288
    assert "capped at one season" in out.summary()["notes"][0]


# ---- a model that cannot fit falls back -----------------------------------------------------


@pytest.mark.parametrize("frequency", ["2h", "8h", "12h", "1d"])
def test_a_frequency_above_an_hour_is_rejected_with_its_path(frequency: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(POOLS + f"forecast:\n  frequency: {frequency}\n")
    (issue,) = err.value.issues
    assert issue.path == "forecast.frequency"
    assert "is above 1h" in issue.message


def test_an_hourly_frequency_is_accepted() -> None:
    policy = parse_policy(POOLS + "forecast:\n  frequency: 1h\n")
    assert policy.forecast.frequency == timedelta(hours=1)


def test_a_grid_lightgbm_cannot_train_on_falls_back_to_the_seasonal_naive() -> None:
    step = timedelta(days=1)  # the schema refuses it; explicit settings can still ask for it
    demand = _demand(NOW - step, step=step, days=14)
    out = run_forecast(demand, NOW, ForecastSettings(step=step))  # the policy default: 1 d
    assert out.frame.height >= 1  # the step did not fail
    fallbacks = out.summary()["fallbacks"]
    assert fallbacks and {(f["failed"], f["served_by"]) for f in fallbacks} == {
        ("lightgbm", "seasonal-naive")
    }
    assert all("InvalidOperation" in f["error"] for f in fallbacks)  # polars rolling_std
    if "near-term" in {f["role"] for f in fallbacks}:
        assert out.model_by_series == {("g", "network_gbps"): "seasonal-naive"}


class _Boom:
    def __init__(self, kind: str, grid: ForecastGrid) -> None:
        self.kind = kind

    def fit(self, df: pl.DataFrame) -> Any:
        raise ValueError(f"{self.kind} cannot fit")


def test_each_failing_model_falls_back_in_turn_and_never_fails_the_step() -> None:
    def only_peaks(kind: str, grid: ForecastGrid) -> Any:
        return _Boom(kind, grid)

    out = run_forecast(_demand(NOW), NOW, ForecastSettings(), make_model=only_peaks)
    assert out.model_by_series == {("g", "network_gbps"): "recent-peak"}
    assert out.near_term()["p90"].to_list() == [1.0] * 12
    fallbacks = out.summary()["fallbacks"]
    pairs = [(f["role"], f["failed"], f["served_by"]) for f in fallbacks]
    assert pairs == [
        ("near-term", "lightgbm", "seasonal-naive"),
        ("near-term", "seasonal-naive", "recent-peak"),
        ("look-ahead", "lightgbm", "seasonal-naive"),
        ("look-ahead", "seasonal-naive", "recent-peak"),
    ]
    assert fallbacks[0]["error"] == "ValueError: lightgbm cannot fit"


def test_a_lightgbm_failure_is_served_by_the_seasonal_naive() -> None:
    def no_lgbm(kind: str, grid: ForecastGrid) -> Any:
        return _Boom(kind, grid) if kind == "lightgbm" else default_model(kind, grid)

    out = run_forecast(_demand(NOW), NOW, ForecastSettings(), make_model=no_lgbm)
    assert out.model_by_series == {("g", "network_gbps"): "seasonal-naive"}
    assert out.summary()["models"] == {"seasonal-naive": 1}
    assert [f["served_by"] for f in out.summary()["fallbacks"]] == ["seasonal-naive"] * 2


def test_a_short_history_skips_the_seasonal_naive() -> None:
    def no_lgbm(kind: str, grid: ForecastGrid) -> Any:
        return _Boom(kind, grid) if kind == "lightgbm" else default_model(kind, grid)

    settings = ForecastSettings(min_lgbm_days=0.5)  # 0.8 days: LightGBM, then the recent peak
    out = run_forecast(_demand(NOW, days=0.8), NOW, settings, make_model=no_lgbm)
    assert out.model_by_series == {("g", "network_gbps"): "recent-peak"}
    assert [f["served_by"] for f in out.summary()["fallbacks"]] == ["recent-peak"] * 2
