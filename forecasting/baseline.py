"""Seasonal naive: the safe fallback forecaster and the yardstick every model is scored against.

The point forecast for ``t+h`` is the last observed value one season earlier (``y[t+h-k*m]``
with the smallest k that lands in the past). A series shorter than one season, or whose seasonal
value is missing, falls back to its last observed value. Quantiles add per-series empirical
quantiles of the seasonal residuals ``y[t] - y[t-m]`` (lag-1 residuals when there is less than a
season), so ``p50`` is the classic seasonal naive forecast and the band reflects how much the
series has historically differed from a season ago.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl

from forecasting.base import ensure_regular, forecast_frame, last_origins, origin_rows
from forecasting.frames import (
    SERIES,
    TS,
    Y,
    freq_to_timedelta,
    quantile_column,
    validate_long,
    validate_quantiles,
)
from forecasting.lgbm import NotFittedError
from forecasting.persist import FORMAT_VERSION, ModelLoadError, library_versions, read_meta

__all__ = ["SeasonalNaive", "seasonal_naive_normal"]


class SeasonalNaive:
    """Seasonal naive with residual quantiles; same API as ``LightGBMForecaster``."""

    def __init__(
        self,
        season_length: int = 288,
        quantiles: tuple[float, ...] = (0.5, 0.9, 0.99),
        freq: str = "5m",
        *,
        residual_window: int | None = None,
    ) -> None:
        if season_length < 1:
            raise ValueError(f"season_length must be >= 1, got {season_length}")
        freq_to_timedelta(freq)
        self.season_length = season_length
        self.quantiles = validate_quantiles(quantiles)
        self.freq = freq
        self.residual_window = residual_window or 7 * season_length
        self._history: pl.DataFrame | None = None
        self._spread: dict[str, list[float]] = {}
        self.info: dict[str, Any] = {}

    def fit(
        self, df: pl.DataFrame, static: pl.DataFrame | None = None, exog: pl.DataFrame | None = None
    ) -> Self:
        """Learn each series' residual quantiles (``static`` and ``exog`` are accepted, unused)."""
        regular, _ = ensure_regular(df, self.freq, name="fit frame")
        self._spread = self._residual_quantiles(regular)
        self._history = _tail(regular, self.residual_window + self.season_length)
        self.info = {
            "train_start": str(regular[TS].min()),
            "train_end": str(regular[TS].max()),
            "n_series": len(self._spread),
        }
        return self

    def _residual_quantiles(self, regular: pl.DataFrame) -> dict[str, list[float]]:
        m = self.season_length
        tail = _tail(regular, self.residual_window + m)
        resid = tail.with_columns(
            (pl.col(Y) - pl.col(Y).shift(m).over(SERIES)).alias("_rs"),
            (pl.col(Y) - pl.col(Y).shift(1).over(SERIES)).alias("_r1"),
        )
        aggs = []
        for j, q in enumerate(self.quantiles):
            aggs += [
                pl.col("_rs").drop_nulls().quantile(q).alias(f"s{j}"),
                pl.col("_r1").drop_nulls().quantile(q).alias(f"o{j}"),
            ]
        table = resid.group_by(SERIES).agg(*aggs, pl.col("_rs").drop_nulls().len().alias("_n"))
        out: dict[str, list[float]] = {}
        for row in table.iter_rows(named=True):
            use = "s" if row["_n"] >= 10 else "o"
            vals = [row[f"{use}{j}"] for j in range(len(self.quantiles))]
            out[row[SERIES]] = [0.0 if v is None else float(v) for v in vals]
        return out

    def _values(
        self,
        flat_y: np.ndarray,
        start: np.ndarray,
        rows: np.ndarray,
        h: np.ndarray,
        series: np.ndarray,
    ) -> np.ndarray:
        m = self.season_length
        k = np.ceil(h / m).astype(np.int64)
        src = rows + h - k * m
        ok = src >= start
        seasonal = np.where(ok, flat_y[np.clip(src, 0, None)], np.nan)
        last = _last_valid(flat_y, start, rows)
        point = np.where(np.isnan(seasonal), last, seasonal)
        median_idx = int(np.argmin([abs(q - 0.5) for q in self.quantiles]))
        names, inverse = np.unique(series.astype(str), return_inverse=True)
        zero = [0.0] * len(self.quantiles)
        table = np.array([self._spread.get(str(n), zero) for n in names]).reshape(
            len(names), len(self.quantiles)
        )
        spread = table[inverse] if len(series) else np.zeros((0, len(self.quantiles)))
        centred = spread - spread[:, [median_idx]] if 0.5 in self.quantiles else spread
        return point[:, None] + centred

    def predict(
        self, horizon: int, *, history: pl.DataFrame | None = None, exog: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        hist = self._state() if history is None else ensure_regular(history, self.freq)[0]
        return self._forecast(hist, last_origins(hist), horizon, with_origin=False)

    def predict_origins(
        self, df: pl.DataFrame, origins: pl.DataFrame, horizon: int
    ) -> pl.DataFrame:
        regular = ensure_regular(df, self.freq)[0]
        return self._forecast(regular, origins, horizon, with_origin=True)

    def _forecast(
        self, hist: pl.DataFrame, origins: pl.DataFrame, horizon: int, *, with_origin: bool
    ) -> pl.DataFrame:
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self._state()
        rows = origin_rows(hist, origins)
        start = hist.with_row_index("_i").select(pl.col("_i").min().over(SERIES))["_i"].to_numpy()
        y = hist[Y].to_numpy().astype(np.float64)
        o = np.repeat(rows, horizon)
        h = np.tile(np.arange(1, horizon + 1), len(rows))
        series = hist[SERIES].to_numpy()[o]
        values = self._values(y, start[o] if len(o) else start[:0], o, h, series)
        step_us = int(freq_to_timedelta(self.freq).total_seconds() * 1_000_000)
        ts_us = hist[TS].dt.epoch("us").to_numpy()[o]
        return forecast_frame(
            series, ts_us, h, step_us, values, self.quantiles, with_origin=with_origin
        )

    def _state(self) -> pl.DataFrame:
        if self._history is None:
            raise NotFittedError("SeasonalNaive is not fitted: call fit() first")
        return self._history

    def update(self, df: pl.DataFrame) -> Self:
        """Append new observations; residual quantiles stay as fitted until the next fit."""
        hist = self._state()
        new = validate_long(df, name="update frame").select(hist.columns)
        merged = (
            pl.concat([hist, new])
            .unique(subset=[SERIES, TS], keep="last", maintain_order=True)
            .sort(SERIES, TS)
        )
        regular, _ = ensure_regular(merged, self.freq, name="update frame")
        self._history = _tail(regular, self.residual_window + self.season_length)
        return self

    def save(self, path: str | Path) -> None:
        target = Path(path)
        target.mkdir(parents=True, exist_ok=True)
        self._state().write_parquet(target / "history.parquet")
        meta = {
            "format_version": FORMAT_VERSION,
            "kind": "seasonal_naive",
            "config": {
                "season_length": self.season_length,
                "quantiles": list(self.quantiles),
                "freq": self.freq,
                "residual_window": self.residual_window,
            },
            "spread": self._spread,
            "quantile_columns": [quantile_column(q) for q in self.quantiles],
            "info": self.info,
            "libraries": library_versions(),
        }
        (target / "model.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: str | Path) -> SeasonalNaive:
        source = Path(path)
        meta = read_meta(source)
        if meta.get("kind") != "seasonal_naive":
            raise ModelLoadError(
                f"{source}: artifact kind {meta.get('kind')!r} is not seasonal_naive"
            )
        try:
            cfg = meta["config"]
            model = cls(
                season_length=int(cfg["season_length"]),
                quantiles=tuple(cfg["quantiles"]),
                freq=str(cfg["freq"]),
                residual_window=int(cfg["residual_window"]),
            )
            model._spread = {str(k): [float(x) for x in v] for k, v in meta["spread"].items()}
            model.info = dict(meta.get("info", {}))
            model._history = pl.read_parquet(source / "history.parquet")
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise ModelLoadError(
                f"{source}: incompatible seasonal naive artifact ({exc!r})"
            ) from exc
        except pl.exceptions.PolarsError as exc:
            raise ModelLoadError(f"{source}: cannot read stored history ({exc})") from exc
        return model


def seasonal_naive_normal(
    y: np.ndarray, origins: np.ndarray, horizon: int, season: int, quantiles: Sequence[float]
) -> np.ndarray:
    """statsforecast's ``SeasonalNaive`` with its normal prediction intervals, as GIFT-Eval's
    seasonal naive baseline makes its quantiles (``notebooks/naive.ipynb``: ``level=[20, 40,
    60, 80]`` turned into quantiles 0.1..0.9), for one series and many forecast origins.

    From origin ``o`` (history ``y[:o + 1]``, no NaN) step ``i`` forecasts
    ``y[o + 1 + i - m * (i // m + 1)]`` with quantile ``q`` at that value plus
    ``z_q * sigma * sqrt(i // m + 1)``, where ``sigma = sqrt(sum (y[t] - y[t-m])^2 / (n - m))``
    over the history (``n`` points). Returns ``(len(origins), horizon, len(quantiles))``.
    """
    from scipy.stats import norm

    values = np.asarray(y, dtype=np.float64)
    m = season
    sq = np.zeros(len(values))
    sq[m:] = (values[m:] - values[:-m]) ** 2
    cum = np.cumsum(sq)
    o = np.asarray(origins, dtype=np.int64)
    n = o + 1
    sigma = np.where(n > m, np.sqrt(cum[o] / np.maximum(n - m, 1)), 0.0)
    steps = np.arange(horizon)
    k = steps // m
    src = o[:, None] + 1 + steps[None, :] - m * (k[None, :] + 1)
    point = values[np.clip(src, 0, None)]
    z = norm.ppf(np.asarray(quantiles, dtype=np.float64))
    spread = sigma[:, None, None] * np.sqrt(k + 1.0)[None, :, None] * z[None, None, :]
    return point[:, :, None] + spread


def _tail(df: pl.DataFrame, keep: int) -> pl.DataFrame:
    return df.filter(pl.int_range(pl.len()).reverse().over(SERIES) < keep)


def _last_valid(y: np.ndarray, start: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The last non-missing value at or before each row within its series (NaN if none)."""
    n = len(y)
    idx = np.where(np.isnan(y), -1, np.arange(n))
    last_idx = np.maximum.accumulate(idx) if n else idx
    pick = last_idx[rows] if len(rows) else np.array([], dtype=np.int64)
    ok = pick >= start
    return np.where(ok, y[np.clip(pick, 0, None)], np.nan)
