"""Forecast step wiring: group demand -> the forecasting package -> a ``MetricForecastSet``.

The forecasting itself lives in ``forecasting``: the demand series (``forecasting.demand``), the
grid and the model cache (``forecasting.grid``, ``forecasting.cache``), the near-term and
look-ahead models with their fallbacks (``forecasting.run``, ``forecasting.serve``) and the
accuracy review (``forecasting.review``). This module turns their plain results into the step's
typed view (``ForecastSet``) and the step's scored points into the review's frame.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from forecasting.cache import ModelCache
from forecasting.demand import flow_gbps, group_series
from forecasting.grid import ForecastGrid, ForecastSettings
from forecasting.review import SCORED_SCHEMA, Review
from forecasting.run import forecast_demand, groups_by_metric, models_served
from forecasting.serve import ModelFactory
from policies.durations import format_duration
from reconciler.steps.types import ForecastSet, Scored

# ForecastSettings, ModelCache, flow_gbps and group_series are re-exported: reconciler.demo,
# reconciler.simulate.headroom, reconciler.context, bench.cycle and tests/e2e import them here.
__all__ = [
    "ForecastSettings",
    "MetricForecastSet",
    "ModelCache",
    "flow_gbps",
    "group_series",
    "run_forecast",
    "scored_frame",
]


@dataclass(frozen=True)
class MetricForecastSet(ForecastSet):
    """A ``ForecastSet`` that also says which model served each (group, metric) series and,
    in its summary, how many groups each metric was forecast for, on which grid.

    ``model_by_group`` keeps one model per group (its bandwidth series', else its first
    metric's) for readers that know only groups; ``model_by_series`` has each series' own."""

    grid: ForecastGrid | None = None
    #: models that raised and what served their series instead (``forecasting.serve``)
    fallbacks: tuple[dict[str, Any], ...] = ()
    #: demoted series' own model's near-term forecasts (``SHADOW_SCHEMA``), scored next cycle
    shadow: pl.DataFrame | None = None
    #: this cycle's accuracy review (demotions, drift refits); None: no tracker kept
    feedback: Review | None = None
    #: cache key -> where its model came from: fit, reused from memory, loaded from the store
    model_sources: dict[str, dict[str, Any]] | None = None

    def groups_by_metric(self) -> dict[str, int]:
        """Metric -> how many groups have a forecast of it (``DEMAND_SOURCES`` order)."""
        return groups_by_metric(self.frame)

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
        if self.model_sources:
            out["model_sources"] = self.model_sources
        out["feedback"] = (
            self.feedback.summary()
            if self.feedback is not None
            else "not tracked: no model cache kept between cycles"
        )
        return out

    def served(self) -> dict[str, Any]:
        """Which models served the near term and the look-ahead (``models_served``)."""
        return models_served(self.frame, self.grid, self.model_by_group)


def run_forecast(
    demand: pl.DataFrame,
    now: datetime,
    settings: ForecastGrid | ForecastSettings,
    make_model: ModelFactory | None = None,
    cache: ModelCache | None = None,
    demoted: Collection[tuple[str, str]] = (),
) -> MetricForecastSet:
    """``forecasting.run.forecast_demand`` of ``demand`` (``group_id, metric, ts, y``), as the
    step's ``MetricForecastSet``."""
    out = forecast_demand(demand, now, settings, make_model, cache, demoted)
    return MetricForecastSet(
        out.frame,
        out.model_by_group,
        model_by_series=out.model_by_series,
        grid=out.grid,
        fallbacks=out.fallbacks,
        shadow=out.shadow,
        model_sources=out.model_sources,
    )


def scored_frame(scored: Sequence[Scored]) -> pl.DataFrame:
    """``Scored`` points (quantiles keyed ``"0.5"``...) as ``SCORED_SCHEMA`` rows."""
    rows = [
        (s.group_id, str(s.metric), s.ts, q.get("0.5"), q.get("0.9"), q.get("0.99"), s.actual, k)
        for s in scored
        if (q := s.predicted).get("0.5") is not None
        for k in [s.model_kind]
    ]
    return pl.DataFrame(rows, schema=SCORED_SCHEMA, orient="row")
