"""The forecaster contract and helpers every forecaster shares (regular grids, output shape)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Self, runtime_checkable

import numpy as np
import polars as pl

from forecasting.frames import SERIES, TS, TS_DTYPE, FrameError, freq_to_timedelta, validate_long
from forecasting.resample import ResampleResult, resample

__all__ = [
    "ORIGIN",
    "Forecaster",
    "ensure_regular",
    "forecast_frame",
    "last_origins",
    "origin_rows",
]

ORIGIN = "origin"


@runtime_checkable
class Forecaster(Protocol):
    """What the reconciler and the backtests need from a forecaster.

    ``predict`` returns ``series_id, ts`` and one column per quantile (``p50``, ``p90``...),
    never crossing. ``predict_origins`` forecasts from many past origins at once (backtests):
    it returns ``series_id, origin, ts`` plus the quantile columns.
    """

    @property
    def freq(self) -> str: ...

    @property
    def quantiles(self) -> tuple[float, ...]: ...

    def fit(
        self, df: pl.DataFrame, static: pl.DataFrame | None = None, exog: pl.DataFrame | None = None
    ) -> Self: ...

    def predict(
        self, horizon: int, *, history: pl.DataFrame | None = None, exog: pl.DataFrame | None = None
    ) -> pl.DataFrame: ...

    def predict_origins(
        self, df: pl.DataFrame, origins: pl.DataFrame, horizon: int
    ) -> pl.DataFrame: ...

    def update(self, df: pl.DataFrame) -> Self: ...

    def save(self, path: str | Path) -> None: ...


def ensure_regular(
    df: pl.DataFrame, freq: str, *, name: str = "frame"
) -> tuple[pl.DataFrame, ResampleResult | None]:
    """Return ``df`` on the ``freq`` grid: as is when already regular, else resampled (mean)."""
    clean = validate_long(df, name=name)
    step_us = int(freq_to_timedelta(freq).total_seconds() * 1_000_000)
    ts = clean[TS].dt.epoch("us")
    aligned = bool((ts % step_us == 0).all())
    diffs = clean.select(pl.col(TS).dt.epoch("us").diff().over(SERIES).drop_nulls())
    regular = aligned and bool((diffs.to_series() == step_us).all())
    if regular:
        return clean, None
    result = resample(clean, freq)
    return result.frame, result


def last_origins(df: pl.DataFrame) -> pl.DataFrame:
    """One origin per series: its last timestamp."""
    return df.group_by(SERIES).agg(pl.col(TS).max()).sort(SERIES)


def origin_rows(df: pl.DataFrame, origins: pl.DataFrame) -> np.ndarray:
    """Row numbers in the sorted ``df`` of each (series_id, ts) origin (FrameError if absent)."""
    indexed = df.select(SERIES, TS).with_row_index("_row")
    hit = origins.select(pl.col(SERIES).cast(pl.String), pl.col(TS).cast(TS_DTYPE)).join(
        indexed, on=[SERIES, TS], how="left", maintain_order="left"
    )
    if hit["_row"].null_count():
        bad = hit.filter(pl.col("_row").is_null()).row(0)
        raise FrameError(f"origin {bad[0]!r} at {bad[1]} is not a row of the history")
    return hit["_row"].to_numpy().astype(np.int64)


def forecast_frame(
    series: np.ndarray,
    origin_us: np.ndarray,
    horizons: np.ndarray,
    step_us: int,
    values: np.ndarray,
    quantiles: tuple[float, ...],
    *,
    with_origin: bool,
) -> pl.DataFrame:
    """Assemble the output frame, sorting quantiles per row so they never cross."""
    from forecasting.frames import quantile_column

    ordered = np.sort(values, axis=1)
    data: dict[str, object] = {
        SERIES: pl.Series(SERIES, series, dtype=pl.String),
    }
    if with_origin:
        data[ORIGIN] = pl.Series(ORIGIN, origin_us, dtype=pl.Int64).cast(TS_DTYPE)
    data[TS] = pl.Series(TS, origin_us + horizons.astype(np.int64) * step_us).cast(TS_DTYPE)
    for j, q in enumerate(quantiles):
        data[quantile_column(q)] = ordered[:, j]
    return pl.DataFrame(data)
