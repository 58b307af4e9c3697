"""Small generated series for forecasting tests (no real data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_series(
    n_series: int = 12, days: float = 6.0, season: int = 288, seed: int = 0, noise: float = 0.1
) -> pl.DataFrame:
    """Daily-seasonal positive series of different magnitudes, 5-minute steps."""
    rng = np.random.default_rng(seed)
    n = int(days * season)
    t = np.arange(n)
    frames = []
    for i in range(n_series):
        level = 10.0 * (i + 1)
        y = (
            level
            * (1 + 0.5 * np.sin(2 * np.pi * t / season + i))
            * (1 + noise * rng.normal(size=n))
        )
        frames.append(
            pl.DataFrame(
                {
                    "series_id": f"s{i:02d}",
                    "ts": [T0 + timedelta(minutes=5 * k) for k in range(n)],
                    "y": np.maximum(y, 0.0),
                }
            )
        )
    return pl.concat(frames).with_columns(pl.col("ts").dt.cast_time_unit("us"))


@pytest.fixture(scope="session")
def series() -> pl.DataFrame:
    return make_series()


@pytest.fixture(scope="session")
def fitted(series: pl.DataFrame):
    from forecasting.lgbm import LightGBMForecaster

    train = series.filter(pl.col("ts") < T0 + timedelta(days=5))
    return LightGBMForecaster(n_estimators=40, max_train_rows=30_000, n_jobs=1).fit(train)
