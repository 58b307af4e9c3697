"""Forecasts for the replay: quantiles of each app's demand over the next few steps, per cycle.

Uses the ``forecasting`` package through its long-frame API (``fit`` then ``predict_origins``):
the model is fitted on everything before a refit point and forecasts from every decision origin
after it using only data up to that origin, as the running system would between retrains.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from reconciler.simulate.trace import METRICS, AppTrace

__all__ = ["QUANTILES", "ForecastTable", "lightgbm_factory", "precompute_forecasts"]

QUANTILES = (0.5, 0.9, 0.99)
_COLS = ("p50", "p90", "p99")

#: Builds a fresh forecaster for a horizon (``fit(df)`` / ``predict_origins(df, origins, h)``).
ForecasterFactory = Callable[[int], Any]


def lightgbm_factory(horizon: int) -> Any:
    from forecasting import LightGBMForecaster

    return LightGBMForecaster(freq="5m", quantiles=QUANTILES, season_length=288, horizon=horizon)


def seasonal_naive_factory(horizon: int) -> Any:
    from forecasting import SeasonalNaive

    return SeasonalNaive(season_length=288, quantiles=QUANTILES, freq="5m")


class ForecastTable:
    """Per decision step: the highest forecast of each quantile over the horizon, per app/metric."""

    def __init__(self) -> None:
        self._rows: dict[tuple[int, int, str], tuple[float, float, float]] = {}
        self.peak_step: dict[tuple[int, int, str], int] = {}

    def put(
        self, t: int, app: int, metric: str, values: tuple[float, float, float], peak: int
    ) -> None:
        self._rows[(t, app, metric)] = values
        self.peak_step[(t, app, metric)] = peak

    def get(self, t: int, app: int, metric: str) -> dict[str, float] | None:
        row = self._rows.get((t, app, metric))
        return None if row is None else dict(zip(_COLS, row, strict=True))

    def __len__(self) -> int:
        return len(self._rows)


def _frame(trace: AppTrace, upto: int) -> pl.DataFrame:
    parts = []
    for metric in METRICS:
        f = trace.long_frame(metric, upto)
        parts.append(f.with_columns((pl.col("series_id") + "|" + metric).alias("series_id")))
    return pl.concat(parts)


def precompute_forecasts(
    trace: AppTrace,
    decision_steps: Sequence[int],
    horizon: int,
    factory: ForecasterFactory = lightgbm_factory,
    refit_every: int | None = None,
) -> ForecastTable:
    """Forecast from origin ``t - 1`` for each decision step ``t`` (``t + h - 1`` for h=1..H)."""
    table = ForecastTable()
    steps = sorted(decision_steps)
    if not steps:
        return table
    chunks: list[list[int]] = []
    for t in steps:
        if not chunks or (refit_every is not None and t - chunks[-1][0] >= refit_every):
            chunks.append([])
        chunks[-1].append(t)
    app_idx = {a: i for i, a in enumerate(trace.apps)}
    for chunk in chunks:
        first, last = chunk[0], chunk[-1]
        model = factory(horizon)
        model.fit(_frame(trace, first))
        history = _frame(trace, last)
        origin_ts = pl.Series(trace.ts[[t - 1 for t in chunk]]).dt.replace_time_zone("UTC")
        series = history["series_id"].unique().sort()
        origins = pl.DataFrame({"series_id": series}).join(
            pl.DataFrame({"ts": origin_ts}), how="cross"
        )
        fc = model.predict_origins(history, origins, horizon)
        step_us = trace.step_s * 1_000_000
        first_us = int(trace.ts[0].astype("datetime64[us]").astype(np.int64))
        peaks = (
            fc.with_columns(
                ((pl.col("origin").dt.epoch("us") - first_us) // step_us + 1).alias("t"),
                ((pl.col("ts").dt.epoch("us") - first_us) // step_us).alias("at"),
            )
            .sort("series_id", "t", "p90", descending=[False, False, True])
            .group_by("series_id", "t", maintain_order=True)
            .agg(
                pl.col("p50").max(), pl.col("p90").max(), pl.col("p99").max(), pl.col("at").first()
            )
        )
        for sid, t, p50, p90, p99, at in peaks.iter_rows():
            app, metric = str(sid).split("|", 1)
            vals = (max(0.0, p50), max(0.0, p90), max(0.0, p99))
            table.put(int(t), app_idx[app], metric, vals, int(at))
    return table
