"""Forecast accuracy: MASE, scaled pinball loss and interval coverage, per series and overall.

Scaled metrics divide by the in-sample mean absolute seasonal difference of the series (the
seasonal naive's in-sample error), so 1.0 means "as good as seasonal naive did in training" and
series of any magnitude can be averaged. Series whose scale is zero or undefined (constant or too
short) cannot be scaled: they are listed with that reason and left out of the averages.

Aggregates are given three ways because per-series MASE on bursty infrastructure series is
heavy-tailed (a series that was nearly flat in training makes its MASE explode whatever the
model): the arithmetic mean (``mase``), the median (``mase_median``) and the geometric mean
(``mase_gmean``, the robust summary used for headline ratios; values floored at 1e-6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from forecasting.frames import SERIES, Y, quantile_column

__all__ = [
    "Evaluation",
    "coverage",
    "evaluate",
    "mase",
    "mase_pointwise",
    "mean_weighted_quantile_loss",
    "pinball",
    "scaled_pinball",
    "seasonal_scale",
    "seasonal_scales",
]


def seasonal_scale(insample: np.ndarray, season_length: int) -> float:
    """Mean |y[t] - y[t-m]| over the in-sample values (NaN pairs skipped; NaN if none)."""
    y = np.asarray(insample, dtype=np.float64)
    if len(y) <= season_length:
        return float("nan")
    d = np.abs(y[season_length:] - y[:-season_length])
    d = d[~np.isnan(d)]
    return float(d.mean()) if len(d) else float("nan")


def mase(actual: np.ndarray, predicted: np.ndarray, scale: float) -> float:
    """Mean absolute error divided by ``scale`` (see ``seasonal_scale``)."""
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(predicted))) / scale)


def mase_pointwise(actual: np.ndarray, predicted: np.ndarray, scale: np.ndarray) -> float:
    """GIFT-Eval's MASE (gluonts ``MASE[0.5]``, ``axis=None``): the mean over every scored point
    of ``|y - median| / scale``, where ``scale`` is the seasonal error of the history before that
    point's forecast window (one value per window, repeated per point). NaN actuals are left out.
    """
    y = np.asarray(actual, dtype=np.float64)
    err = np.abs(y - np.asarray(predicted, dtype=np.float64)) / np.asarray(scale, dtype=float)
    return float(np.mean(err[~np.isnan(y)]))


def pinball(actual: np.ndarray, predicted: np.ndarray, q: float) -> float:
    """Mean pinball (quantile) loss of ``predicted`` as the q-quantile."""
    diff = np.asarray(actual, dtype=np.float64) - np.asarray(predicted, dtype=np.float64)
    return float(np.mean(np.maximum(q * diff, (q - 1.0) * diff)))


def scaled_pinball(actual: np.ndarray, predicted: np.ndarray, q: float, scale: float) -> float:
    """Pinball loss divided by ``scale``, comparable across series."""
    return pinball(actual, predicted, q) / scale


def mean_weighted_quantile_loss(
    actual: np.ndarray, predicted: np.ndarray, quantiles: Sequence[float]
) -> float:
    """GIFT-Eval's headline probabilistic score (gluonts ``MeanWeightedSumQuantileLoss``).

    For each quantile, ``sum 2 * |(y - pred) * (1[pred >= y] - q)|`` over every point of every
    series, divided by ``sum |y|`` over the same points; then the mean over quantiles. Sums run
    over all series together, so large-valued series weigh most. ``predicted`` is
    ``(points, len(quantiles))``; NaN actuals are left out (gluonts masks invalid labels).
    """
    y = np.asarray(actual, dtype=np.float64)
    pred = np.asarray(predicted, dtype=np.float64).reshape(len(y), len(quantiles))
    ok = ~np.isnan(y)
    y, pred = y[ok], pred[ok]
    q = np.asarray(quantiles, dtype=np.float64)[None, :]
    loss = 2.0 * np.abs((y[:, None] - pred) * ((pred >= y[:, None]) - q))
    return float(np.mean(loss.sum(axis=0) / np.abs(y).sum()))


def coverage(actual: np.ndarray, upper: np.ndarray) -> float:
    """Share of actual values at or below the stated upper quantile."""
    return float(np.mean(np.asarray(actual) <= np.asarray(upper)))


def seasonal_scales(train: pl.DataFrame, season_length: int) -> pl.DataFrame:
    """``series_id, scale``: the in-sample seasonal MAE of each series in ``train``."""
    return (
        train.sort(SERIES, "ts")
        .group_by(SERIES, maintain_order=True)
        .agg((pl.col(Y) - pl.col(Y).shift(season_length)).abs().mean().alias("scale"))
    )


@dataclass(frozen=True)
class Evaluation:
    """Per-series metrics, the aggregate row and the series that could not be scored."""

    per_series: pl.DataFrame
    aggregate: dict[str, Any]
    excluded: dict[str, str] = field(default_factory=dict)


def evaluate(
    forecasts: pl.DataFrame,
    train: pl.DataFrame,
    *,
    season_length: int,
    quantiles: Sequence[float],
    median: str = "p50",
) -> Evaluation:
    """Score forecasts that carry the actual ``y`` beside the quantile columns.

    ``forecasts`` needs ``series_id``, ``y`` (actual), ``median`` and every quantile column.
    Aggregates: MASE and scaled pinball are means of per-series values; coverage is pooled over
    all scored points.
    """
    cols = [quantile_column(q) for q in quantiles]
    missing = [c for c in (SERIES, Y, median, *cols) if c not in forecasts.columns]
    if missing:
        raise ValueError(f"evaluate: forecasts lack column(s) {missing}")
    scales = seasonal_scales(train, season_length)
    scored = forecasts.filter(pl.col(Y).is_not_null()).join(scales, on=SERIES, how="left")
    aggs: list[pl.Expr] = [
        pl.len().alias("n"),
        pl.col("scale").first(),
        ((pl.col(Y) - pl.col(median)).abs().mean() / pl.col("scale").first()).alias("mase"),
    ]
    for q, c in zip(quantiles, cols, strict=True):
        diff = pl.col(Y) - pl.col(c)
        loss = pl.max_horizontal(q * diff, (q - 1.0) * diff)
        aggs.append((loss.mean() / pl.col("scale").first()).alias(f"spl_{c}"))
        aggs.append((pl.col(Y) <= pl.col(c)).mean().alias(f"cov_{c}"))
    per = scored.group_by(SERIES).agg(aggs).sort(SERIES)
    bad = per.filter(~pl.col("scale").is_finite().fill_null(False) | (pl.col("scale") <= 0))
    excluded = {
        str(s): "in-sample seasonal scale is zero or undefined (constant or too short series)"
        for s in bad[SERIES].to_list()
    }
    good = per.filter(~pl.col(SERIES).is_in(list(excluded)))
    pooled = scored.filter(~pl.col(SERIES).is_in(list(excluded)))
    agg: dict[str, Any] = {
        "series": good.height,
        "points": pooled.height,
        "mase": _mean(good["mase"]),
        "mase_median": _median(good["mase"]),
        "mase_gmean": _gmean(good["mase"]),
    }
    for c in cols:
        agg[f"spl_{c}"] = _mean(good[f"spl_{c}"])
        agg[f"spl_{c}_gmean"] = _gmean(good[f"spl_{c}"])
        hits = (pooled[Y] <= pooled[c]).to_numpy()
        agg[f"cov_{c}"] = float(hits.mean()) if len(hits) else float("nan")
    return Evaluation(per_series=per, aggregate=agg, excluded=excluded)


def _median(s: pl.Series) -> float:
    vals = s.drop_nulls().drop_nans().to_numpy()
    return float(np.median(vals)) if len(vals) else float("nan")


def _gmean(s: pl.Series) -> float:
    vals = s.drop_nulls().drop_nans().to_numpy()
    vals = vals[np.isfinite(vals)]
    return float(np.exp(np.log(np.maximum(vals, 1e-6)).mean())) if len(vals) else float("nan")


def _mean(s: pl.Series) -> float:
    vals = s.drop_nulls().drop_nans()
    return float(vals.to_numpy().mean()) if len(vals) else float("nan")
