"""The global LightGBM quantile forecaster: one model per quantile across all series.

Direct multi-horizon: each training row is (origin, horizon h) with features from
``forecasting.features``; the target is ``y[t+h]`` divided by the series level at the origin.
One LightGBM quantile model per requested quantile in [0.05, 0.95] is trained on the older part
of the window; the most recent ``calibration_steps`` of each series are held out and used for a
conformal calibration per quantile and horizon (``forecasting.conformal``), so the stated coverage
holds on recent data; extreme quantiles come from the calibrated spread of the nearest trained one.
Quantiles are sorted per row so they never cross.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl

from forecasting.base import ensure_regular, forecast_frame, last_origins, origin_rows
from forecasting.conformal import apply_conformal, fit_conformal
from forecasting.features import TARGET_CLIP, FeatureSpec, FlatSeries, build_rows, flatten
from forecasting.frames import (
    SERIES,
    TS,
    FrameError,
    freq_to_timedelta,
    validate_long,
    validate_quantiles,
)
from forecasting.resample import ResampleResult

__all__ = ["LightGBMConfig", "LightGBMForecaster", "NotFittedError", "trained_quantiles"]

FORMAT_VERSION = 1


class NotFittedError(RuntimeError):
    """predict/update/save was called before fit."""


@dataclass(frozen=True)
class LightGBMConfig:
    """Constructor settings, saved with the model."""

    freq: str = "5m"
    quantiles: tuple[float, ...] = (0.5, 0.9, 0.99)
    season_length: int = 288
    horizon: int = 12
    n_lags: int = 12
    windows: tuple[int, ...] = (12, 48, 288)
    seasonal_multiples: tuple[int, ...] = (1, 2, 7)
    calibration_steps: int | None = None
    max_train_rows: int = 150_000
    n_estimators: int = 150
    learning_rate: float = 0.1
    num_leaves: int = 63
    min_data_in_leaf: int = 100
    n_jobs: int = 2
    seed: int = 0
    nonnegative: bool | None = None
    normalize: str = "diff"


@dataclass
class _Fitted:
    spec: FeatureSpec
    boosters: list[Any]
    offsets: np.ndarray  # (n_quantiles, horizon) conformal parameters (forecasting.conformal)
    nonnegative: bool
    vocab: dict[str, list[str]]
    history: pl.DataFrame
    static: pl.DataFrame | None
    info: dict[str, Any] = field(default_factory=dict)


class LightGBMForecaster:
    """Global LightGBM quantile forecaster over long frames (``series_id, ts, y``)."""

    def __init__(
        self,
        freq: str = "5m",
        quantiles: tuple[float, ...] = (0.5, 0.9, 0.99),
        season_length: int = 288,
        **settings: Any,
    ) -> None:
        self.config = LightGBMConfig(
            freq=freq,
            quantiles=validate_quantiles(quantiles),
            season_length=season_length,
            **settings,
        )
        if season_length < 1 or self.config.horizon < 1:
            raise ValueError("season_length and horizon must be >= 1")
        if self.config.horizon > season_length * min(self.config.seasonal_multiples, default=1):
            raise ValueError("horizon must not exceed the shortest seasonal lag")
        freq_to_timedelta(freq)
        self._fitted: _Fitted | None = None
        self.resample_report: ResampleResult | None = None

    @property
    def freq(self) -> str:
        return self.config.freq

    @property
    def quantiles(self) -> tuple[float, ...]:
        return self.config.quantiles

    @property
    def info(self) -> dict[str, Any]:
        """Training window, row counts, calibration and timing facts (for the model store)."""
        return dict(self._state().info)

    @property
    def feature_names(self) -> list[str]:
        return self._state().spec.names()

    def _state(self) -> _Fitted:
        if self._fitted is None:
            raise NotFittedError("LightGBMForecaster is not fitted: call fit() first")
        return self._fitted

    def _spec(self, static: pl.DataFrame | None, exog: pl.DataFrame | None) -> FeatureSpec:
        c = self.config
        num: list[str] = []
        cat: list[str] = []
        if static is not None:
            if SERIES not in static.columns:
                raise FrameError("static: needs a 'series_id' column")
            if static[SERIES].is_duplicated().any():
                raise FrameError("static: series_id must be unique")
            for name, dtype in static.schema.items():
                if name == SERIES:
                    continue
                (num if dtype.is_numeric() or dtype == pl.Boolean else cat).append(name)
        ex: list[str] = []
        if exog is not None:
            missing = [k for k in (SERIES, TS) if k not in exog.columns]
            if missing:
                raise FrameError(f"exog: missing column(s) {missing}")
            ex = [k for k in exog.columns if k not in (SERIES, TS)]
        return FeatureSpec(
            step_seconds=int(freq_to_timedelta(c.freq).total_seconds()),
            season_length=c.season_length,
            n_lags=c.n_lags,
            windows=c.windows,
            seasonal_multiples=c.seasonal_multiples,
            static_numeric=tuple(num),
            static_categorical=tuple(cat),
            exog=tuple(ex),
            normalize=c.normalize,
        )

    def fit(
        self, df: pl.DataFrame, static: pl.DataFrame | None = None, exog: pl.DataFrame | None = None
    ) -> Self:
        """Train on every series in ``df`` (resampled to ``freq`` first if irregular)."""
        import lightgbm as lgb

        c = self.config
        regular, self.resample_report = ensure_regular(df, c.freq, name="fit frame")
        if regular.height == 0:
            raise FrameError("fit frame: no observations")
        spec = self._spec(static, exog)
        vocab = (
            {
                col: sorted(static[col].cast(pl.String).drop_nulls().unique().to_list())
                for col in spec.static_categorical
            }
            if static is not None
            else {}
        )
        flat = flatten(regular, spec, static=static, exog=exog, vocab=vocab)
        rng = np.random.default_rng(c.seed)
        cal_steps = c.calibration_steps if c.calibration_steps is not None else c.season_length
        cal_start = np.maximum(flat.end - cal_steps + 1, flat.start + 1)
        n = len(flat.y)
        h_all = c.horizon
        # training pairs: targets strictly before each series' calibration zone
        draw = min(c.max_train_rows * 2, n * h_all)
        o = rng.integers(0, n, size=draw)
        h = rng.integers(1, h_all + 1, size=draw)
        t = o + h
        ok = (t < cal_start[o]) & (t <= flat.end[o])
        ok[ok] &= ~np.isnan(flat.y[t[ok]])
        o, h = o[ok][: c.max_train_rows], h[ok][: c.max_train_rows]
        if len(o) < 50:
            raise FrameError(
                f"fit frame: only {len(o)} usable training pairs; need more history than "
                f"the {cal_steps}-step calibration window"
            )
        X = build_rows(flat, spec, o, h)
        target = np.clip(
            (flat.y[o + h] - flat.center[o]) / flat.scale[o], -TARGET_CLIP, TARGET_CLIP
        )
        nonneg = c.nonnegative if c.nonnegative is not None else bool(np.nanmin(flat.y) >= 0)
        params_base = {
            "objective": "quantile",
            "learning_rate": c.learning_rate,
            "num_leaves": c.num_leaves,
            "min_data_in_leaf": c.min_data_in_leaf,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "num_threads": 1,
            "seed": c.seed,
            "verbose": -1,
            "max_bin": 63,
        }
        names = spec.names()
        data = lgb.Dataset(
            X,
            label=target,
            feature_name=names,
            categorical_feature=spec.categorical_names() or "auto",
            free_raw_data=False,
            params={"max_bin": 63, "verbose": -1},
        )
        data.construct()
        trained = trained_quantiles(c.quantiles)
        boosters = _train_parallel(lgb, params_base, data, trained, c.n_estimators, c.n_jobs)
        offsets, n_cal = self._calibrate(flat, spec, boosters, cal_start, rng)
        ts = regular[TS]
        self._fitted = _Fitted(
            spec=spec,
            boosters=boosters,
            offsets=offsets,
            nonnegative=nonneg,
            vocab=vocab,
            history=_trim(regular, spec.lookback + 1),
            static=static,
            info={
                "train_start": str(ts.min()),
                "train_end": str(ts.max()),
                "n_series": int(regular[SERIES].n_unique()),
                "n_train_rows": len(o),
                "n_calibration_pairs": n_cal,
                "calibration_steps": cal_steps,
                "features": names,
            },
        )
        return self

    def _calibrate(
        self,
        flat: FlatSeries,
        spec: FeatureSpec,
        boosters: list[Any],
        cal_start: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, int]:
        """Per quantile and horizon, the shift that makes recent empirical coverage match q."""
        c = self.config
        idx = np.arange(len(flat.y))
        cand = idx[idx >= cal_start - 1]
        o = np.repeat(cand, c.horizon)
        h = np.tile(np.arange(1, c.horizon + 1), len(cand))
        t = o + h
        ok = (t <= flat.end[o]) & (o >= cal_start[o] - 1)
        ok[ok] &= ~np.isnan(flat.y[t[ok]])
        o, h = o[ok], h[ok]
        limit = max(c.max_train_rows // 2, 20_000)
        if len(o) > limit:
            keep = rng.choice(len(o), size=limit, replace=False)
            o, h = o[keep], h[keep]
        if len(o) < 20 * c.horizon:  # too little recent data: no calibration (identity)
            empty = np.zeros((0, len(c.quantiles)))
            return fit_conformal(c.quantiles, empty, empty[:, 0], empty[:, 0], c.horizon), len(o)
        X = build_rows(flat, spec, o, h)
        actual = (flat.y[o + h] - flat.center[o]) / flat.scale[o]
        raw = self._raw(boosters, X)
        return fit_conformal(c.quantiles, raw, actual, h, c.horizon), len(o)

    def _raw(self, boosters: list[Any], X: np.ndarray) -> np.ndarray:
        """Uncalibrated predictions, one column per requested quantile."""
        c = self.config
        trained = trained_quantiles(c.quantiles)
        preds = [b.predict(X, num_threads=c.n_jobs) for b in boosters]
        pick = [int(np.argmin([abs(t - q) for t in trained])) for q in c.quantiles]
        return np.column_stack([preds[k] for k in pick])

    def _predict_rows(
        self, flat: FlatSeries, rows: np.ndarray, horizon: int, future_exog: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        st = self._state()
        if not 1 <= horizon <= self.config.horizon:
            raise ValueError(
                f"horizon {horizon} is outside 1..{self.config.horizon} this model was trained for"
            )
        o = np.repeat(rows, horizon)
        h = np.tile(np.arange(1, horizon + 1), len(rows))
        X = build_rows(flat, st.spec, o, h, future_exog=future_exog)
        scale, center = flat.scale[o], flat.center[o]
        raw = self._raw(st.boosters, X)
        calibrated = apply_conformal(self.config.quantiles, raw, h, st.offsets)
        out = center[:, None] + calibrated * scale[:, None]
        if st.nonnegative:
            np.maximum(out, 0.0, out=out)
        return o, h, out

    def predict(
        self, horizon: int, *, history: pl.DataFrame | None = None, exog: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        """Quantile forecasts for the next ``horizon`` steps after each series' last point."""
        st = self._state()
        hist = st.history if history is None else ensure_regular(history, self.freq)[0]
        hist = _trim(hist, st.spec.lookback + 1)
        flat = flatten(hist, st.spec, static=st.static, exog=exog, vocab=st.vocab)
        rows = origin_rows(hist, last_origins(hist))
        future = self._future_exog(flat, rows, horizon, exog)
        o, h, values = self._predict_rows(flat, rows, horizon, future)
        step_us = st.spec.step_seconds * 1_000_000
        return forecast_frame(
            flat.series[o], flat.ts_us[o], h, step_us, values, self.quantiles, with_origin=False
        )

    def predict_origins(
        self, df: pl.DataFrame, origins: pl.DataFrame, horizon: int
    ) -> pl.DataFrame:
        """Forecasts from many origins at once; features use only data at or before each origin."""
        st = self._state()
        regular = ensure_regular(df, self.freq)[0]
        flat = flatten(regular, st.spec, static=st.static, vocab=st.vocab)
        rows = origin_rows(regular, origins)
        o, h, values = self._predict_rows(flat, rows, horizon, None)
        step_us = st.spec.step_seconds * 1_000_000
        return forecast_frame(
            flat.series[o], flat.ts_us[o], h, step_us, values, self.quantiles, with_origin=True
        )

    def _future_exog(
        self, flat: FlatSeries, rows: np.ndarray, horizon: int, exog: pl.DataFrame | None
    ) -> np.ndarray | None:
        spec = self._state().spec
        if not spec.exog or exog is None:
            return None
        step_us = spec.step_seconds * 1_000_000
        o = np.repeat(rows, horizon)
        h = np.tile(np.arange(1, horizon + 1), len(rows))
        keys = pl.DataFrame(
            {
                SERIES: pl.Series(flat.series[o], dtype=pl.String),
                TS: pl.Series(flat.ts_us[o] + h * step_us).cast(pl.Datetime("us", "UTC")),
            }
        )
        ex = validate_exog(exog)
        joined = keys.join(ex, on=[SERIES, TS], how="left", maintain_order="left")
        return np.column_stack(
            [joined[k].cast(pl.Float64).fill_null(np.nan).to_numpy() for k in spec.exog]
        )

    def update(self, df: pl.DataFrame) -> Self:
        """Append new observations (newer rows win on the same ts) for the next predict."""
        st = self._state()
        new = validate_long(df, name="update frame")
        merged = (
            pl.concat([st.history, new.select(st.history.columns)])
            .unique(subset=[SERIES, TS], keep="last", maintain_order=True)
            .sort(SERIES, TS)
        )
        regular, _ = ensure_regular(merged, self.freq, name="update frame")
        st.history = _trim(regular, st.spec.lookback + 1)
        return self

    def save(self, path: str | Path) -> None:
        """Write the model to a directory: config, metadata, one text file per booster, history."""
        from forecasting.persist import save_lightgbm

        save_lightgbm(self, self._state(), Path(path))

    @classmethod
    def load(cls, path: str | Path) -> LightGBMForecaster:
        from forecasting.persist import load_lightgbm

        return load_lightgbm(cls, Path(path))

    def to_config_json(self) -> str:
        return json.dumps(asdict(self.config))


def trained_quantiles(quantiles: tuple[float, ...]) -> tuple[float, ...]:
    """Quantiles that get their own booster: those in [0.05, 0.95].

    Extreme quantiles (p99) converge slowly and noisily under LightGBM's quantile loss (almost
    every gradient is the same sign), so they reuse the nearest trained quantile's distance from
    the median, scaled by a conformal factor fitted on recent data (``forecasting.conformal``).
    """
    inner = tuple(q for q in quantiles if 0.05 <= q <= 0.95)
    return inner or (min(quantiles, key=lambda q: abs(q - 0.5)),)


def _train_parallel(
    lgb: Any,
    params: dict[str, Any],
    data: Any,
    quantiles: tuple[float, ...],
    rounds: int,
    jobs: int,
) -> list[Any]:
    """One single-threaded booster per quantile, trained side by side (LightGBM frees the GIL).

    On a shared machine this is faster and steadier than OpenMP threads inside one booster.
    """
    from concurrent.futures import ThreadPoolExecutor

    def train(q: float) -> Any:
        return lgb.train({**params, "alpha": q}, data, num_boost_round=rounds)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(train, quantiles))


def validate_exog(exog: pl.DataFrame) -> pl.DataFrame:
    return exog.with_columns(
        pl.col(SERIES).cast(pl.String),
        pl.col(TS).dt.cast_time_unit("us").dt.convert_time_zone("UTC"),
    )


def _trim(df: pl.DataFrame, keep: int) -> pl.DataFrame:
    """The last ``keep`` rows of each series."""
    return df.filter(pl.int_range(pl.len()).reverse().over(SERIES) < keep)


def _set_fitted(model: LightGBMForecaster, fitted: _Fitted) -> None:
    model._fitted = fitted
