"""The forecast grid: how far each of the two models (near-term, look-ahead) reaches.

``ForecastSettings.resolve`` turns the policy's ``forecast`` section (frequency, horizon) and the
provisioning window into a ``ForecastGrid``: the grid step, the whole horizon and the near-term
model's part of it. Its ``near_term()`` and ``look_ahead()`` grids are what each of the two
models is built on and cached by (``ModelCache``), so a model is refitted on its own schedule:
the near-term one after ``retrain_every``, the look-ahead one after ``lookahead_retrain_every``
(``forecasting.cache``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from policies.durations import format_duration
from policies.schema import ForecastSettings as PolicyForecast

__all__ = ["MIN_NEAR_TERM", "ForecastGrid", "ForecastSettings"]

#: The near-term model reaches at least this far (the 12 steps of 5 minutes it always had).
MIN_NEAR_TERM = timedelta(hours=1)


@dataclass(frozen=True)
class ForecastGrid:
    """The forecast step's resolved parameters: grid step, steps ahead, steps per season (one
    day), model choice and refits. ``notes`` says what was adjusted (a horizon cut to a day).

    ``horizon_steps`` is the whole horizon and ``near_steps`` the near-term model's part of it;
    ``near_term()`` and ``look_ahead()`` are the grids each model is built and cached on (a
    model's grid forecasts steps ``first_step..horizon_steps``)."""

    step: timedelta = timedelta(minutes=5)
    horizon_steps: int = 288
    season_steps: int = 288
    near_steps: int = 12
    first_step: int = 1
    min_lgbm_days: float = 3.0
    lgbm_estimators: int = 60
    retrain_every: timedelta = timedelta(hours=6)
    lookahead_retrain_every: timedelta = timedelta(hours=24)
    notes: tuple[str, ...] = ()
    #: how far past now the near term must reach (the provisioning window, at least an hour)
    reach: timedelta = MIN_NEAR_TERM
    #: the look-ahead model's first step when not ``near + 1`` (``anchored``); 0: ``near + 1``
    ahead_from: int = 0

    @property
    def horizon(self) -> timedelta:
        return self.step * self.horizon_steps

    @property
    def near(self) -> int:
        """Steps the near-term model forecasts: the whole provisioning window (at most one
        season) even when the policy's horizon is shorter."""
        return self.near_steps

    def anchored(self, last: datetime, now: datetime) -> ForecastGrid:
        """This grid with the near term counted from ``last`` (the oldest series' last point,
        where the models forecast from) so its rows reach ``now + reach``: CloudWatch stamps a
        period with its start and data arrives late, so ``last`` is usually a step or more
        before ``now``. At most one season; a cap is said in ``notes``. The look-ahead model
        keeps its first step (``near`` counted from now, + 1), so a data delay that varies by a
        step between cycles does not refit it; its rows the near term covers are dropped."""
        wanted = max(self.near_steps, -(-(now + self.reach - last) // self.step))
        near = min(wanted, self.season_steps)
        if near == self.near_steps:
            return self
        notes = self.notes
        if wanted > self.season_steps and not any("provisioning window" in n for n in notes):
            notes = (*notes, _window_note(self.reach, self.step, self.season_steps))
        ahead_from = self.ahead_from or self.near_steps + 1
        return replace(self, near_steps=near, notes=notes, ahead_from=ahead_from)

    def near_term(self) -> ForecastGrid:
        return replace(self, horizon_steps=self.near, near_steps=self.near, first_step=1)

    def look_ahead(self) -> ForecastGrid | None:
        """The look-ahead model's grid (steps ``near + 1 .. horizon_steps``, or from
        ``ahead_from``), or None when the near term covers the horizon: then no second model."""
        if self.first_step != 1 or self.horizon_steps <= self.near:
            return None
        return replace(self, first_step=self.ahead_from or self.near + 1)

    @property
    def role(self) -> str:
        return "near-term" if self.first_step == 1 else "look-ahead"

    def key(self, kind: str) -> str:
        """A model cache key by kind, grid step and role; which steps a cached model covers is
        checked on lookup (``ModelCache.get``)."""
        return f"{kind}@{int(self.step.total_seconds())}s/{self.role}"


@dataclass(frozen=True)
class ForecastSettings:
    """Forecast step settings; ``step`` and ``horizon`` left ``None`` are the policy's
    ``forecast.frequency`` and ``forecast.horizon`` (explicit values are for tests and
    benchmarks). LightGBM serves series with ``min_lgbm_days`` of history; the near-term model
    is refitted after ``retrain_every``, the look-ahead one after ``lookahead_retrain_every``."""

    step: timedelta | None = None
    horizon: timedelta | None = None
    min_lgbm_days: float = 3.0
    lgbm_estimators: int = 60
    retrain_every: timedelta = timedelta(hours=6)
    lookahead_retrain_every: timedelta = timedelta(hours=24)

    def resolve(
        self, policy: PolicyForecast | None = None, window: timedelta | None = None
    ) -> ForecastGrid:
        """The grid for one cycle: ``horizon / step`` steps ahead (at least one), at most one
        season (``1 day / step``; ``forecasting.lgbm`` refuses a horizon past its shortest
        seasonal lag). The near-term model covers the provisioning ``window`` (at least
        ``MIN_NEAR_TERM``, at most one season, whatever the horizon: sizing reads it)."""
        base = policy if policy is not None else PolicyForecast()
        step = self.step if self.step is not None else base.frequency
        horizon = self.horizon if self.horizon is not None else base.horizon
        day = timedelta(days=1)
        if step <= timedelta(0) or day % step:
            raise ValueError(f"forecast step {format_duration(step)} does not divide one day")
        season = day // step
        wanted = max(1, -(-horizon // step))  # ceiling: the horizon is covered
        notes: tuple[str, ...] = ()
        if wanted > season:
            notes = (
                f"horizon {format_duration(horizon)} cut to one season "
                f"({format_duration(day)}, {season} steps of {format_duration(step)}): "
                "the forecaster's shortest seasonal lag",
            )
        steps = min(wanted, season)
        reach = max(MIN_NEAR_TERM, window or timedelta(0))
        near = max(1, -(-reach // step))
        if near > season:
            notes = (*notes, _window_note(reach, step, season))
        return ForecastGrid(
            step=step,
            horizon_steps=steps,
            season_steps=season,
            near_steps=min(near, season),
            reach=reach,
            min_lgbm_days=self.min_lgbm_days,
            lgbm_estimators=self.lgbm_estimators,
            retrain_every=self.retrain_every,
            lookahead_retrain_every=self.lookahead_retrain_every,
            notes=notes,
        )


def _window_note(reach: timedelta, step: timedelta, season: int) -> str:
    return (
        f"provisioning window {format_duration(reach)} capped at one season "
        f"({format_duration(step * season)}, {season} steps of {format_duration(step)}): "
        "sizing reads no further"
    )
