"""Forecast step: per-group bandwidth series from the history store -> quantile forecasts.

A group's demand is the sum of its members' NetworkIn + NetworkOut (bytes per period, turned
into Gbps). The global LightGBM model forecasts every group at once when there are at least
``min_lgbm_days`` of history; with less, the seasonal naive baseline serves (cold start), and
with less than one season a group gets its recent peak as a flat forecast, said so in the
model name. Which model served each group is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from reconciler.steps.allocate import BANDWIDTH_METRIC
from reconciler.steps.types import ForecastSet, GroupSet

__all__ = [
    "ForecastSettings",
    "ModelCache",
    "flow_gbps",
    "group_series",
    "run_forecast",
    "to_gbps",
]

_NETWORK = ("NetworkIn", "NetworkOut")
_TS = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class ForecastSettings:
    """Step parameters: 5-minute steps, one hour ahead, LightGBM after three days of history."""

    step: timedelta = timedelta(minutes=5)
    horizon_steps: int = 12
    season_steps: int = 288
    min_lgbm_days: float = 3.0
    lgbm_estimators: int = 60
    retrain_every: timedelta = timedelta(hours=6)


@dataclass
class ModelCache:
    """Fitted models kept between cycles of one process; refit after ``retrain_every`` or
    when a series the model never saw appears. (A Lambda starts cold and simply refits.)"""

    entries: dict[str, tuple[Any, datetime, frozenset[str]]] = field(default_factory=dict)
    fits: int = 0
    reuses: int = 0

    def get(self, kind: str, now: datetime, series: set[str], every: timedelta) -> Any:
        hit = self.entries.get(kind)
        if hit is None:
            return None
        model, at, seen = hit
        if now - at >= every or now < at or not series <= seen:
            return None
        self.reuses += 1
        return model

    def put(self, kind: str, model: Any, now: datetime, series: set[str]) -> None:
        self.fits += 1
        self.entries[kind] = (model, now, frozenset(series))


def to_gbps(points: pl.DataFrame, step: timedelta) -> pl.DataFrame:
    """Network bytes per period -> ``resource_id, ts, gbps`` (in + out), on the step grid."""
    seconds = step.total_seconds()
    return (
        points.filter(pl.col("metric").is_in(_NETWORK))
        .with_columns(pl.col("ts").dt.truncate(f"{int(seconds)}s"))
        .group_by("resource_id", "ts")
        .agg((pl.col("value").sum() * 8 / seconds / 1e9).alias("gbps"))
    )


def flow_gbps(series: pl.DataFrame, step: timedelta) -> pl.DataFrame:
    """Per-resource flow bytes in + out per bucket (``history.resource_series``) -> Gbps."""
    seconds = step.total_seconds()
    return series.select(
        pl.col("resource").alias("resource_id"),
        pl.col("window_start").cast(_TS).alias("ts"),
        ((pl.col("bytes_in") + pl.col("bytes_out")) * 8 / seconds / 1e9).alias("gbps"),
    )


def group_series(resource_gbps: pl.DataFrame, groups: GroupSet) -> pl.DataFrame:
    """Long frame ``series_id, ts, y``: each group's total Gbps per step (members summed)."""
    pairs = [(m, g.id) for g in groups.groups for m in g.members]
    if not pairs or resource_gbps.height == 0:
        return pl.DataFrame(schema={"series_id": pl.String, "ts": _TS, "y": pl.Float64})
    member = pl.DataFrame(
        pairs, schema={"resource_id": pl.String, "series_id": pl.String}, orient="row"
    )
    return (
        resource_gbps.join(member, on="resource_id", how="inner")
        .group_by("series_id", "ts")
        .agg(pl.col("gbps").sum().alias("y"))
        .with_columns(pl.col("ts").cast(_TS))
        .sort("series_id", "ts")
    )


def _flat(series: pl.DataFrame, settings: ForecastSettings, now: datetime) -> pl.DataFrame:
    peaks = series.group_by("series_id").agg(pl.col("y").tail(settings.season_steps).max())
    rows = []
    for sid, peak in peaks.iter_rows():
        for h in range(1, settings.horizon_steps + 1):
            rows.append((sid, now + settings.step * h, peak, peak, peak))
    return pl.DataFrame(
        rows,
        schema={
            "series_id": pl.String,
            "ts": _TS,
            "p50": pl.Float64,
            "p90": pl.Float64,
            "p99": pl.Float64,
        },
        orient="row",
    )


def _fill(series: pl.DataFrame, step: timedelta) -> pl.DataFrame:
    """Regular grid per series; missing steps are no traffic seen (0), not dropped."""
    return (
        series.sort("series_id", "ts")
        .upsample(time_column="ts", every=f"{int(step.total_seconds())}s", group_by="series_id")
        .with_columns(pl.col("y").fill_null(0.0))
        .select("series_id", "ts", "y")
    )


def run_forecast(
    series: pl.DataFrame,
    now: datetime,
    settings: ForecastSettings,
    make_model: Callable[[str, ForecastSettings], Any] | None = None,
    cache: ModelCache | None = None,
) -> ForecastSet:
    """Forecast every group's bandwidth; the model is chosen by how much history there is."""
    empty = pl.DataFrame(
        schema={
            "group_id": pl.String,
            "metric": pl.String,
            "ts": _TS,
            "p50": pl.Float64,
            "p90": pl.Float64,
            "p99": pl.Float64,
        }
    )
    if series.height == 0:
        return ForecastSet(empty, {})
    series = _fill(series, settings.step)
    span = series.group_by("series_id").agg(pl.len().alias("n"))
    days = {s: n * settings.step / timedelta(days=1) for s, n in span.iter_rows()}
    build = make_model or _default_model
    frames: list[pl.DataFrame] = []
    served: dict[str, str] = {}
    for kind, ids in _by_kind(days, settings).items():
        part = series.filter(pl.col("series_id").is_in(ids))
        if kind == "recent-peak":
            out = _flat(part, settings, now)
        else:
            ids_set = set(ids)
            model = cache.get(kind, now, ids_set, settings.retrain_every) if cache else None
            if model is None:
                model = build(kind, settings).fit(part)
                if cache is not None:
                    cache.put(kind, model, now, ids_set)
                out = model.predict(settings.horizon_steps)
            else:
                out = model.predict(settings.horizon_steps, history=part)
            out = out.select("series_id", "ts", "p50", "p90", "p99")
        frames.append(out.with_columns(pl.col("ts").cast(_TS)))
        served.update(dict.fromkeys(ids, kind))
    frame = (
        pl.concat(frames)
        .rename({"series_id": "group_id"})
        .with_columns(
            pl.lit(BANDWIDTH_METRIC).alias("metric"),
            pl.col("p50").clip(lower_bound=0.0),
        )
        .with_columns(
            pl.max_horizontal("p50", pl.col("p90").clip(lower_bound=0.0)).alias("p90"),
        )
        .with_columns(pl.max_horizontal("p90", pl.col("p99").clip(lower_bound=0.0)).alias("p99"))
        .select("group_id", "metric", "ts", "p50", "p90", "p99")
    )
    return ForecastSet(frame, served)


def _by_kind(days: dict[str, float], settings: ForecastSettings) -> dict[str, list[str]]:
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


def _default_model(kind: str, settings: ForecastSettings) -> Any:
    freq = f"{int(settings.step.total_seconds() // 60)}m"
    if kind == "lightgbm":
        from forecasting.lgbm import LightGBMForecaster

        return LightGBMForecaster(
            freq=freq,
            season_length=settings.season_steps,
            horizon=settings.horizon_steps,
            n_estimators=settings.lgbm_estimators,
        )
    from forecasting.baseline import SeasonalNaive

    return SeasonalNaive(season_length=settings.season_steps, freq=freq)
