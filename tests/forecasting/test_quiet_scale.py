"""A series at zero for a whole season is scaled by its own past, not by 1.0 in its units."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from forecasting.features import FeatureSpec, flatten

from .conftest import T0

SEASON = 288


def _frame(y: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "series_id": "disk",
            "ts": [T0 + timedelta(minutes=5 * k) for k in range(len(y))],
            "y": y,
        }
    ).with_columns(pl.col("ts").dt.cast_time_unit("us"))


def test_a_quiet_season_is_scaled_by_the_series_own_past() -> None:
    y = np.zeros(3 * SEASON)
    y[10:20] = 0.5  # a few small reads on day one, nothing since
    on = flatten(_frame(y), FeatureSpec(step_seconds=300, season_length=SEASON, quiet_scale=True))
    off = flatten(_frame(y), FeatureSpec(step_seconds=300, season_length=SEASON))
    last = 3 * SEASON - 1
    steps = np.abs(np.diff(y))
    assert np.isclose(on.scale[last], steps.mean())  # 1.0 / 863: the mean |step| so far
    assert off.scale[last] == 1.0  # what a model saved before quiet_scale keeps using
    # a series that has never been anything but zero has nothing else to go by
    never = flatten(
        _frame(np.zeros(2 * SEASON)),
        FeatureSpec(step_seconds=300, season_length=SEASON, quiet_scale=True),
    )
    assert (never.scale == 1.0).all()
    # a busy season is scaled as before
    busy = np.sin(np.arange(3 * SEASON) / 7.0) + 2.0
    a = flatten(_frame(busy), FeatureSpec(step_seconds=300, season_length=SEASON, quiet_scale=True))
    b = flatten(_frame(busy), FeatureSpec(step_seconds=300, season_length=SEASON))
    np.testing.assert_array_equal(a.scale, b.scale)
