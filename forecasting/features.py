"""Vectorised feature building for the global direct multi-horizon model.

A training or prediction row is a pair (origin row ``i``, horizon ``h``): features are known at
the origin (normalised recent lags, rolling mean/max/std, history length), or at the target time
``t+h`` but computable from the past (calendar, seasonal lags ``y[t+h-k*m]``, supplied exogenous
columns, static columns; with ``season_context``, per seasonal multiple k the change from
``y[t-k*m]`` to ``y[t+h-k*m]`` and the hour's mean around ``y[t+h-k*m]``). Values are
normalised per origin so one model serves series of any magnitude: with ``normalize="diff"``
(default) as ``(v - c) / s`` where ``c`` is the last observed value and ``s`` the mean absolute
step over the last season (the model predicts the change from now, in units of the series' usual
step size); with ``normalize="level"`` as ``v / s`` where ``s`` is the mean |y| over the last
season. All of it is numpy fancy indexing on one flat frame sorted by (series_id, ts): no
per-row Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from forecasting.frames import SERIES, TS, Y

__all__ = ["FeatureSpec", "FlatSeries", "build_rows", "flatten", "origin_features"]

_EPS = 1e-9
MIN_RELATIVE_STEP = 0.02  # "diff" scale floor as a share of the level: flat stretches stay sane
TARGET_CLIP = 100.0  # normalised training targets are clipped to +-this many scale units


@dataclass(frozen=True)
class FeatureSpec:
    """What features to build; stored with the model so prediction builds the same ones."""

    step_seconds: int
    season_length: int
    n_lags: int = 12
    windows: tuple[int, ...] = (12, 48, 288)
    seasonal_multiples: tuple[int, ...] = (1, 2, 7)
    static_numeric: tuple[str, ...] = ()
    static_categorical: tuple[str, ...] = ()
    exog: tuple[str, ...] = ()
    normalize: str = "diff"
    #: per seasonal multiple k, also the change from y[t-k*m] to y[t+h-k*m] and the mean of the
    #: hour around y[t+h-k*m] (False in models saved before these features existed)
    season_context: bool = False
    #: a series at zero all last season is scaled by its own longer past (its mean |step| so
    #: far), not by 1.0 in its units (False in models saved before)
    quiet_scale: bool = False

    @property
    def lookback(self) -> int:
        """Rows of history that influence a prediction (for trimming stored history)."""
        return max(
            self.n_lags,
            max(self.windows, default=1),
            self.season_length,
            self.season_length * max(self.seasonal_multiples, default=1),
        )

    def names(self) -> list[str]:
        out = [f"lag_{k}" for k in range(self.n_lags)]
        for w in self.windows:
            out += [f"roll_mean_{w}", f"roll_max_{w}", f"roll_std_{w}"]
        out += ["hist_len", "log_level", "rel_scale", "h", "tod", "dow"]
        out += [f"season_lag_{k}" for k in self.seasonal_multiples]
        out += ["season_mean"]
        if self.season_context:
            out += [f"season_delta_{k}" for k in self.seasonal_multiples]
            out += [f"season_smooth_{k}" for k in self.seasonal_multiples]
        out += [f"static_{c}" for c in (*self.static_numeric, *self.static_categorical)]
        out += [f"exog_{c}" for c in self.exog]
        return out

    def categorical_names(self) -> list[str]:
        return [f"static_{c}" for c in self.static_categorical]


@dataclass
class FlatSeries:
    """A regular long frame as flat numpy arrays; origin features are built on demand."""

    series: np.ndarray  # series_id per row (object)
    ts_us: np.ndarray  # int64 epoch microseconds
    y: np.ndarray  # float64 with NaN for missing
    start: np.ndarray  # index of the first row of the row's series
    end: np.ndarray  # index of the last row of the row's series
    scale: np.ndarray  # normalising scale at each row
    center: np.ndarray  # normalising centre at each row (0 for "level")
    level: np.ndarray  # mean |y| over the last season at each row (1.0 when ~0)
    n_obs: np.ndarray  # observations so far in the row's series
    stats: np.ndarray  # (n, 3 * len(windows)) raw rolling mean, max, std
    static: np.ndarray  # (n, F_static) static features per row
    exog: np.ndarray  # (n, F_exog) exogenous values aligned with rows


def flatten(
    df: pl.DataFrame,
    spec: FeatureSpec,
    *,
    static: pl.DataFrame | None = None,
    exog: pl.DataFrame | None = None,
    vocab: dict[str, list[str]] | None = None,
) -> FlatSeries:
    """Turn a regular, sorted long frame into arrays and origin features."""
    m = spec.season_length
    frame = df.select(SERIES, TS, Y).with_columns(
        pl.int_range(pl.len()).alias("_i"),
        pl.col(Y).abs().rolling_mean(m, min_samples=1).over(SERIES).alias("_level"),
        pl.col(Y).is_not_null().cum_sum().over(SERIES).alias("_n"),
        pl.col(Y).diff().abs().rolling_mean(m, min_samples=1).over(SERIES).alias("_step"),
        pl.col(Y).forward_fill().over(SERIES).alias("_last"),
        (
            pl.col(Y).diff().abs().fill_null(0.0).cum_sum()
            / pl.col(Y).diff().is_not_null().cum_sum().cast(pl.Float64)
        )
        .over(SERIES)
        .alias("_run_step"),
        (
            pl.col(Y).abs().fill_null(0.0).cum_sum()
            / pl.col(Y).is_not_null().cum_sum().cast(pl.Float64)
        )
        .over(SERIES)
        .alias("_run_level"),
    )
    stats: list[pl.Expr] = []
    for w in spec.windows:
        stats += [
            pl.col(Y).rolling_mean(w, min_samples=1).over(SERIES).alias(f"_mean{w}"),
            pl.col(Y).rolling_max(w, min_samples=1).over(SERIES).alias(f"_max{w}"),
            pl.col(Y).rolling_std(w, min_samples=2).over(SERIES).alias(f"_std{w}"),
        ]
    frame = frame.with_columns(stats)
    n = frame.height
    starts = frame.select(pl.col("_i").min().over(SERIES)).to_series().to_numpy()
    ends = frame.select(pl.col("_i").max().over(SERIES)).to_series().to_numpy()
    y = frame[Y].to_numpy().astype(np.float64, copy=True)
    level = frame["_level"].fill_null(0.0).to_numpy()
    level_scale = np.where(level > _EPS, level, 1.0)
    if spec.normalize == "diff":
        step = frame["_step"].fill_null(0.0).to_numpy()
        floor = np.maximum(level * MIN_RELATIVE_STEP, _EPS)
        quiet = _quiet_scale(frame) if spec.quiet_scale else np.ones(len(y))
        scale = np.where(step > floor, step, np.where(level > _EPS, floor, quiet))
        center = frame["_last"].fill_null(0.0).to_numpy()
    elif spec.normalize == "level":
        scale, center = level_scale, np.zeros(len(y))
    else:
        raise ValueError(f"normalize must be 'diff' or 'level', got {spec.normalize!r}")
    names = [f"_{kind}{w}" for w in spec.windows for kind in ("mean", "max", "std")]
    stats_arr = (
        frame.select([pl.col(c).cast(pl.Float64).fill_null(np.nan) for c in names]).to_numpy()
        if names
        else np.empty((n, 0))
    )
    ts_us = frame[TS].dt.epoch("us").to_numpy()
    series = frame[SERIES].to_numpy()
    return FlatSeries(
        series=series,
        ts_us=ts_us,
        y=y,
        start=starts,
        end=ends,
        scale=scale,
        center=center,
        level=level_scale,
        n_obs=frame["_n"].to_numpy().astype(np.float64),
        stats=stats_arr,
        static=_static_matrix(frame, spec, static, vocab or {}),
        exog=_exog_matrix(frame, spec, exog),
    )


def _quiet_scale(frame: pl.DataFrame) -> np.ndarray:
    """The scale of a row whose last season is all zero: the series' mean |step| so far, else
    ``MIN_RELATIVE_STEP`` of its mean |y| so far, else 1.0 (nothing seen but zeros). Scaled by
    1.0, a disk that has read nothing all day got p99 bands of whole units of its own metric
    (p99 pinball 370 times seasonal naive's on the full one-hour split)."""
    run_step = frame["_run_step"].fill_nan(None).fill_null(0.0).to_numpy()
    run_level = frame["_run_level"].fill_nan(None).fill_null(0.0).to_numpy()
    return np.where(
        run_step > _EPS,
        run_step,
        np.where(run_level > _EPS, run_level * MIN_RELATIVE_STEP, 1.0),
    )


def _static_matrix(
    frame: pl.DataFrame,
    spec: FeatureSpec,
    static: pl.DataFrame | None,
    vocab: dict[str, list[str]],
) -> np.ndarray:
    names = (*spec.static_numeric, *spec.static_categorical)
    if not names:
        return np.empty((frame.height, 0))
    if static is None:
        return np.full((frame.height, len(names)), np.nan)
    joined = frame.select(SERIES).join(static, on=SERIES, how="left", maintain_order="left")
    cols = [joined[c].cast(pl.Float64).fill_null(np.nan).to_numpy() for c in spec.static_numeric]
    for c in spec.static_categorical:
        keys = vocab.get(c, [])
        codes = (
            joined[c]
            .cast(pl.String)
            .replace_strict(
                keys, [float(i) for i in range(len(keys))], default=None, return_dtype=pl.Float64
            )
        )
        cols.append(codes.fill_null(np.nan).to_numpy())
    return np.column_stack(cols)


def _exog_matrix(frame: pl.DataFrame, spec: FeatureSpec, exog: pl.DataFrame | None) -> np.ndarray:
    if not spec.exog:
        return np.empty((frame.height, 0))
    if exog is None:
        return np.full((frame.height, len(spec.exog)), np.nan)
    joined = frame.select(SERIES, TS).join(
        exog.select(SERIES, TS, *spec.exog), on=[SERIES, TS], how="left", maintain_order="left"
    )
    return np.column_stack(
        [joined[c].cast(pl.Float64).fill_null(np.nan).to_numpy() for c in spec.exog]
    )


def origin_features(flat: FlatSeries, spec: FeatureSpec, rows: np.ndarray) -> np.ndarray:
    """Normalised lags, rolling stats, history length and scale features at origin rows."""
    s = flat.scale[rows]
    c = flat.center[rows]
    start = flat.start[rows]
    cols: list[np.ndarray] = []
    for k in range(spec.n_lags):
        src = rows - k
        ok = src >= start
        cols.append((np.where(ok, flat.y[np.clip(src, 0, None)], np.nan) - c) / s)
    stats = flat.stats[rows]
    for j in range(len(spec.windows)):
        cols.append((stats[:, 3 * j] - c) / s)
        cols.append((stats[:, 3 * j + 1] - c) / s)
        cols.append(stats[:, 3 * j + 2] / s)
    cols.append(np.minimum(flat.n_obs[rows], float(spec.lookback)))
    level = flat.level[rows]
    cols.append(np.log10(level + _EPS))
    cols.append(np.log10(s / level + _EPS))
    return np.column_stack(cols)


SMOOTH_HALF = 6  # season_smooth_k: mean of y over +-this many steps around y[t+h-k*m]


def _season_context(
    flat: FlatSeries,
    spec: FeatureSpec,
    origins: np.ndarray,
    horizons: np.ndarray,
    lag_block: np.ndarray,
) -> np.ndarray:
    """Per seasonal multiple: ``(y[t+h-km] - y[t-km]) / s`` (how the series moved over the same
    stretch one period ago) and the normalised mean of the ``2 * SMOOTH_HALF + 1`` steps centred
    on ``t+h-km`` (a seasonal reference less noisy than one point; the window ends at the origin
    at the latest, so it never reads the future)."""
    m = spec.season_length
    s = flat.scale[origins]
    c = flat.center[origins]
    start = flat.start[origins]
    csum = _nan_cumsum(flat.y)
    out: list[np.ndarray] = []
    smooth: list[np.ndarray] = []
    for j, k in enumerate(spec.seasonal_multiples):
        back = origins - k * m
        ok = back >= start
        past = np.where(ok, flat.y[np.clip(back, 0, None)], np.nan)
        out.append(lag_block[:, j] - (past - c) / s)
        mid = origins + horizons - k * m
        lo = np.maximum(mid - SMOOTH_HALF, start)
        hi = np.minimum(mid + SMOOTH_HALF, origins)
        fine = (lo <= hi) & (mid >= start) & (mid <= origins)
        lo_c, hi_c = np.clip(lo, 0, None), np.clip(hi, 0, None)
        total = csum[0][hi_c + 1] - csum[0][lo_c]
        count = csum[1][hi_c + 1] - csum[1][lo_c]
        mean = np.where(fine & (count > 0), total / np.maximum(count, 1), np.nan)
        smooth.append((mean - c) / s)
    return np.column_stack(out + smooth)


def _nan_cumsum(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix sums of the observed values and of their count (index i: rows before i)."""
    seen = ~np.isnan(y)
    total = np.concatenate([[0.0], np.cumsum(np.where(seen, y, 0.0))])
    count = np.concatenate([[0], np.cumsum(seen)])
    return total, count


def build_rows(
    flat: FlatSeries,
    spec: FeatureSpec,
    origins: np.ndarray,
    horizons: np.ndarray,
    *,
    future_exog: np.ndarray | None = None,
) -> np.ndarray:
    """Feature matrix for (origin row, horizon) pairs; the target row is ``origin + h``.

    Target-time values that lie in the past of the origin (seasonal lags) are read from the flat
    arrays; exogenous values at a future target come from ``future_exog`` (one row per pair) when
    the target is beyond the known rows.
    """
    m = spec.season_length
    s = flat.scale[origins]
    c = flat.center[origins]
    start = flat.start[origins]
    cols: list[np.ndarray] = [origin_features(flat, spec, origins)]
    target_us = flat.ts_us[origins] + horizons.astype(np.int64) * spec.step_seconds * 1_000_000
    secs = target_us // 1_000_000
    tod = (secs % 86400) / 3600.0
    dow = ((secs // 86400) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    cols.append(np.column_stack([horizons.astype(np.float64), tod, dow.astype(np.float64)]))
    target = origins + horizons
    season_vals = []
    for k in spec.seasonal_multiples:
        src = target - k * m
        ok = (src >= start) & (src <= origins)
        season_vals.append((np.where(ok, flat.y[np.clip(src, 0, None)], np.nan) - c) / s)
    lag_block = np.column_stack(season_vals)
    present = ~np.isnan(lag_block)
    counts = present.sum(axis=1)
    season_mean = np.where(
        counts > 0, np.where(present, lag_block, 0.0).sum(axis=1) / np.maximum(counts, 1), np.nan
    )
    cols += [lag_block, season_mean[:, None]]
    if spec.season_context:
        cols.append(_season_context(flat, spec, origins, horizons, lag_block))
    cols.append(flat.static[origins])
    if spec.exog:
        inside = target <= flat.end[origins]
        ex = np.full((len(origins), len(spec.exog)), np.nan)
        ex[inside] = flat.exog[target[inside]]
        if future_exog is not None:
            ex[~inside] = future_exog[~inside]
        cols.append(ex)
    return np.column_stack(cols)
