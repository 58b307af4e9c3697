"""GIFT-Eval's protocol on the Bitbrains Rnd traces, beside GIFT-Eval's published results.

GIFT-Eval (SalesforceAIResearch/gift-eval, ``src/gift_eval/data.py``) scores each series on its
last ``windows x h`` points, ``windows = ceil(0.1 x shortest series / h)`` capped at 20, in
non-overlapping windows of ``h`` steps, each forecast from all the history before it; at 5
minutes ``h`` is 48 (short), 480 (medium) and 720 (long). Scores (gluonts, ``axis=None``):
``MASE[0.5]`` (mean over points of |error| / the window history's seasonal error, m = 288) and
``mean_weighted_sum_quantile_loss`` over quantiles 0.1..0.9, each divided by seasonal naive's.

Data: CPU usage [MHz] and memory usage [KB] per VM from ``bitbrains_rnd/<month>/`` under the data
root: the same source as GIFT-Eval's ``bitbrains_rnd/5T`` (GWA-T-12 Bitbrains Rnd, two variates
per VM) but not the identical file: GIFT-Eval's has its own VM set, months and units, and keeps
gaps as NaN; here series are resampled to 5 minutes and gaps interpolated for every model alike,
filled points never scored. Because the quantile loss is summed over series in raw units,
memory (KB) outweighs CPU (MHz) in the pooled figure: CPU and memory are also printed apart.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from forecasting.backtest import split_last
from forecasting.base import ORIGIN
from forecasting.baseline import SeasonalNaive, seasonal_naive_normal
from forecasting.datasets import load_bitbrains
from forecasting.frames import SERIES, TS, Y, quantile_column
from forecasting.lgbm import LightGBMForecaster
from forecasting.metrics import mase_pointwise, mean_weighted_quantile_loss
from forecasting.resample import resample

__all__ = [
    "GIFT_QUANTILES",
    "PUBLISHED_SHORT",
    "TERMS",
    "GiftResult",
    "gift_windows",
    "load_gift",
    "run_term",
    "timing_frame",
    "window_origins",
]

TEST_SPLIT = 0.1
MAX_WINDOW = 20
SEASON = 288
TERMS: dict[str, int] = {"short": 48, "medium": 480, "long": 720}
GIFT_QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
METRICS = ("cpu_usage", "memory_usage")
MIN_DAYS = 14
#: GIFT-Eval leaderboard, bitbrains_rnd/5T/short: (model, MASE, WQL) as ratios to seasonal naive
#: (results/<model>/all_results.csv divided by results/seasonal_naive's 1.9708 and 1.1016).
PUBLISHED_SHORT: tuple[tuple[str, float, float], ...] = (
    ("Toto-2.0 (2.5B)", 0.796, 0.345),
    ("Chronos-2", 0.821, 0.377),
    ("TimesFM-2.5", 0.841, 0.370),
    ("PatchTST", 1.005, 0.430),
    ("AutoARIMA", 1.000, 0.999),
)
SNAIVE_NOTE = (
    "seasonal naive's quantiles are GIFT-Eval's: statsforecast SeasonalNaive with its normal "
    "intervals (point y[t+h-288] +- z_q * sigma, sigma the RMS of the history's seasonal "
    "differences; results/seasonal_naive links notebooks/naive.ipynb, which asks for levels "
    "20..80); its published WQL 1.10 exceeds its ND 0.86, which a point forecast used for all "
    "quantiles cannot do (its WQL would equal its ND)"
)


def gift_windows(min_length: int, horizon: int) -> int:
    """GIFT-Eval's number of test windows: ceil(0.1 x shortest length / h), 1..20."""
    return min(max(1, math.ceil(TEST_SPLIT * min_length / horizon)), MAX_WINDOW)


def window_origins(lengths: np.ndarray, horizon: int, windows: int) -> np.ndarray:
    """Row offsets (within each series) of the last point before each window:
    ``(len(lengths), windows)``; window ``w`` covers ``len - (windows - w) * h`` onwards."""
    back = (windows - np.arange(windows)) * horizon
    return np.asarray(lengths)[:, None] - back[None, :] - 1


def load_gift(root: Path, *, max_vms: int | None = None) -> pl.DataFrame:
    """CPU and memory per VM at 5 minutes: ``series_id, ts, y, observed, metric``, gaps filled.

    Series spanning less than ``MIN_DAYS`` are left out: the shortest series sets every series'
    number of windows, and one VM of a day would cut the month's 18 short windows to one."""
    loaded = load_bitbrains(root, max_vms=max_vms)
    wanted = loaded.frame.filter(pl.col(SERIES).str.split("/").list.last().is_in(METRICS))
    res = resample(wanted, "5m")
    return (
        res.frame.filter(pl.len().over(SERIES) >= MIN_DAYS * SEASON)
        .with_columns(pl.col(Y).is_not_null().alias("observed"))
        .with_columns(pl.col(Y).interpolate().forward_fill().backward_fill().over(SERIES))
        .with_columns(pl.col(SERIES).str.split("/").list.last().alias("metric"))
        .sort(SERIES, TS)
    )


@dataclass
class GiftResult:
    """One model's scores on one term."""

    model: str
    mase: float
    wql: float
    wql_by_metric: dict[str, float]
    per_series_mase: pl.DataFrame
    coverage: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def _windows_frame(frame: pl.DataFrame, horizon: int) -> tuple[pl.DataFrame, int]:
    """Origins (``series_id, ts``) of every test window, and the number of windows."""
    sizes = frame.group_by(SERIES, maintain_order=True).len()
    windows = gift_windows(int(sizes["len"].to_numpy().min()), horizon)
    rows = window_origins(sizes["len"].to_numpy(), horizon, windows)
    offsets = pl.DataFrame(
        {SERIES: np.repeat(sizes[SERIES].to_numpy(), windows), "_k": rows.ravel()}
    )
    indexed = frame.select(SERIES, TS).with_columns(pl.int_range(pl.len()).over(SERIES).alias("_k"))
    origins = offsets.join(indexed, on=[SERIES, "_k"], how="left", maintain_order="left")
    return origins.select(SERIES, TS), windows


def _truth(frame: pl.DataFrame) -> pl.DataFrame:
    """Actuals (null where not observed) and, at each row, the seasonal error of the history up
    to and including it (gluonts ``seasonal_error`` on the masked history)."""
    obs = pl.when(pl.col("observed")).then(pl.col(Y))
    diff = (obs - obs.shift(SEASON)).abs().over(SERIES)
    return frame.with_columns(diff.alias("_d")).select(
        SERIES,
        TS,
        "metric",
        obs.alias("actual"),
        (
            pl.col("_d").fill_null(0.0).cum_sum().over(SERIES)
            / pl.col("_d").is_not_null().cum_sum().over(SERIES)
        ).alias("scale"),
    )


def score_gift(name: str, fc: pl.DataFrame, truth: pl.DataFrame, seconds: float) -> GiftResult:
    """Score a forecast frame (``series_id, origin, ts`` + p10..p90) the GIFT-Eval way."""
    cols = [quantile_column(q) for q in GIFT_QUANTILES]
    scales = truth.select(SERIES, pl.col(TS).alias(ORIGIN), "scale")
    joined = (
        fc.join(truth.select(SERIES, TS, "metric", "actual"), on=[SERIES, TS], how="inner")
        .join(scales, on=[SERIES, ORIGIN], how="left")
        .filter(pl.col("actual").is_not_null() & (pl.col("scale") > 0))
    )
    y = joined["actual"].to_numpy()
    preds = joined.select(cols).to_numpy()
    by_metric = {
        m: mean_weighted_quantile_loss(y[mask], preds[mask], GIFT_QUANTILES)
        for m in METRICS
        if (mask := (joined["metric"] == m).to_numpy()).any()
    }
    per_series = joined.group_by(SERIES).agg(
        ((pl.col("actual") - pl.col("p50")).abs() / pl.col("scale")).mean().alias("mase")
    )
    return GiftResult(
        model=name,
        mase=mase_pointwise(y, joined["p50"].to_numpy(), joined["scale"].to_numpy()),
        wql=mean_weighted_quantile_loss(y, preds, GIFT_QUANTILES),
        wql_by_metric=by_metric,
        per_series_mase=per_series.sort(SERIES),
        coverage={c: float((y <= joined[c].to_numpy()).mean()) for c in ("p10", "p50", "p90")},
        seconds=seconds,
    )


def _snaive_normal(frame: pl.DataFrame, origins: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """GIFT-Eval's seasonal naive (``forecasting.baseline.seasonal_naive_normal``) per window."""
    indexed = frame.select(SERIES, TS, Y).with_columns(
        pl.int_range(pl.len()).over(SERIES).alias("_k")
    )
    at = origins.join(indexed.select(SERIES, TS, "_k"), on=[SERIES, TS], how="left")
    parts: list[pl.DataFrame] = []
    step_us = 300 * 1_000_000
    for (sid,), group in at.group_by(SERIES, maintain_order=True):
        y = indexed.filter(pl.col(SERIES) == sid)[Y].to_numpy()
        rows = group["_k"].to_numpy()
        values = seasonal_naive_normal(y, rows, horizon, SEASON, GIFT_QUANTILES)
        origin_us = np.repeat(group[TS].dt.epoch("us").to_numpy(), horizon)
        steps = np.tile(np.arange(1, horizon + 1), len(rows))
        data: dict[str, Any] = {
            SERIES: [sid] * len(steps),
            ORIGIN: pl.Series(origin_us).cast(pl.Datetime("us", "UTC")),
            TS: pl.Series(origin_us + steps * step_us).cast(pl.Datetime("us", "UTC")),
        }
        flat = values.reshape(-1, len(GIFT_QUANTILES))
        for j, q in enumerate(GIFT_QUANTILES):
            data[quantile_column(q)] = flat[:, j]
        parts.append(pl.DataFrame(data))
    return pl.concat(parts)


def _point_for_all(fc: pl.DataFrame) -> pl.DataFrame:
    return fc.with_columns([pl.col("p50").alias(quantile_column(q)) for q in GIFT_QUANTILES])


def gift_model(horizon: int, **settings: Any) -> LightGBMForecaster:
    """The production forecaster, configured for GIFT-Eval's quantiles and horizon."""
    extra: dict[str, Any] = {}
    if horizon > SEASON:  # a seasonal lag at least as long as the horizon; calibrate that far
        extra = {"seasonal_multiples": (3, 7), "calibration_steps": 3 * SEASON}
    return LightGBMForecaster(
        quantiles=GIFT_QUANTILES, horizon=horizon, season_length=SEASON, **extra, **settings
    )


def run_term(frame: pl.DataFrame, horizon: int, settings: dict[str, Any]) -> dict[str, Any]:
    """Every model on one term: ours, GIFT-Eval's seasonal naive, and two more baselines."""
    origins, windows = _windows_frame(frame, horizon)
    train, _ = split_last(frame, windows * horizon)
    truth = _truth(frame)
    long = frame.select(SERIES, TS, Y)
    results: list[GiftResult] = []
    t0 = time.perf_counter()
    model = gift_model(horizon, **settings).fit(train.select(SERIES, TS, Y))
    fc = model.predict_origins(long, origins, horizon)
    results.append(score_gift("ours (LightGBM q)", fc, truth, time.perf_counter() - t0))
    t0 = time.perf_counter()
    sn = _snaive_normal(frame, origins, horizon)
    results.append(score_gift("seasonal naive (GIFT)", sn, truth, time.perf_counter() - t0))
    results.append(score_gift("seasonal naive, point as all q", _point_for_all(sn), truth, 0.0))
    t0 = time.perf_counter()
    emp = SeasonalNaive(season_length=SEASON, quantiles=GIFT_QUANTILES).fit(
        train.select(SERIES, TS, Y)
    )
    efc = emp.predict_origins(long, origins, horizon)
    results.append(score_gift("seasonal naive, residual q", efc, truth, time.perf_counter() - t0))
    return {"horizon": horizon, "windows": windows, "results": results}


def timing_frame(base: pl.DataFrame, n_series: int, days: int) -> pl.DataFrame:
    """``n_series`` series of ``days`` days: consecutive ``days``-long chunks of ``base``'s
    series, each chunk a series of its own, until there are enough."""
    steps = days * SEASON
    ranked = base.select(SERIES, TS, Y).with_columns(
        (pl.int_range(pl.len()).over(SERIES) // steps).alias("_chunk")
    )
    chunks = ranked.with_columns(
        (pl.col(SERIES) + "#w" + pl.col("_chunk").cast(pl.String)).alias(SERIES)
    ).filter(pl.len().over(SERIES) == steps)
    order = chunks.select(SERIES, "_chunk").unique().sort("_chunk", SERIES)
    keep = order[SERIES].head(n_series).to_list()
    return chunks.filter(pl.col(SERIES).is_in(keep)).drop("_chunk")
