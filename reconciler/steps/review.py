"""The forecast step's accuracy review: this cycle's scored points into the process's tracker
(``forecasting.review``), whose demotions and drift refits the forecast then follows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from forecasting.review import SCORED_SCHEMA, FeedbackSettings, ForecastFeedback, Review
from reconciler.steps.forecast_grid import ForecastGrid, ModelCache
from reconciler.steps.types import Scored

__all__ = ["review_models", "scored_frame"]


def scored_frame(scored: Sequence[Scored]) -> pl.DataFrame:
    """``Scored`` points (quantiles keyed ``"0.5"``...) as ``SCORED_SCHEMA`` rows."""
    rows = [
        (s.group_id, str(s.metric), s.ts, q.get("0.5"), q.get("0.9"), q.get("0.99"), s.actual, k)
        for s in scored
        if (q := s.predicted).get("0.5") is not None
        for k in [s.model_kind]
    ]
    return pl.DataFrame(rows, schema=SCORED_SCHEMA, orient="row")


def review_models(
    cache: ModelCache,
    settings: FeedbackSettings,
    scored: Sequence[Scored],
    demand: pl.DataFrame,
    grid: ForecastGrid,
    now: datetime,
) -> Review:
    """Feed ``scored`` to the cache's tracker (made on first use) and drop the near-term model
    of every kind whose accuracy drifted, so this cycle refits it."""
    if cache.feedback is None:
        cache.feedback = ForecastFeedback(settings)
    near = grid.near_term()
    review = cache.feedback.review(
        scored_frame(scored),
        demand,
        now=now,
        season=grid.step * grid.season_steps,
        trained=cache.trained_at(near),
        every=grid.retrain_every,
    )
    for refit in review.refits:
        cache.forget(refit.kind, near)
    return review
