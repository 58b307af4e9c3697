"""Fitted forecasters kept between the cycles of one process, by kind, grid step and role.

A model is refitted on its own schedule (the grid's ``retrain_every`` for the near term,
``lookahead_retrain_every`` for the look-ahead; ``forecasting.grid``), when a series it never
saw appears, or when it does not cover the steps asked for. The cache also keeps the process's
accuracy tracker (``forecasting.review``): ``review_models`` feeds it each cycle's scored points
and drops the models whose accuracy drifted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from forecasting.grid import ForecastGrid
from forecasting.review import FeedbackSettings, ForecastFeedback, Review

if TYPE_CHECKING:
    from forecasting.shelf import ModelShelf

__all__ = ["ModelCache", "review_models"]


@dataclass(frozen=True)
class _Cached:
    model: Any
    at: datetime
    series: frozenset[str]
    steps: tuple[int, int]  # the first and last step it forecasts


@dataclass
class ModelCache:
    """Fitted models kept between cycles of one process, by kind, grid step and role
    (``ForecastGrid.key``); refit after ``every`` (the role's retrain interval), when a series
    the model never saw appears, or when the steps asked for are not all ones it was fitted for
    (the policy's grid, horizon or provisioning window changed). (A Lambda starts cold.)

    ``feedback`` is the accuracy tracker of the same process (``forecasting.review``): which
    series the baseline serves, and the shadow forecasts that let a demoted model recover;
    ``track_feedback`` False (a cache made for one cycle) keeps none. ``shelf`` keeps fits in
    the model store between processes; ``loads`` counts the models taken from it."""

    entries: dict[str, _Cached] = field(default_factory=dict)
    fits: int = 0
    reuses: int = 0
    loads: int = 0
    feedback: ForecastFeedback | None = None
    shelf: ModelShelf | None = None
    track_feedback: bool = True
    #: cache key -> where this cycle's model came from: ``{"source": "fit" | "memory" |
    #: "store", "version": ..., "fitted_at": ...}`` (``begin_cycle`` clears it)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def begin_cycle(self) -> None:
        """Forget the previous cycle's ``sources``."""
        self.sources = {}

    def trained_at(self, grid: ForecastGrid) -> dict[str, datetime]:
        """Model kind -> when its cached model on ``grid``'s step and role was fitted."""
        kinds = sorted({key.split("@", 1)[0] for key in self.entries})
        return {k: self.entries[grid.key(k)].at for k in kinds if grid.key(k) in self.entries}

    def forget(self, kind: str, grid: ForecastGrid) -> bool:
        """Drop ``kind``'s model on ``grid``'s step and role: it is refitted on next use."""
        return self.entries.pop(grid.key(kind), None) is not None

    def get(
        self,
        kind: str,
        now: datetime,
        series: set[str],
        every: timedelta,
        steps: tuple[int, int] = (1, 1),
        like: Callable[[], Any] | None = None,
    ) -> Any:
        """The model cached under ``kind`` (a ``ForecastGrid.key``) when still fresh and
        covering ``series`` and ``steps``, else the shelf's (``like`` builds an unfitted model
        to compare settings with), else None: fit one and ``put`` it."""
        hit = self.entries.get(kind)
        if hit is not None and _fresh(hit, now, series, every, steps):
            self.reuses += 1
            self.sources[kind] = {"source": "memory", "fitted_at": hit.at.isoformat()}
            return hit.model
        found = self.shelf.fetch(kind, now, series, every, steps, like) if self.shelf else None
        if found is None:
            return None
        self.loads += 1
        self.entries[kind] = _Cached(found.model, found.fitted_at, frozenset(series), steps)
        self.sources[kind] = {
            "source": "store",
            "version": found.version,
            "fitted_at": found.fitted_at.isoformat(),
        }
        return found.model

    def put(
        self,
        kind: str,
        model: Any,
        now: datetime,
        series: set[str],
        steps: tuple[int, int] = (1, 1),
    ) -> None:
        self.fits += 1
        self.entries[kind] = _Cached(model, now, frozenset(series), steps)
        self.sources[kind] = {"source": "fit", "fitted_at": now.isoformat()}
        if self.shelf is not None:
            version = self.shelf.keep(kind, model, now, series, steps)
            if version is not None:
                self.sources[kind]["version"] = version


def _fresh(
    hit: _Cached, now: datetime, series: set[str], every: timedelta, steps: tuple[int, int]
) -> bool:
    covers = hit.steps[0] <= steps[0] and steps[1] <= hit.steps[1]
    return hit.at <= now < hit.at + every and series <= hit.series and covers


def review_models(
    cache: ModelCache,
    settings: FeedbackSettings,
    scored: pl.DataFrame,
    demand: pl.DataFrame,
    grid: ForecastGrid,
    now: datetime,
) -> Review:
    """Feed ``scored`` (``SCORED_SCHEMA``) to the cache's tracker (made on first use) and drop
    the near-term model of every kind whose accuracy drifted, so this cycle refits it."""
    if cache.feedback is None:
        cache.feedback = ForecastFeedback(settings)
    near = grid.near_term()
    review = cache.feedback.review(
        scored,
        demand,
        now=now,
        season=grid.step * grid.season_steps,
        trained=cache.trained_at(near),
        every=grid.retrain_every,
    )
    for refit in review.refits:
        cache.forget(refit.kind, near)
    return review
