from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from forecasting.backtest import backtest, rolling_origins, split_last
from forecasting.baseline import SeasonalNaive
from forecasting.lgbm import LightGBMForecaster, NotFittedError
from forecasting.metrics import coverage, evaluate, mase, pinball, seasonal_scale

from .conftest import T0, make_series


def test_predict_shape_and_no_crossing(fitted):
    out = fitted.predict(12)
    assert out.columns == ["series_id", "ts", "p50", "p90", "p99"]
    assert out.height == 12 * 12
    assert out.schema["ts"] == pl.Datetime("us", "UTC")
    assert (out["p50"] <= out["p90"]).all() and (out["p90"] <= out["p99"]).all()
    assert (out["p50"] >= 0).all()
    first = out.filter(pl.col("series_id") == "s00")["ts"]
    assert first[0] == T0 + timedelta(days=5)  # the step after the last training point


def test_lightgbm_beats_seasonal_naive_and_is_calibrated(series):
    lgbm = LightGBMForecaster(n_estimators=60, max_train_rows=40_000, n_jobs=1)
    ours = backtest(lgbm, series, horizon=12, test_steps=288, season_length=288)
    snaive = backtest(SeasonalNaive(), series, horizon=12, test_steps=288, season_length=288)
    assert ours.evaluation.aggregate["mase"] < snaive.evaluation.aggregate["mase"]
    assert 0.8 <= ours.evaluation.aggregate["cov_p90"] <= 0.97
    assert ours.evaluation.per_series.height == 12
    assert ours.forecasts["y"].null_count() == 0


def test_update_moves_the_origin(series):
    train = series.filter(pl.col("ts") < T0 + timedelta(days=5))
    fitted = LightGBMForecaster(n_estimators=10, max_train_rows=10_000, n_jobs=1).fit(train)
    new = series.filter(
        (pl.col("ts") >= T0 + timedelta(days=5)) & (pl.col("ts") < T0 + timedelta(days=5, hours=1))
    )
    before = fitted.predict(3)
    fitted.update(new)
    after = fitted.predict(3)
    shift = after["ts"].min() - before["ts"].min()
    assert shift == timedelta(hours=1)


def test_cold_start_series_gets_a_forecast(fitted, series):
    short = make_series(n_series=1, days=0.1, seed=7).with_columns(pl.lit("new").alias("series_id"))
    out = fitted.predict(12, history=short)
    assert out.height == 12 and out["p50"].is_finite().all()


def test_horizon_and_fit_errors(series):
    model = LightGBMForecaster(n_estimators=5)
    with pytest.raises(NotFittedError):
        model.predict(3)
    with pytest.raises(ValueError, match="quantile"):
        LightGBMForecaster(quantiles=(0.5, 1.5))


def test_seasonal_naive_repeats_last_season(series):
    train, _ = split_last(series, 288)
    model = SeasonalNaive(season_length=288).fit(train)
    out = model.predict(4)
    one = out.filter(pl.col("series_id") == "s03")
    past = train.filter(pl.col("series_id") == "s03")["y"].to_numpy()
    assert np.allclose(one["p50"].to_numpy(), past[-288:-284])
    assert (one["p90"] >= one["p50"]).all()


def test_seasonal_naive_short_history_uses_last_value():
    short = make_series(n_series=1, days=0.05)
    out = SeasonalNaive(season_length=288).fit(short).predict(3)
    assert np.allclose(out["p50"].to_numpy(), short["y"][-1])


def test_rolling_origins_are_chronological(series):
    train, test = split_last(series, 48)
    origins = rolling_origins(train, test, horizon=12, step=12)
    per = origins.group_by("series_id").len()
    assert per["len"].to_list() == [4] * 12  # last train point + 3 more with full horizons
    assert origins.filter(pl.col("series_id") == "s00")["ts"].min() == train["ts"].max()


def test_metric_functions():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert seasonal_scale(np.array([1.0, 2.0, 4.0]), 1) == pytest.approx(1.5)
    assert mase(y, y + 1.0, 2.0) == pytest.approx(0.5)
    assert pinball(np.array([1.0]), np.array([0.0]), 0.9) == pytest.approx(0.9)
    assert pinball(np.array([0.0]), np.array([1.0]), 0.9) == pytest.approx(0.1)
    assert coverage(y, np.array([2.0, 2.0, 2.0, 2.0])) == 0.5


def test_evaluate_excludes_constant_series():
    train = pl.DataFrame(
        {
            "series_id": ["a"] * 4 + ["b"] * 4,
            "ts": list(range(4)) * 2,
            "y": [1.0, 2.0, 1.0, 2.0, 5.0, 5.0, 5.0, 5.0],
        }
    )
    fc = pl.DataFrame(
        {"series_id": ["a", "b"], "y": [2.0, 5.0], "p50": [1.0, 5.0], "p90": [3.0, 6.0]}
    )
    ev = evaluate(fc, train, season_length=1, quantiles=(0.5, 0.9))
    assert list(ev.excluded) == ["b"]
    assert ev.aggregate["series"] == 1 and ev.aggregate["mase"] == pytest.approx(1.0)
    assert ev.aggregate["cov_p90"] == 1.0


def test_day_ahead_hourly_with_static_and_exog():
    five = make_series(n_series=6, days=12, seed=5)
    hourly = (
        five.group_by_dynamic("ts", every="1h", group_by="series_id")
        .agg(pl.col("y").mean())
        .sort("series_id", "ts")
    )
    static = pl.DataFrame(
        {
            "series_id": [f"s{i:02d}" for i in range(6)],
            "region": ["eu", "us"] * 3,
            "size": [float(i) for i in range(6)],
        }
    )
    exog = hourly.select("series_id", "ts", (pl.col("y") * 0.5).alias("upstream"))
    last = hourly["ts"].max()
    future = pl.DataFrame(
        {
            "series_id": [f"s{i:02d}" for i in range(6) for _ in range(24)],
            "ts": [last + timedelta(hours=k) for _ in range(6) for k in range(1, 25)],
            "upstream": [1.0] * 144,
        }
    ).with_columns(pl.col("ts").dt.cast_time_unit("us"))
    model = LightGBMForecaster(
        freq="1h", season_length=24, horizon=24, windows=(6, 24), n_estimators=30, n_jobs=1
    ).fit(hourly, static=static, exog=exog)
    names = model.feature_names
    assert {"static_region", "static_size", "exog_upstream", "season_lag_7"} <= set(names)
    out = model.predict(24, exog=pl.concat([exog, future]))
    assert out.height == 6 * 24 and out["ts"].min() == last + timedelta(hours=1)
    assert (out["p50"] <= out["p90"]).all() and (out["p90"] <= out["p99"]).all()
    with pytest.raises(ValueError, match="horizon 25"):
        model.predict(25)


def test_irregular_input_is_resampled_on_fit(series):
    jittered = series.filter(pl.col("series_id") == "s01").with_columns(
        pl.col("ts") + pl.duration(seconds=37)
    )
    model = SeasonalNaive().fit(jittered)
    assert model.predict(1)["ts"][0].second == 0  # back on the 5-minute grid


def test_a_look_ahead_model_is_trained_and_predicts_from_its_first_step(series, tmp_path):
    train = series.filter(pl.col("ts") < T0 + timedelta(days=5))
    model = LightGBMForecaster(
        horizon=48, first_step=13, n_estimators=10, max_train_rows=10_000, n_jobs=1
    ).fit(train)
    out = model.predict(48)
    first = out.filter(pl.col("series_id") == "s00")["ts"]
    step = timedelta(minutes=5)
    # steps 13..48 after the last training point: the first 12 are another model's
    assert first.len() == 36 and first[0] == T0 + timedelta(days=5) - step + 13 * step
    assert model.info["n_calibration_pairs"] > 0
    model.save(tmp_path / "m")
    loaded = LightGBMForecaster.load(tmp_path / "m")
    assert loaded.config.first_step == 13 and loaded.predict(48).equals(out)
    with pytest.raises(ValueError, match="outside 13..48"):
        model.predict(12)
    with pytest.raises(ValueError, match="first_step"):
        LightGBMForecaster(horizon=12, first_step=13)
