"""Which model serves a series, and what serves it when that model fails.

A series is served by the global LightGBM model when it has at least ``min_lgbm_days`` of
history; with less, by the seasonal naive baseline (cold start), and with less than one season
by its recent peak as a flat forecast (``by_kind``). A model whose fit or predict raises (a grid
LightGBM cannot train on) falls back to the seasonal naive, then the recent peak, for that kind
and role only (``serve_or_fall_back``); each fallback is reported with the error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import structlog

from forecasting.cache import ModelCache
from forecasting.grid import ForecastGrid

__all__ = [
    "BASELINE",
    "FALLBACKS",
    "QUANTILE_SCHEMA",
    "ModelFactory",
    "by_kind",
    "default_model",
    "serve_or_fall_back",
]

log = structlog.get_logger(__name__)

_TS = pl.Datetime("us", "UTC")

#: Builds an unfitted forecaster of a kind for a grid (``default_model``, or a test's).
ModelFactory = Callable[[str, ForecastGrid], Any]

QUANTILE_SCHEMA = pl.Schema(
    {
        "series_id": pl.String(),
        "ts": _TS,
        "p50": pl.Float64(),
        "p90": pl.Float64(),
        "p99": pl.Float64(),
    }
)


#: What serves a demoted series (``forecasting.review``): the yardstick it lost to.
BASELINE = "seasonal-naive"

#: What serves a series when its model's fit or predict raises, in order (``serve_or_fall_back``).
FALLBACKS = ("seasonal-naive", "recent-peak")


def by_kind(days: dict[str, float], settings: ForecastGrid) -> dict[str, list[str]]:
    """Model kind -> the series it serves, by each series' days of history (``days``)."""
    season_days = settings.season_steps * settings.step / timedelta(days=1)
    out: dict[str, list[str]] = {}
    for sid, d in sorted(days.items()):
        if d >= settings.min_lgbm_days:
            kind = "lightgbm"
        elif d >= season_days * 1.05:
            kind = "seasonal-naive"
        else:
            kind = "recent-peak"
        out.setdefault(kind, []).append(sid)
    return out


def default_model(kind: str, settings: ForecastGrid) -> Any:
    """The real forecaster of ``kind`` for ``settings``' grid: LightGBM, else seasonal naive."""
    freq = f"{int(settings.step.total_seconds())}s"
    if kind == "lightgbm":
        from forecasting.lgbm import LightGBMForecaster

        season = settings.season_steps
        return LightGBMForecaster(
            freq=freq,
            season_length=season,
            horizon=settings.horizon_steps,
            first_step=settings.first_step,
            windows=tuple(sorted({w for w in (12, 48) if w < season} | {season})),
            n_estimators=settings.lgbm_estimators,
        )
    from forecasting.baseline import SeasonalNaive

    return SeasonalNaive(season_length=settings.season_steps, freq=freq)


def serve_or_fall_back(
    kind: str,
    part: pl.DataFrame,
    grid: ForecastGrid,
    now: datetime,
    build: ModelFactory,
    cache: ModelCache | None,
    every: timedelta,
    days: Mapping[str, float],
    fallbacks: list[dict[str, Any]],
) -> tuple[pl.DataFrame, str]:
    """``_serve``, and when the model raises (a grid LightGBM cannot train on, say) the next
    kind in ``FALLBACKS`` that fits the series' history: one model never fails the step.
    Each fallback is appended to ``fallbacks`` with the role, the kind that failed and why."""
    season_days = grid.season_steps * grid.step / timedelta(days=1)
    ids = part["series_id"].unique().to_list()
    enough = min(days.get(str(i), 0.0) for i in ids) >= season_days * 1.05 if ids else False
    later = FALLBACKS[FALLBACKS.index(kind) + 1 :] if kind in FALLBACKS else FALLBACKS
    order = [kind, *(k for k in later if k != "seasonal-naive" or enough)]
    for i, current in enumerate(order):
        try:
            return _serve(current, part, grid, now, build, cache, every), current
        except Exception as exc:
            if i + 1 == len(order):
                raise
            fallbacks.append(
                {
                    "role": grid.role,
                    "failed": current,
                    "served_by": order[i + 1],
                    "series": len(ids),
                    "error": f"{type(exc).__name__}: {exc}"[:300],
                }
            )
            log.warning("forecast_model_fell_back", **fallbacks[-1])
    raise AssertionError("unreachable")  # pragma: no cover


def _serve(
    kind: str,
    part: pl.DataFrame,
    grid: ForecastGrid,
    now: datetime,
    build: ModelFactory,
    cache: ModelCache | None,
    every: timedelta,
) -> pl.DataFrame:
    """``kind``'s forecasts of ``part`` on ``grid`` (one role: near-term or look-ahead), from
    the cached (or stored, ``forecasting.shelf``) model when it is fresh and covers the grid's
    steps, else from a new fit."""
    if kind == "recent-peak":
        return _flat(part, grid, now)
    ids, key = set(part["series_id"].unique().to_list()), grid.key(kind)
    steps = (grid.first_step, grid.horizon_steps)
    model = (
        cache.get(key, now, ids, every, steps, like=lambda: build(kind, grid)) if cache else None
    )
    if model is None:
        model = build(kind, grid).fit(part)
        if cache is not None:
            cache.put(key, model, now, ids, steps)
        out = model.predict(grid.horizon_steps)
    else:
        out = model.predict(grid.horizon_steps, history=part)
    return out.select("series_id", pl.col("ts").cast(_TS), "p50", "p90", "p99")


def _flat(series: pl.DataFrame, grid: ForecastGrid, now: datetime) -> pl.DataFrame:
    """Each series' recent peak, flat over the grid's steps (``first_step..horizon_steps``)."""
    peaks = series.group_by("series_id").agg(pl.col("y").tail(grid.season_steps).max())
    rows = []
    for sid, peak in peaks.iter_rows():
        for h in range(grid.first_step, grid.horizon_steps + 1):
            rows.append((sid, now + grid.step * h, peak, peak, peak))
    return pl.DataFrame(rows, schema=QUANTILE_SCHEMA, orient="row")
