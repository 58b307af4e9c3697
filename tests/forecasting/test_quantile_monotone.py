"""Calibrated quantiles never cross: factors grow away from the median for quantiles that share
a spread, and forecasts are ordered column by column."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting import conformal
from forecasting.conformal import apply_conformal, fit_conformal
from forecasting.lgbm import LightGBMForecaster

from .conftest import make_series

QS = (0.5, 0.9, 0.99)


def _crossing_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Step 1 has 5 pairs: its p90 pools step 2's 100 wide misses, its p99 (1,000 pairs) also
    step 3's 2,000 calm ones, which alone would put its p99 factor below its p90 factor."""
    h = np.repeat([1, 2, 3], [5, 100, 2000])
    actual = np.where(h < 3, rng.normal(0, 6, len(h)), rng.normal(0, 0.5, len(h)))
    return h, actual


def test_p99_factor_is_never_below_p90s_when_both_scale_p90s_spread() -> None:
    h, actual = _crossing_case(np.random.default_rng(3))
    ones = np.ones(len(h))
    raw = np.column_stack([0 * ones, ones, ones])  # p99 reads p90's column
    params = fit_conformal(QS, raw, actual, h, 3)
    assert np.all(params[2] >= params[1])
    out = apply_conformal(QS, raw, h, params)
    assert np.all(np.diff(out, axis=1) >= 0)


def test_without_the_monotone_step_they_would_cross(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conformal, "_monotone", lambda *args: None)
    h, actual = _crossing_case(np.random.default_rng(3))
    ones = np.ones(len(h))
    params = conformal.fit_conformal(QS, np.column_stack([0 * ones, ones, ones]), actual, h, 3)
    assert params[2, 0] < params[1, 0]


def test_lower_quantiles_are_monotone_too() -> None:
    qs = (0.01, 0.1, 0.5)
    h, actual = _crossing_case(np.random.default_rng(4))
    ones = np.ones(len(h))
    params = fit_conformal(qs, np.column_stack([-ones, -ones, 0 * ones]), actual, h, 3)
    assert np.all(params[0] >= params[1])


def test_forecasts_are_ordered_for_gift_quantiles() -> None:
    series = make_series(n_series=4, days=4, seed=2)
    qs = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99)
    model = LightGBMForecaster(
        quantiles=qs, n_estimators=10, max_train_rows=10_000, n_jobs=1, horizon=12
    )
    fc = model.fit(series).predict(12)
    values = fc.select([f"p{q * 100:g}" for q in qs]).to_numpy()
    assert np.all(np.diff(values, axis=1) >= 0)
