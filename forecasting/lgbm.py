"""The global LightGBM quantile forecaster: one model per quantile across all series.

Direct multi-horizon: each training row is (origin, horizon h) with features from
``forecasting.features``; the target is ``y[t+h]`` divided by the series level at the origin.
LightGBM quantile models (the median's, the outermost inner quantiles' and a tail quantile's such
as p99, see ``trained_quantiles``) are trained on the older part of the window; the most recent
``calibration_steps`` of each series are held out and used for a conformal calibration per
quantile and horizon (``forecasting.conformal``), so the stated coverage holds on recent data;
quantiles without a booster come from the calibrated spread of the nearest trained one.
Quantiles are sorted per row so they never cross.

A model can leave the first steps to another (``first_step`` > 1, a look-ahead model): it is
trained, calibrated and predicts for horizons ``first_step..horizon`` only, so its training rows
are not spent on the near term.
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

__all__ = [
    "LightGBMConfig",
    "LightGBMForecaster",
    "NotFittedError",
    "source_quantile",
    "trained_quantiles",
]

FORMAT_VERSION = 1
#: Quantiles in [INNER_LOW, 1 - INNER_LOW] are inner ones (``trained_quantiles``).
INNER_LOW = 0.05
#: A tail quantile's booster is trained no further out than this from 0 or 1 (p99; p99.9 reads
#: from it): beyond it LightGBM's quantile gradients are almost all of one sign.
TAIL_LIMIT = 0.01
#: Boosting rounds a training thread runs on one booster before picking the next.
SLICE_ROUNDS = 10


class NotFittedError(RuntimeError):
    """predict/update/save was called before fit."""


@dataclass(frozen=True)
class LightGBMConfig:
    """Constructor settings, saved with the model."""

    freq: str = "5m"
    quantiles: tuple[float, ...] = (0.5, 0.9, 0.99)
    season_length: int = 288
    horizon: int = 12
    #: the first horizon step trained, calibrated and predicted (> 1: a look-ahead model)
    first_step: int = 1
    n_lags: int = 12
    windows: tuple[int, ...] = (12, 48, 288)
    seasonal_multiples: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    #: recent steps per series held out for calibration (None: one season. Two on long histories
    #: gave p99 more pairs per step when it was scaled from p90's spread; with a booster of its
    #: own it does not need them, and the model trains on more recent data)
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
    season_context: bool = True


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
        if not 1 <= self.config.first_step <= self.config.horizon:
            raise ValueError("first_step must be between 1 and horizon")
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
            season_context=c.season_context,
            quiet_scale=True,
        )

    def fit(
        self, df: pl.DataFrame, static: pl.DataFrame | None = None, exog: pl.DataFrame | None = None
    ) -> Self:
        """Train on every series in ``df`` (resampled to ``freq`` first if irregular)."""
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
        h_all, h_first = c.horizon, c.first_step
        # training pairs: targets strictly before each series' calibration zone
        draw = min(c.max_train_rows * 2, n * (h_all - h_first + 1))
        o = rng.integers(0, n, size=draw)
        h = rng.integers(h_first, h_all + 1, size=draw)
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
        boosters = self._train(params_base, X, target, spec, flat.start[o])
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

    def _train(
        self,
        params: dict[str, Any],
        X: np.ndarray,
        target: np.ndarray,
        spec: FeatureSpec,
        row_series: np.ndarray,
    ) -> list[Any]:
        """One booster per trained quantile on rows ``X`` -> ``target``, in this process.
        ``forecasting.lgbm_dask`` trains them on a Dask cluster instead and partitions the rows
        by ``row_series`` (each row's series, as the flat index of its first row)."""
        import lightgbm as lgb

        c = self.config
        data = lgb.Dataset(
            X,
            label=target,
            feature_name=spec.names(),
            categorical_feature=spec.categorical_names() or "auto",
            free_raw_data=False,
            params={"max_bin": 63, "verbose": -1},
        )
        data.construct()
        trained = trained_quantiles(c.quantiles)
        return _train_parallel(lgb, params, data, trained, c.n_estimators, c.n_jobs)

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
        steps = np.arange(c.first_step, c.horizon + 1)
        o, h = _calibration_pairs(flat, cal_start, steps, max(c.max_train_rows // 2, 20_000), rng)
        if len(o) < 20 * len(steps):  # too little recent data: no calibration (identity)
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
        pick = [trained.index(source_quantile(q, trained)) for q in c.quantiles]
        return np.column_stack([preds[k] for k in pick])

    def _predict_rows(
        self, flat: FlatSeries, rows: np.ndarray, horizon: int, future_exog: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        st = self._state()
        first = self.config.first_step
        if not first <= horizon <= self.config.horizon:
            raise ValueError(
                f"horizon {horizon} is outside {first}..{self.config.horizon} this model was "
                "trained for"
            )
        steps = np.arange(first, horizon + 1)
        o = np.repeat(rows, len(steps))
        h = np.tile(steps, len(rows))
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
        """Quantile forecasts for the next ``horizon`` steps after each series' last point (from
        step ``first_step``: a look-ahead model leaves the first steps out)."""
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
        steps = np.arange(self.config.first_step, horizon + 1)
        o = np.repeat(rows, len(steps))
        h = np.tile(steps, len(rows))
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
    """Quantiles that get their own booster: of those in [0.05, 0.95], the one nearest the
    median and the outermost on each side; and on each side with a tail quantile (beyond 0.95
    or 0.05) the outermost of them, trained no closer than ``TAIL_LIMIT`` to 0 or 1 (a p99.9
    is trained at p99 and calibrated from there).

    Quantiles between trained ones (GIFT-Eval's 0.1..0.9) reuse the trained quantile on their
    side of the median: its distance from the median, scaled by a conformal factor fitted on
    recent data (``forecasting.conformal``); one booster each would multiply the training time.
    A tail quantile (p99) gets its own booster: read from p90's spread its calibrated factor is
    set by the few heaviest-tailed series (p99 ~ 12 times p90's distance on Bitbrains + NAB), so
    quiet series got bands far too wide; a booster at the tail learns which origins are quiet.
    """
    inner = tuple(q for q in quantiles if INNER_LOW <= q <= 1.0 - INNER_LOW)
    if not inner:
        return (min(quantiles, key=lambda q: abs(q - 0.5)),)
    mid = min(inner, key=lambda q: abs(q - 0.5))
    out = {min(inner), mid, max(inner)}
    upper = [q for q in quantiles if q > 1.0 - INNER_LOW]
    lower = [q for q in quantiles if q < INNER_LOW]
    if upper:
        out.add(min(max(upper), 1.0 - TAIL_LIMIT))
    if lower:
        out.add(max(min(lower), TAIL_LIMIT))
    return tuple(sorted(out))


def source_quantile(q: float, trained: tuple[float, ...]) -> float:
    """The trained quantile whose booster ``q`` is read from: itself if trained, else the nearest
    on the same side of the median (the nearest overall when that side has none)."""
    if q in trained:
        return q
    side = [t for t in trained if (t > 0.5) == (q > 0.5) and t != 0.5]
    return min(side or list(trained), key=lambda t: abs(t - q))


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
    The ``jobs`` threads train in slices of ``SLICE_ROUNDS`` rounds, each slice on the free
    booster with the most rounds left, so three boosters on two threads take 1.5 boosters' time,
    not two. Each booster gets the same rounds in the same order as ``lgb.train`` would give it,
    so the trees are the same.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    boosters: list[Any] = [None] * len(quantiles)
    left = [rounds] * len(quantiles)
    busy = [False] * len(quantiles)
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                free = [j for j, b in enumerate(busy) if not b and left[j] > 0]
                if not free:
                    return
                j = max(free, key=lambda k: left[k])
                n = min(SLICE_ROUNDS, left[j])
                left[j] -= n
                busy[j] = True
            try:
                if boosters[j] is None:  # created on a training thread: it sets that thread's
                    # LightGBM log level (per thread) from the params, as lgb.train does
                    boosters[j] = lgb.Booster(
                        params={**params, "alpha": quantiles[j]}, train_set=data
                    )
                for _ in range(n):
                    boosters[j].update()
            finally:
                with lock:
                    busy[j] = False

    threads = max(1, min(jobs, len(quantiles)))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(work) for _ in range(threads)]:
            future.result()
    for booster in boosters:  # as lgb.train leaves it: trees only, no training data
        booster.model_from_string(booster.model_to_string()).free_dataset()
    return boosters


def _calibration_pairs(
    flat: FlatSeries,
    cal_start: np.ndarray,
    steps: np.ndarray,
    limit: int,
    rng: np.random.Generator,
    chunk_pairs: int = 1 << 20,
) -> tuple[np.ndarray, np.ndarray]:
    """(origin, step) pairs with an observed target, origins in the calibration zone: all of
    them, or ``limit`` drawn uniformly without replacement.

    The (origin x step) grid is walked in chunks twice (count, then pick) instead of being
    materialised: a day-long look-ahead over a thousand series is ~10^8 pairs. The pairs are
    those the whole grid filtered then ``rng.choice(n, limit)`` would give, in grid order
    (calibration is order-free)."""
    idx = np.arange(len(flat.y))
    cand = idx[idx >= cal_start - 1]
    width = len(steps)
    per = max(1, chunk_pairs // max(1, width))

    def usable(lo: int) -> tuple[np.ndarray, np.ndarray]:
        o = cand[lo : lo + per]
        t = o[:, None] + steps[None, :]
        ok = (t <= flat.end[o][:, None]) & (o >= cal_start[o] - 1)[:, None]
        ok &= ~np.isnan(flat.y[np.minimum(t, len(flat.y) - 1)])
        return o, ok

    starts = range(0, len(cand), per)
    counts = [int(usable(lo)[1].sum()) for lo in starts]
    total = sum(counts)
    keep = np.sort(rng.choice(total, size=limit, replace=False)) if total > limit else None
    os_: list[np.ndarray] = []
    hs: list[np.ndarray] = []
    seen = 0
    for lo, n in zip(starts, counts, strict=True):
        if n == 0:
            continue
        o, ok = usable(lo)
        rows, cols = np.nonzero(ok)  # row-major: the grid's order
        if keep is not None:
            pick = keep[(keep >= seen) & (keep < seen + n)] - seen
            rows, cols = rows[pick], cols[pick]
        os_.append(o[rows])
        hs.append(steps[cols])
        seen += n
    if not os_:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(os_), np.concatenate(hs)


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
