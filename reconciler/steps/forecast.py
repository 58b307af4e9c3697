"""Forecast step: per-group demand series from the history store -> quantile forecasts.

Each planner metric (``reconciler.planning.PlanMetric``) is built from the CloudWatch points the
collect step stored (``DEMAND_SOURCES``), per member on the step grid, then per group:

- ``network_gbps``: NetworkIn + NetworkOut (bytes per period) -> Gbps; summed over members.
- ``cpu_vcpu``: CPUUtilization (Average, percent) x the member type's vCPU / 100; summed.
- ``memory_gib``: mem_used_percent (CWAgent, Average) x the type's memory / 100; summed.
- ``io_mbps``: EBSReadBytes + EBSWriteBytes (bytes per period) -> MB/s (10^6); summed.
- ``latency_ms``: TargetResponseTime (Average, seconds; a load balancer's) -> ms; the group's
  value is the *max* over members (the slowest member is what callers wait for; a sum or mean
  would hide it). A group without a load balancer has no latency forecast.

A metric a group has no points for is absent for that group, never invented. Percentages are
converted with the member's current type (inventory + catalog); a member of unknown type adds
nothing to CPU or memory, and its points from before its last launch are not converted (a resize
is a stop/start, which resets the launch time: those points were measured on another type).

All (group, metric) series are forecast together per model kind (``series_id`` is
``group|metric``), so the cost stays one fit per kind and role (near-term, look-ahead: below):
the global LightGBM model when a series has at least ``min_lgbm_days`` of history; with less,
the seasonal naive baseline (cold start), and with less than one season its recent peak as a
flat forecast, said so in the model name. A model whose fit or predict raises (a grid LightGBM
cannot train on) falls back to the seasonal naive, then the recent peak, for that kind and role
only; the summary's ``fallbacks`` says which served and why.

The grid and reach come from the policy's ``forecast`` section (``ForecastSettings.resolve``,
``reconciler.steps.forecast_grid``):
``frequency`` is the grid step (the season is ``1 day / frequency`` steps), ``lookback`` is how
much history is read and fitted on (``reconciler.steps.package``), and ``horizon`` is how far
ahead each series is forecast: ``horizon / frequency`` steps, at least one and at most one
season, the LightGBM forecaster's shortest seasonal lag (a longer horizon is cut to one day and
the step's summary says so).

Two models per kind serve that horizon, because one direct multi-horizon model fitted for a
whole day spreads its training rows over every step and widens its near-term bands:

- the *near-term* model forecasts the provisioning window (``reconciler.steps.allocate``: to the
  next cycle plus the longest lead time), at least an hour (``MIN_NEAR_TERM``), at most one
  season, whatever the horizon. Its steps are counted from the oldest last point among the
  series still reporting (the models forecast from there; CloudWatch data ends a period or
  more before now; a series silent for longer than the window does not count), so its rows
  reach the window's end. Its rows are kept at full resolution and are all that allocation
  and sizing read.
- only when the horizon reaches further, a *look-ahead* model is fitted for the steps after the
  near term (``ForecastGrid.look_ahead``; LightGBM trains on those steps only) and refitted less
  often (``lookahead_retrain_every``: far steps follow the season, and each predict reads the
  live history). Its rows are kept as hourly peaks (``hourly_peaks``; ``LOOKAHEAD_COLUMN``) and
  serve one thing: growing resizes scheduled ahead of a peak beyond the window
  (``reconciler.steps.plan``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from forecasting.review import SHADOW_SCHEMA, Review
from policies.durations import format_duration
from reconciler.logs import get_logger
from reconciler.planning.models import PlanMetric
from reconciler.steps.demand import (
    DEMAND_SOURCES,
    SOURCE_METRICS,
    TOTAL_METRICS,
    DemandSource,
    flow_gbps,
    group_demand,
    group_series,
    member_capacity,
    resource_demand,
    to_gbps,
)
from reconciler.steps.forecast_grid import (
    MIN_NEAR_TERM,
    ForecastGrid,
    ForecastSettings,
    ModelCache,
)
from reconciler.steps.types import LOOKAHEAD_COLUMN, ForecastSet

__all__ = [
    "DEMAND_SOURCES",
    "MIN_NEAR_TERM",
    "SOURCE_METRICS",
    "DemandSource",
    "ForecastGrid",
    "ForecastSettings",
    "MetricForecastSet",
    "ModelCache",
    "flow_gbps",
    "group_demand",
    "group_series",
    "hourly_peaks",
    "member_capacity",
    "resource_demand",
    "run_forecast",
    "to_gbps",
]

log = get_logger(__name__)

_TS = pl.Datetime("us", "UTC")
_SEP = "|"
_NETWORK = str(PlanMetric.NETWORK_GBPS)


@dataclass(frozen=True)
class MetricForecastSet(ForecastSet):
    """A ``ForecastSet`` that also says which model served each (group, metric) series and,
    in its summary, how many groups each metric was forecast for, on which grid.

    ``model_by_group`` keeps one model per group (its bandwidth series', else its first
    metric's) for readers that know only groups; ``model_by_series`` has each series' own."""

    grid: ForecastGrid | None = None
    #: models that raised and what served their series instead (``_serve_or_fall_back``)
    fallbacks: tuple[dict[str, Any], ...] = ()
    #: demoted series' own model's near-term forecasts (``SHADOW_SCHEMA``), scored next cycle
    shadow: pl.DataFrame | None = None
    #: this cycle's accuracy review (demotions, drift refits); None: no tracker kept
    feedback: Review | None = None

    def groups_by_metric(self) -> dict[str, int]:
        """Metric -> how many groups have a forecast of it (``DEMAND_SOURCES`` order)."""
        counts = dict(
            self.frame.select("group_id", "metric").unique().group_by("metric").len().iter_rows()
        )
        order = [m for m in DEMAND_SOURCES if m in counts] + sorted(
            m for m in counts if m not in DEMAND_SOURCES
        )
        return {str(m): int(counts[m]) for m in order}

    def summary(self) -> dict[str, Any]:
        base = super().summary()
        out = {"series": base.pop("series"), "metrics": self.groups_by_metric(), **base}
        if self.grid is not None:
            out["grid_step"] = format_duration(self.grid.step)
            out["horizon"] = format_duration(self.grid.horizon)
            out.update(self.served())
            if self.grid.notes:
                out["notes"] = list(self.grid.notes)
        if self.fallbacks:
            out["fallbacks"] = [dict(f) for f in self.fallbacks]
        out["feedback"] = (
            self.feedback.summary()
            if self.feedback is not None
            else "not tracked: no model cache kept between cycles"
        )
        return out

    def served(self) -> dict[str, Any]:
        """Which models served the near term and the look-ahead (groups per model kind), how far
        each reaches and how many rows each left; ``look_ahead`` says why there is none."""
        grid = self.grid or ForecastGrid()
        near = self.near_term()
        out: dict[str, Any] = {
            "near_term": {
                "horizon": format_duration(grid.step * grid.near),
                "models": _kinds(self.model_by_group, near),
                "rows": near.height,
            }
        }
        ahead = grid.look_ahead()
        if ahead is None:
            out["look_ahead"] = f"none: the near term covers the {format_duration(grid.horizon)}"
            return out
        far = self.frame.filter(pl.col(LOOKAHEAD_COLUMN))
        out["look_ahead"] = {
            "horizon": format_duration(grid.horizon),
            "from": format_duration(grid.step * ahead.first_step),
            "models": _kinds(self.model_by_group, far),
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


_QUANTILE_SCHEMA = pl.Schema(
    {
        "series_id": pl.String(),
        "ts": _TS,
        "p50": pl.Float64(),
        "p90": pl.Float64(),
        "p99": pl.Float64(),
    }
)


_FORECAST_SCHEMA = pl.Schema(
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


def _flat(series: pl.DataFrame, grid: ForecastGrid, now: datetime) -> pl.DataFrame:
    """Each series' recent peak, flat over the grid's steps (``first_step..horizon_steps``)."""
    peaks = series.group_by("series_id").agg(pl.col("y").tail(grid.season_steps).max())
    rows = []
    for sid, peak in peaks.iter_rows():
        for h in range(grid.first_step, grid.horizon_steps + 1):
            rows.append((sid, now + grid.step * h, peak, peak, peak))
    return pl.DataFrame(rows, schema=_QUANTILE_SCHEMA, orient="row")


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


def run_forecast(
    demand: pl.DataFrame,
    now: datetime,
    settings: ForecastGrid | ForecastSettings,
    make_model: Callable[[str, ForecastGrid], Any] | None = None,
    cache: ModelCache | None = None,
    demoted: Collection[tuple[str, str]] = (),
) -> MetricForecastSet:
    """Forecast every (group, metric) series of ``demand`` (``group_id, metric, ts, y``) on the
    grid, ``horizon_steps`` ahead; the model is chosen per series by how much history it has.
    Each kind is fitted once for the near term and, when the horizon reaches past it, once for
    the look-ahead, whose rows become hourly peaks (``LOOKAHEAD_COLUMN``). Unresolved
    ``ForecastSettings`` take the policy defaults. A ``demoted`` (group, metric) is served by
    the seasonal naive baseline; its own model's near-term rows are returned as ``shadow``."""
    if isinstance(settings, ForecastSettings):
        settings = settings.resolve()
    if demand.height == 0:
        return MetricForecastSet(pl.DataFrame(schema=_FORECAST_SCHEMA), {}, grid=settings)
    sid = (pl.col("group_id") + _SEP + pl.col("metric")).alias("series_id")
    keys = demand.select(sid, "group_id", "metric").unique()
    totals = keys.filter(pl.col("metric").is_in(list(TOTAL_METRICS)))["series_id"]
    series = _fill(demand.select(sid, pl.col("ts").cast(_TS), "y"), settings.step, totals)
    span = series.group_by("series_id").agg(pl.len().alias("n"), pl.col("ts").max().alias("end"))
    days = {s: n * settings.step / timedelta(days=1) for s, n, _ in span.iter_rows()}
    settings = settings.anchored(_anchor(span["end"].to_list(), now, settings.reach), now)
    build = make_model or _default_model
    near_grid, ahead_grid = settings.near_term(), settings.look_ahead()
    near: list[pl.DataFrame] = []
    ahead: list[pl.DataFrame] = []
    served: dict[str, str] = {}
    fallbacks: list[dict[str, Any]] = []
    for kind, ids in _by_kind(days, settings).items():
        part = series.filter(pl.col("series_id").is_in(ids))
        roles = [(near_grid, settings.retrain_every, near)]
        if ahead_grid is not None:
            roles.append((ahead_grid, settings.lookahead_retrain_every, ahead))
        for grid, every, out in roles:
            rows, used = _serve_or_fall_back(
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
        .select(list(_FORECAST_SCHEMA))
        .sort("group_id", "metric", "ts")
    )
    by_series = {(str(g), str(m)): served[str(s)] for s, g, m in keys.iter_rows()}
    return MetricForecastSet(
        frame,
        _model_by_group(by_series),
        model_by_series=by_series,
        grid=settings,
        fallbacks=tuple(fallbacks),
        shadow=shadow,
    )


#: What serves a demoted series (``forecasting.review``): the yardstick it lost to.
BASELINE = "seasonal-naive"


def _serve_demoted(
    keys: pl.DataFrame,
    demoted: Collection[tuple[str, str]],
    days: Mapping[str, float],
    served: dict[str, str],
    series: pl.DataFrame,
    settings: ForecastGrid,
    now: datetime,
    build: Callable[[str, ForecastGrid], Any],
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
        if s in served and served[s] not in _FALLBACKS and days.get(s, 0) >= season_days * 1.05
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
        rows, used = _serve_or_fall_back(
            BASELINE, part, grid, now, build, None, every, days, fallbacks
        )
        out[:] = [frame.filter(~own) for frame in out] + [rows]
        if grid.first_step == 1:
            served.update(dict.fromkeys(ids, used))
    return shadow


#: What serves a series when its model's fit or predict raises, in order (``_serve_or_fall_back``).
_FALLBACKS = ("seasonal-naive", "recent-peak")


def _serve_or_fall_back(
    kind: str,
    part: pl.DataFrame,
    grid: ForecastGrid,
    now: datetime,
    build: Callable[[str, ForecastGrid], Any],
    cache: ModelCache | None,
    every: timedelta,
    days: Mapping[str, float],
    fallbacks: list[dict[str, Any]],
) -> tuple[pl.DataFrame, str]:
    """``_serve``, and when the model raises (a grid LightGBM cannot train on, say) the next
    kind in ``_FALLBACKS`` that fits the series' history: one model never fails the step.
    Each fallback is appended to ``fallbacks`` with the role, the kind that failed and why."""
    season_days = grid.season_steps * grid.step / timedelta(days=1)
    ids = part["series_id"].unique().to_list()
    enough = min(days.get(str(i), 0.0) for i in ids) >= season_days * 1.05 if ids else False
    later = _FALLBACKS[_FALLBACKS.index(kind) + 1 :] if kind in _FALLBACKS else _FALLBACKS
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
    build: Callable[[str, ForecastGrid], Any],
    cache: ModelCache | None,
    every: timedelta,
) -> pl.DataFrame:
    """``kind``'s forecasts of ``part`` on ``grid`` (one role: near-term or look-ahead), from
    the cached model when it is fresh and covers the grid's steps, else from a new fit."""
    if kind == "recent-peak":
        return _flat(part, grid, now)
    ids, key = set(part["series_id"].unique().to_list()), grid.key(kind)
    steps = (grid.first_step, grid.horizon_steps)
    model = cache.get(key, now, ids, every, steps) if cache else None
    if model is None:
        model = build(kind, grid).fit(part)
        if cache is not None:
            cache.put(key, model, now, ids, steps)
        out = model.predict(grid.horizon_steps)
    else:
        out = model.predict(grid.horizon_steps, history=part)
    return out.select("series_id", pl.col("ts").cast(_TS), "p50", "p90", "p99")


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


def _by_kind(days: dict[str, float], settings: ForecastGrid) -> dict[str, list[str]]:
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


def _default_model(kind: str, settings: ForecastGrid) -> Any:
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
