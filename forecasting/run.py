"""One cycle's forecast: every (group, metric) demand series -> near-term and look-ahead quantiles.

All (group, metric) series are forecast together per model kind (``series_id`` is
``group|metric``), so the cost stays one fit per kind and role; which kind serves a series, and
what serves it when that kind fails, is ``forecasting.serve``'s. The grid and reach are a
``ForecastGrid`` (``forecasting.grid``): its step (the season is ``1 day / step`` steps) and
how far ahead each series is forecast (``horizon_steps``, at most one season, the LightGBM
forecaster's shortest seasonal lag).

Two models per kind serve that horizon, because one direct multi-horizon model fitted for a
whole day spreads its training rows over every step and widens its near-term bands:

- the *near-term* model forecasts the provisioning window (to the next cycle plus the longest
  lead time), at least an hour (``MIN_NEAR_TERM``), at most one season, whatever the horizon.
  Its steps are counted from the oldest last point among the series still reporting (the
  models forecast from there; CloudWatch data ends a period or more before now; a series silent
  for longer than the window does not count), so its rows reach the window's end. Its rows are
  kept at full resolution and are all that allocation and sizing read.
- only when the horizon reaches further, a *look-ahead* model is fitted for the steps after the
  near term (``ForecastGrid.look_ahead``; LightGBM trains on those steps only) and refitted less
  often (``lookahead_retrain_every``: far steps follow the season, and each predict reads the
  live history). Its rows are kept as hourly peaks (``hourly_peaks``; ``LOOKAHEAD_COLUMN``) and
  serve one thing: growing resizes scheduled ahead of a peak beyond the window.

A series the accuracy review demoted (``forecasting.review``) is served by the baseline; its own
model's near-term rows are returned as ``shadow``, to be scored next cycle.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from forecasting.cache import ModelCache
from forecasting.demand import DEMAND_SOURCES, TOTAL_METRICS
from forecasting.grid import ForecastGrid, ForecastSettings
from forecasting.review import SHADOW_SCHEMA
from forecasting.serve import (
    BASELINE,
    FALLBACKS,
    ModelFactory,
    by_kind,
    default_model,
    serve_or_fall_back,
)
from policies.durations import format_duration

__all__ = [
    "FORECAST_SCHEMA",
    "LOOKAHEAD_COLUMN",
    "DemandForecast",
    "forecast_demand",
    "groups_by_metric",
    "hourly_peaks",
    "models_served",
]

_TS = pl.Datetime("us", "UTC")
_SEP = "|"
#: Boolean column of ``FORECAST_SCHEMA``: the row is a look-ahead model's hourly peak (each
#: quantile's highest from its ``ts`` to the next hour), not a full-resolution step.
LOOKAHEAD_COLUMN = "lookahead"


@dataclass(frozen=True)
class DemandForecast:
    """What ``forecast_demand`` returns: the rows (``FORECAST_SCHEMA``), which model served
    each (group, metric) series and, for readers that know only groups, one model per group
    (its bandwidth series', else its first metric's), the grid as anchored this cycle, the
    models that raised and what served instead, and the demoted series' shadow rows."""

    frame: pl.DataFrame
    model_by_group: dict[str, str] = field(default_factory=dict)
    model_by_series: dict[tuple[str, str], str] = field(default_factory=dict)
    grid: ForecastGrid = field(default_factory=ForecastGrid)
    fallbacks: tuple[dict[str, Any], ...] = ()
    #: demoted series' own model's near-term forecasts (``SHADOW_SCHEMA``), scored next cycle
    shadow: pl.DataFrame | None = None
    #: cache key -> where its model came from this cycle (``ModelCache.sources``: fit, reused
    #: from memory or loaded from the model store); empty without a cache (every model fits)
    model_sources: dict[str, dict[str, Any]] = field(default_factory=dict)


FORECAST_SCHEMA = pl.Schema(
    {
        "group_id": pl.String(),
        "metric": pl.String(),
        "ts": _TS,
        "p50": pl.Float64(),
        "p90": pl.Float64(),
        "p99": pl.Float64(),
        LOOKAHEAD_COLUMN: pl.Boolean(),
    }
)


def forecast_demand(
    demand: pl.DataFrame,
    now: datetime,
    settings: ForecastGrid | ForecastSettings,
    make_model: ModelFactory | None = None,
    cache: ModelCache | None = None,
    demoted: Collection[tuple[str, str]] = (),
) -> DemandForecast:
    """Forecast every (group, metric) series of ``demand`` (``group_id, metric, ts, y``) on the
    grid, ``horizon_steps`` ahead; the model is chosen per series by how much history it has.
    Each kind is fitted once for the near term and, when the horizon reaches past it, once for
    the look-ahead, whose rows become hourly peaks (``LOOKAHEAD_COLUMN``). Unresolved
    ``ForecastSettings`` take the policy defaults. A ``demoted`` (group, metric) is served by
    the seasonal naive baseline; its own model's near-term rows are returned as ``shadow``."""
    if isinstance(settings, ForecastSettings):
        settings = settings.resolve()
    if cache is not None:
        cache.begin_cycle()
    if demand.height == 0:
        return DemandForecast(pl.DataFrame(schema=FORECAST_SCHEMA), {}, grid=settings)
    sid = (pl.col("group_id") + _SEP + pl.col("metric")).alias("series_id")
    keys = demand.select(sid, "group_id", "metric").unique()
    totals = keys.filter(pl.col("metric").is_in(list(TOTAL_METRICS)))["series_id"]
    series = _fill(demand.select(sid, pl.col("ts").cast(_TS), "y"), settings.step, totals)
    span = series.group_by("series_id").agg(pl.len().alias("n"), pl.col("ts").max().alias("end"))
    days = {s: n * settings.step / timedelta(days=1) for s, n, _ in span.iter_rows()}
    settings = settings.anchored(_anchor(span["end"].to_list(), now, settings.reach), now)
    build = make_model or default_model
    near_grid, ahead_grid = settings.near_term(), settings.look_ahead()
    near: list[pl.DataFrame] = []
    ahead: list[pl.DataFrame] = []
    served: dict[str, str] = {}
    fallbacks: list[dict[str, Any]] = []
    for kind, ids in by_kind(days, settings).items():
        part = series.filter(pl.col("series_id").is_in(ids))
        roles = [(near_grid, settings.retrain_every, near)]
        if ahead_grid is not None:
            roles.append((ahead_grid, settings.lookahead_retrain_every, ahead))
        for grid, every, out in roles:
            rows, used = serve_or_fall_back(
                kind, part, grid, now, build, cache, every, days, fallbacks
            )
            out.append(rows)
            if grid.first_step == 1:
                served.update(dict.fromkeys(ids, used))
    shadow = _serve_demoted(
        keys, demoted, days, served, series, settings, now, build, near, ahead, fallbacks
    )
    near_rows = _ordered(pl.concat(near))
    parts = [near_rows.with_columns(pl.lit(False).alias(LOOKAHEAD_COLUMN))]
    if ahead:
        far = hourly_peaks(_beyond(_ordered(pl.concat(ahead)), near_rows))
        parts.append(far.with_columns(pl.lit(True).alias(LOOKAHEAD_COLUMN)))
    frame = (
        pl.concat(parts)
        .join(keys, on="series_id", how="inner")
        .select(list(FORECAST_SCHEMA))
        .sort("group_id", "metric", "ts")
    )
    by_series = {(str(g), str(m)): served[str(s)] for s, g, m in keys.iter_rows()}
    return DemandForecast(
        frame,
        _model_by_group(by_series),
        model_by_series=by_series,
        grid=settings,
        fallbacks=tuple(fallbacks),
        shadow=shadow,
        model_sources=dict(cache.sources) if cache is not None else {},
    )


def _serve_demoted(
    keys: pl.DataFrame,
    demoted: Collection[tuple[str, str]],
    days: Mapping[str, float],
    served: dict[str, str],
    series: pl.DataFrame,
    settings: ForecastGrid,
    now: datetime,
    build: ModelFactory,
    near: list[pl.DataFrame],
    ahead: list[pl.DataFrame],
    fallbacks: list[dict[str, Any]],
) -> pl.DataFrame:
    """Serve the ``demoted`` series with the baseline in place of their model's rows in
    ``near`` and ``ahead`` (a series with less than a season of history, or already served by
    a baseline, keeps its model); return the model's near-term rows (``SHADOW_SCHEMA``)."""
    season_days = settings.season_steps * settings.step / timedelta(days=1)
    wanted = {f"{g}{_SEP}{m}" for g, m in demoted}
    ids = sorted(
        s
        for s in wanted
        if s in served and served[s] not in FALLBACKS and days.get(s, 0) >= season_days * 1.05
    )
    if not ids:
        return pl.DataFrame(schema=SHADOW_SCHEMA)
    own = pl.col("series_id").is_in(ids)
    shadow = (
        pl.concat(near)
        .filter(own)
        .join(keys, on="series_id", how="inner")
        .with_columns(pl.col("series_id").replace_strict(served).alias("model_version"))
        .select(list(SHADOW_SCHEMA))
    )
    part = series.filter(own)
    roles = [(settings.near_term(), settings.retrain_every, near)]
    if (far := settings.look_ahead()) is not None:
        roles.append((far, settings.lookahead_retrain_every, ahead))
    for grid, every, out in roles:
        # the baseline is cheap to fit and not cached: its cache entry is the naturally
        # seasonal-naive series' (one entry per kind and role)
        rows, used = serve_or_fall_back(
            BASELINE, part, grid, now, build, None, every, days, fallbacks
        )
        out[:] = [frame.filter(~own) for frame in out] + [rows]
        if grid.first_step == 1:
            served.update(dict.fromkeys(ids, used))
    return shadow


def _fill(series: pl.DataFrame, step: timedelta, totals: pl.Series) -> pl.DataFrame:
    """Regular grid per series. A missing step of a total (bytes) is nothing seen (0); of a
    level (CPU, memory, latency) the last level holds: a gap in reporting is not an idle host."""
    is_total = pl.col("series_id").is_in(totals.implode())
    return (
        series.sort("series_id", "ts")
        .upsample(time_column="ts", every=f"{int(step.total_seconds())}s", group_by="series_id")
        .with_columns(
            pl.when(is_total)
            .then(pl.col("y").fill_null(0.0))
            .otherwise(pl.col("y").forward_fill().over("series_id"))
            .alias("y")
        )
        .select("series_id", "ts", "y")
    )


def _ordered(frame: pl.DataFrame) -> pl.DataFrame:
    """Quantiles clipped at 0 and made non-crossing per row (p50 <= p90 <= p99)."""
    return (
        frame.with_columns(pl.col("p50").clip(lower_bound=0.0))
        .with_columns(pl.max_horizontal("p50", pl.col("p90").clip(lower_bound=0.0)).alias("p90"))
        .with_columns(pl.max_horizontal("p90", pl.col("p99").clip(lower_bound=0.0)).alias("p99"))
    )


def _beyond(far: pl.DataFrame, near: pl.DataFrame) -> pl.DataFrame:
    """The look-ahead rows after each series' last near-term step (a model that forecasts from
    step one, like the seasonal naive, also served the near term: those rows are dropped)."""
    last = near.group_by("series_id").agg(pl.col("ts").max().alias("_near_end"))
    return (
        far.join(last, on="series_id", how="left")
        .filter(pl.col("_near_end").is_null() | (pl.col("ts") > pl.col("_near_end")))
        .drop("_near_end")
    )


def hourly_peaks(frame: pl.DataFrame) -> pl.DataFrame:
    """``series_id, ts, p50, p90, p99`` per (UTC) hour: each quantile's highest, at the hour's
    first step (its start; the first look-ahead step when the near term ends inside the hour),
    so a series stays time-ordered and each row stands for its ``ts`` to the next hour."""
    hour = pl.col("ts").dt.truncate("1h").alias("_hour")
    return (
        frame.group_by("series_id", hour)
        .agg(pl.col("ts").min(), pl.col("p50").max(), pl.col("p90").max(), pl.col("p99").max())
        .select("series_id", "ts", "p50", "p90", "p99")
        .sort("series_id", "ts")
    )


def _anchor(ends: Sequence[datetime], now: datetime, window: timedelta) -> datetime:
    """Where the near term is counted from: the oldest last point among the series still
    reporting (last point within the window). A series that stopped (a removed member's metric)
    must not stretch every series' near term towards a whole season."""
    current = [e for e in ends if e >= now - window]
    return min(current) if current else max(ends)


def _model_by_group(by_series: Mapping[tuple[str, str], str]) -> dict[str, str]:
    """Each group's bandwidth model, else the model of its first metric (``DEMAND_SOURCES``)."""
    rank = {m: i for i, m in enumerate(DEMAND_SOURCES)}
    out: dict[str, str] = {}
    for (g, _metric), kind in sorted(by_series.items(), key=lambda x: rank.get(x[0][1], 99)):
        out.setdefault(g, kind)
    return out


def groups_by_metric(frame: pl.DataFrame) -> dict[str, int]:
    """Metric -> how many groups ``frame`` has a forecast of it for (``DEMAND_SOURCES`` order)."""
    counts = dict(frame.select("group_id", "metric").unique().group_by("metric").len().iter_rows())
    order = [m for m in DEMAND_SOURCES if m in counts] + sorted(
        m for m in counts if m not in DEMAND_SOURCES
    )
    return {str(m): int(counts[m]) for m in order}


def models_served(
    frame: pl.DataFrame, grid: ForecastGrid | None, model_by_group: Mapping[str, str]
) -> dict[str, Any]:
    """Which models served the near term and the look-ahead (groups per model kind), how far
    each reaches and how many rows each left; ``look_ahead`` says why there is none."""
    grid = grid or ForecastGrid()
    ahead_rows = pl.col(LOOKAHEAD_COLUMN) if LOOKAHEAD_COLUMN in frame.columns else pl.lit(False)
    near = frame.filter(~ahead_rows)
    out: dict[str, Any] = {
        "near_term": {
            "horizon": format_duration(grid.step * grid.near),
            "models": _kinds(model_by_group, near),
            "rows": near.height,
        }
    }
    ahead = grid.look_ahead()
    if ahead is None:
        out["look_ahead"] = f"none: the near term covers the {format_duration(grid.horizon)}"
        return out
    far = frame.filter(ahead_rows)
    out["look_ahead"] = {
        "horizon": format_duration(grid.horizon),
        "from": format_duration(grid.step * ahead.first_step),
        "models": _kinds(model_by_group, far),
        "rows": far.height,
        "stored": "hourly peaks",
    }
    return out


def _kinds(model_by_group: Mapping[str, str], frame: pl.DataFrame) -> dict[str, int]:
    """Model kind -> how many groups it served in ``frame``'s rows."""
    out: dict[str, int] = {}
    for g in frame["group_id"].unique().sort().to_list():
        kind = model_by_group.get(str(g), "unknown")
        out[kind] = out.get(kind, 0) + 1
    return out
