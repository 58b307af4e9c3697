"""Far steps with few calibration pairs are pooled with their neighbours; a step with enough
pairs for a quantile (more for a tail quantile: ``pairs_needed``) is calibrated on its own."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from forecasting import conformal
from forecasting.conformal import MIN_STEP_PAIRS, fit_conformal, pairs_needed
from forecasting.lgbm import LightGBMForecaster

from .conftest import make_series

QS = (0.5, 0.9, 0.99)


def _pairs(counts: dict[int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    h = np.concatenate([np.full(n, step) for step, n in counts.items()])
    actual = rng.normal(0.0, 2.0, size=len(h))
    raw = np.column_stack([np.zeros(len(h)), np.full(len(h), 1.0), np.full(len(h), 1.5)])
    return raw, actual, h


def test_tail_quantiles_need_more_pairs() -> None:
    assert pairs_needed(0.5) == MIN_STEP_PAIRS
    assert pairs_needed(0.9) == 100 and pairs_needed(0.1) == 100
    assert pairs_needed(0.99) == 1000


def test_a_step_pools_for_p99_but_not_for_p50_and_p90() -> None:
    raw, actual, h = _pairs({1: 300, 2: 300, 3: 300, 4: 300})
    params = fit_conformal(QS, raw, actual, h, 4)
    for step in (1, 2, 3, 4):
        sel = h == step
        alone = fit_conformal(QS, raw[sel], actual[sel], np.ones(sel.sum(), dtype=int), 1)
        assert np.array_equal(params[:2, step - 1], alone[:2, 0])  # p50, p90: its own pairs
    # p99 of step 1 needs 1000 pairs: steps 1..4 (distance 3) give 1200, scored against
    # step 1's own median
    score = (actual - (raw[:, 0] + params[0, 0])) / (raw[:, 2] - raw[:, 0])
    expected = np.quantile(score, min(1.0, np.ceil(1201 * 0.99) / 1200))
    assert params[2, 0] == pytest.approx(expected)
    assert params[2, 0] != fit_conformal(QS, raw[h == 1], actual[h == 1], h[h == 1], 1)[2, 0]


def test_steps_with_enough_pairs_are_calibrated_on_their_own() -> None:
    raw, actual, h = _pairs({1: 1000, 2: 1200, 3: 1500})
    params = fit_conformal(QS, raw, actual, h, 3)
    for step in (1, 2, 3):
        sel = h == step
        alone = fit_conformal(QS, raw[sel], actual[sel], np.ones(sel.sum(), dtype=int), 1)
        assert np.array_equal(params[:, step - 1], alone[:, 0])  # bit for bit


def test_a_far_step_with_few_pairs_is_pooled_with_its_neighbours() -> None:
    raw, actual, h = _pairs({8: 15, 9: 10, 10: 3})  # the far steps of a long horizon
    params = fit_conformal(QS, raw, actual, h, 10)
    near = (h == 9) | (h == 10)  # 13 pairs: not enough, so 8 too (28)
    pooled = fit_conformal(QS, raw, actual, np.full(len(h), 1), 1)
    assert np.array_equal(params[:, 9], pooled[:, 0])
    assert near.sum() < MIN_STEP_PAIRS
    assert params[1, 9] > 0 and params[2, 9] > 0  # p90, p99 factors are not 0
    # steps before the first one calibrated (a look-ahead model's) are left as they were
    assert np.array_equal(params[:, :7], fit_conformal(QS, raw[:0], actual[:0], h[:0], 10)[:, :7])


def test_a_step_between_calibrated_ones_takes_the_nearest() -> None:
    raw, actual, h = _pairs({1: 30, 3: 30})  # step 2 has no pairs of its own
    params = fit_conformal(QS, raw, actual, h, 3)
    both = fit_conformal(QS, raw, actual, np.ones(len(h), dtype=int), 1)
    assert np.array_equal(params[:, 1], both[:, 0])


def test_an_ordinary_short_horizon_model_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    series = make_series(n_series=4, days=4, seed=5)

    def forecast() -> pl.DataFrame:
        model = LightGBMForecaster(n_estimators=10, max_train_rows=10_000, n_jobs=1, horizon=12)
        return model.fit(series).predict(12)

    now = forecast()
    monkeypatch.setattr(conformal, "MIN_STEP_PAIRS", 0)  # every step on its own: as before
    assert now.equals(forecast())
