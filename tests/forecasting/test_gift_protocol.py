"""GIFT-Eval's protocol as bench.gift reproduces it: windows, split, metrics, seasonal naive."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.gift import GIFT_QUANTILES, gift_windows, window_origins
from forecasting.baseline import seasonal_naive_normal
from forecasting.metrics import mase_pointwise, mean_weighted_quantile_loss


@pytest.mark.parametrize(
    ("min_length", "horizon", "windows"),
    [
        (8640, 48, 18),  # one month at 5 min, short: ceil(864 / 48)
        (8640, 480, 2),  # medium: ceil(1.8)
        (8640, 720, 2),  # long: ceil(1.2)
        (100, 48, 1),  # at least one window
        (100_000, 48, 20),  # at most twenty
    ],
)
def test_windows_are_a_tenth_of_the_shortest_series_capped_at_20(
    min_length: int, horizon: int, windows: int
) -> None:
    assert gift_windows(min_length, horizon) == windows


def test_windows_end_each_series_and_do_not_overlap() -> None:
    rows = window_origins(np.array([100, 90]), horizon=10, windows=2)
    # window w of a series of n points forecasts rows origin+1 .. origin+10
    assert rows.tolist() == [[79, 89], [69, 79]]
    assert rows[0, -1] + 10 == 99  # the last window ends at the series' last point


def test_weighted_quantile_loss_by_hand() -> None:
    y = np.array([2.0, 4.0])
    preds = np.array([[1.0, 2.0, 3.0], [4.0, 4.0, 5.0]])
    # q=0.1: 2*|1*(0-0.1)| = 0.2 and 0; q=0.5: 0, 0; q=0.9: 2*|-1*(1-0.9)| = 0.2 twice
    expected = np.mean([0.2 / 6, 0.0, 0.4 / 6])
    assert mean_weighted_quantile_loss(y, preds, (0.1, 0.5, 0.9)) == pytest.approx(expected)


def test_a_point_used_for_all_quantiles_scores_its_normalised_deviation() -> None:
    rng = np.random.default_rng(1)
    y = rng.gamma(2.0, 5.0, size=200)
    point = y + rng.normal(0, 3, size=200)
    preds = np.repeat(point[:, None], len(GIFT_QUANTILES), axis=1)
    nd = np.abs(y - point).sum() / np.abs(y).sum()
    assert mean_weighted_quantile_loss(y, preds, GIFT_QUANTILES) == pytest.approx(nd)


def test_missing_actuals_are_left_out() -> None:
    y = np.array([2.0, np.nan])
    preds = np.array([[1.0], [100.0]])
    assert mean_weighted_quantile_loss(y, preds, (0.5,)) == pytest.approx(1.0 / 2.0)
    assert mase_pointwise(y, preds[:, 0], np.array([2.0, 2.0])) == pytest.approx(0.5)


def test_mase_is_the_mean_of_errors_scaled_by_each_window() -> None:
    y = np.array([3.0, 5.0, 10.0, 10.0])
    pred = np.array([2.0, 5.0, 8.0, 14.0])
    scale = np.array([2.0, 2.0, 4.0, 4.0])  # two windows with their own seasonal error
    assert mase_pointwise(y, pred, scale) == pytest.approx((0.5 + 0 + 0.5 + 1.0) / 4)


def test_seasonal_naive_matches_statsforecast_with_its_intervals() -> None:
    from statsforecast import StatsForecast
    from statsforecast.models import SeasonalNaive

    rng = np.random.default_rng(0)
    y = rng.gamma(2.0, 3.0, size=100)
    m, h = 7, 20
    ours = seasonal_naive_normal(y, np.array([59, 99]), h, m, GIFT_QUANTILES)
    cols = [f"SeasonalNaive-lo-{v}" for v in (80, 60, 40, 20)]
    cols += ["SeasonalNaive"] + [f"SeasonalNaive-hi-{v}" for v in (20, 40, 60, 80)]
    for k, o in enumerate((59, 99)):
        ds = pd.date_range("2020", periods=o + 1, freq="h")
        df = pd.DataFrame({"unique_id": "a", "ds": ds, "y": y[: o + 1]})
        sf = StatsForecast(models=[SeasonalNaive(season_length=m)], freq="h")
        theirs = sf.forecast(df=df, h=h, level=[20, 40, 60, 80])[cols].to_numpy()
        np.testing.assert_allclose(ours[k], theirs, rtol=1e-9, atol=1e-9)


def test_many_quantiles_train_three_boosters_and_read_their_side() -> None:
    from forecasting.lgbm import source_quantile, trained_quantiles

    trained = trained_quantiles(GIFT_QUANTILES)
    assert trained == (0.1, 0.5, 0.9)
    assert [source_quantile(q, trained) for q in (0.2, 0.4, 0.6, 0.8)] == [0.1, 0.1, 0.9, 0.9]
    production = trained_quantiles((0.5, 0.9, 0.99))
    assert production == (0.5, 0.9, 0.99) and source_quantile(0.99, production) == 0.99
    # a tail beyond TAIL_LIMIT is trained at p99 / p1 and read from there; inner ones as before
    far = trained_quantiles((0.001, 0.5, 0.9, 0.95, 0.999))
    assert far == (0.01, 0.5, 0.95, 0.99)
    assert [source_quantile(q, far) for q in (0.001, 0.9, 0.999)] == [0.01, 0.95, 0.99]
