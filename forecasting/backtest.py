"""Rolling-origin backtests, strictly chronological.

Each series' last ``test_steps`` points are held out. The model is fitted once on everything
before them; then, from the last training point and every ``step`` points after it, it forecasts
``horizon`` steps using only data up to that origin (``predict_origins`` builds features from the
past of each origin). Forecasts are scored against the held-out actuals with
``forecasting.metrics.evaluate``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from forecasting.base import ORIGIN, Forecaster, ensure_regular
from forecasting.frames import SERIES, TS, FrameError, Y
from forecasting.metrics import Evaluation, evaluate

__all__ = ["BacktestResult", "backtest", "rolling_origins", "split_last"]


@dataclass(frozen=True)
class BacktestResult:
    """Forecasts with actuals, their evaluation, and how long fit and predict took."""

    name: str
    forecasts: pl.DataFrame
    evaluation: Evaluation
    fit_seconds: float
    predict_seconds: float


def split_last(df: pl.DataFrame, test_steps: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Chronological split per series: the last ``test_steps`` rows of each series are the test.

    Series with no more than ``test_steps`` rows cannot be split: FrameError names them.
    """
    if test_steps < 1:
        raise FrameError(f"test_steps must be >= 1, got {test_steps}")
    ranked = df.sort(SERIES, TS).with_columns(
        pl.int_range(pl.len()).reverse().over(SERIES).alias("_back")
    )
    sizes = ranked.group_by(SERIES).agg(pl.len().alias("n"))
    short = sizes.filter(pl.col("n") <= test_steps)[SERIES].to_list()
    if short:
        raise FrameError(f"series too short for a {test_steps}-step test: {sorted(short)[:5]}")
    train = ranked.filter(pl.col("_back") >= test_steps).drop("_back")
    test = ranked.filter(pl.col("_back") < test_steps).drop("_back")
    return train, test


def rolling_origins(
    train: pl.DataFrame, test: pl.DataFrame, *, horizon: int, step: int
) -> pl.DataFrame:
    """Origins: each series' last training point, then every ``step`` test points, as long as a
    full ``horizon`` of test actuals follows."""
    last = train.group_by(SERIES).agg(pl.col(TS).max())
    later = (
        test.sort(SERIES, TS)
        .with_columns(
            pl.int_range(1, pl.len() + 1).over(SERIES).alias("_k"),
            pl.len().over(SERIES).alias("_n"),
        )
        .filter((pl.col("_k") % step == 0) & (pl.col("_k") + horizon <= pl.col("_n")))
        .select(SERIES, TS)
    )
    return pl.concat([last, later]).sort(SERIES, TS)


def backtest(
    model: Forecaster,
    df: pl.DataFrame,
    *,
    horizon: int,
    test_steps: int,
    season_length: int,
    step: int | None = None,
    static: pl.DataFrame | None = None,
    name: str = "model",
    quantiles: Sequence[float] | None = None,
) -> BacktestResult:
    """Fit ``model`` on the past, forecast from rolling origins over the test, and score it."""
    regular, _ = ensure_regular(df, model.freq, name="backtest frame")
    train, test = split_last(regular, test_steps)
    origins = rolling_origins(train, test, horizon=horizon, step=step or horizon)
    t0 = time.perf_counter()
    model.fit(train, static=static)
    t1 = time.perf_counter()
    fc = model.predict_origins(regular, origins, horizon)
    t2 = time.perf_counter()
    joined = fc.join(test.select(SERIES, TS, Y), on=[SERIES, TS], how="left")
    qs = tuple(quantiles or model.quantiles)
    evaluation = evaluate(joined, train, season_length=season_length, quantiles=qs)
    return BacktestResult(name, joined.sort(SERIES, ORIGIN, TS), evaluation, t1 - t0, t2 - t1)
