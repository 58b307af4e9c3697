"""Each cycle's review of the forecasters: scored points -> accuracy tracker -> decisions.

``ForecastFeedback`` keeps an ``AccuracyTracker`` (and its store) across the cycles of one
process. Each cycle it is handed the previous forecasts whose time has come next to the demand
seen, and returns a ``Review``:

- every point is recorded with the seasonal naive baseline's point forecast for the same time
  (the value one season earlier: what ``SeasonalNaive`` forecasts for a horizon within a season);
- a (group, metric) whose model loses to the baseline in the last windows is *demoted*: the
  baseline serves it until the model wins again (``AccuracyTracker.choose_models``). A demoted
  series' model keeps forecasting in the shadow (``keep_shadow``): those forecasts are what is
  scored for it, so it can recover;
- a model kind whose recent error or coverage drifted is *refitted* (``needs_retrain``), at most
  once per tracker window, so a drift a refit does not cure does not refit every cycle.

Decisions are data with their reasons; the forecast step applies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from forecasting.feedback import (
    RECORD_SCHEMA,
    AccuracyStore,
    AccuracyTracker,
    InMemoryAccuracyStore,
    ModelChoice,
)

__all__ = [
    "SCORED_SCHEMA",
    "SHADOW_SCHEMA",
    "FeedbackSettings",
    "ForecastFeedback",
    "Refit",
    "Review",
]

_TS = pl.Datetime("us", "UTC")

#: Previous forecast points next to the demand seen (``ForecastFeedback.review``'s input).
SCORED_SCHEMA = pl.Schema(
    {
        "group_id": pl.String(),
        "metric": pl.String(),
        "ts": _TS,
        "p50": pl.Float64(),
        "p90": pl.Float64(),
        "p99": pl.Float64(),
        "actual": pl.Float64(),
        "model_version": pl.String(),
    }
)

#: A demoted series' own model's forecasts, kept to be scored next cycle.
SHADOW_SCHEMA = pl.Schema(
    {
        "group_id": pl.String(),
        "metric": pl.String(),
        "ts": _TS,
        "p50": pl.Float64(),
        "p90": pl.Float64(),
        "p99": pl.Float64(),
        "model_version": pl.String(),
    }
)

_KEY = ["group_id", "metric", "ts"]


@dataclass(frozen=True)
class FeedbackSettings:
    """The tracker's windows and thresholds (``AccuracyTracker``, ``needs_retrain``)."""

    window: timedelta = timedelta(hours=6)
    demote_windows: int = 3
    recover_windows: int = 3
    margin: float = 0.05
    min_points: int = 6
    drift_ratio: float = 1.5
    coverage_tolerance: float = 0.1


@dataclass(frozen=True)
class Refit:
    """A model kind refitted this cycle because its accuracy drifted, and the evidence."""

    kind: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Review:
    """What one cycle's review decided: the series the baseline serves now (``demoted``),
    the demotions and restorations made this cycle, and the kinds to refit for drift."""

    recorded: int = 0
    demoted: frozenset[tuple[str, str]] = frozenset()
    changes: tuple[ModelChoice, ...] = ()
    refits: tuple[Refit, ...] = ()

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "recorded": self.recorded,
            "demoted": len(self.demoted),
            "retrained": len(self.refits),
        }
        if self.demoted:
            out["served_by_baseline"] = sorted(f"{g}|{m}" for g, m in self.demoted)
        if self.changes:
            out["changes"] = [
                {"series": f"{c.group_id}|{c.metric}", "use": c.use, "reason": c.reason}
                for c in self.changes
            ]
        if self.refits:
            out["refits"] = [{"kind": r.kind, "reason": r.reason} for r in self.refits]
        return out


class ForecastFeedback:
    """The accuracy tracker and the shadow forecasts of demoted series, kept between cycles."""

    def __init__(
        self, settings: FeedbackSettings | None = None, store: AccuracyStore | None = None
    ) -> None:
        self.settings = s = settings or FeedbackSettings()
        self.tracker = AccuracyTracker(
            store if store is not None else InMemoryAccuracyStore(),
            window=s.window,
            demote_windows=s.demote_windows,
            recover_windows=s.recover_windows,
            margin=s.margin,
            min_points=s.min_points,
        )
        self.shadow = pl.DataFrame(schema=SHADOW_SCHEMA)
        self._seen: dict[tuple[str, str], datetime] = {}
        self._drift_refit: dict[str, datetime] = {}

    def demoted(self) -> frozenset[tuple[str, str]]:
        """The (group, metric) series the baseline serves."""
        return frozenset(k for k, use in self.tracker.store.statuses().items() if use == "baseline")

    def review(
        self,
        scored: pl.DataFrame,
        demand: pl.DataFrame,
        *,
        now: datetime,
        season: timedelta,
        trained: Mapping[str, datetime],
        every: timedelta,
    ) -> Review:
        """Record ``scored`` (``SCORED_SCHEMA``: the served forecasts whose time has come) and
        the shadow forecasts of demoted series against ``demand`` (``group_id, metric, ts, y``),
        then decide demotions and drift refits. ``trained``: model kind -> when its model in use
        was fitted; ``every``: its scheduled refit interval (a refit due anyway is no drift)."""
        demoted = self.demoted()
        records = self._records(scored, demand, demoted, season)
        if records.height:
            self.tracker.record_frame(records)
        changes = tuple(c for c in self.tracker.choose_models(now=now) if c.changed)
        return Review(
            recorded=records.height,
            demoted=self.demoted(),
            changes=changes,
            refits=tuple(self._refits(now, trained, every)),
        )

    def keep_shadow(self, frame: pl.DataFrame) -> None:
        """This cycle's own-model forecasts of the demoted series (``SHADOW_SCHEMA``), scored
        next cycle in place of the baseline they were served by."""
        self.shadow = frame.select(list(SHADOW_SCHEMA)).cast(SHADOW_SCHEMA)  # type: ignore[arg-type]

    def _records(
        self,
        scored: pl.DataFrame,
        demand: pl.DataFrame,
        demoted: frozenset[tuple[str, str]],
        season: timedelta,
    ) -> pl.DataFrame:
        actual = demand.select("group_id", "metric", pl.col("ts").cast(_TS), "y")
        pairs = pl.DataFrame(
            [list(p) for p in demoted], schema=["group_id", "metric"], orient="row"
        ).cast(pl.String)
        served = scored.select(list(SCORED_SCHEMA)).cast(SCORED_SCHEMA)  # type: ignore[arg-type]
        # a demoted series was served by the baseline: its own model's shadow is scored instead
        served = served.join(pairs, on=["group_id", "metric"], how="anti")
        shadow = (
            self.shadow.join(pairs, on=["group_id", "metric"], how="semi")
            .join(actual.rename({"y": "actual"}), on=_KEY, how="inner")
            .select(list(SCORED_SCHEMA))
        )
        baseline = actual.select(
            "group_id", "metric", (pl.col("ts") + season).alias("ts"), pl.col("y").alias("_b")
        )
        rows = (
            pl.concat([served, shadow])
            .unique(subset=_KEY, keep="first")
            .join(baseline, on=_KEY, how="left")
            .rename({"_b": "baseline_p50"})
        )
        seen = pl.DataFrame(
            [(g, m, t) for (g, m), t in self._seen.items()],
            schema={"group_id": pl.String, "metric": pl.String, "_seen": _TS},
            orient="row",
        )
        # a point already recorded (a cycle that failed after scoring, say) is not counted twice
        rows = (
            rows.join(seen, on=["group_id", "metric"], how="left")
            .filter(pl.col("_seen").is_null() | (pl.col("ts") > pl.col("_seen")))
            .drop("_seen")
            .select(list(RECORD_SCHEMA))
        )
        for g, m, t in rows.group_by("group_id", "metric").agg(pl.col("ts").max()).iter_rows():
            self._seen[(str(g), str(m))] = t
        return rows

    def _refits(
        self, now: datetime, trained: Mapping[str, datetime], every: timedelta
    ) -> list[Refit]:
        out = []
        for kind, at in sorted(trained.items()):
            last = self._drift_refit.get(kind)
            if last is not None and now - last < self.settings.window:
                continue  # refitted for drift within the window: its own forecasts come first
            decision = self.tracker.needs_retrain(
                now=now,
                last_trained=at,
                every=every,
                drift_ratio=self.settings.drift_ratio,
                coverage_tolerance=self.settings.coverage_tolerance,
                model_version=kind,
            )
            if decision.cause == "drift":
                self._drift_refit[kind] = now
                out.append(Refit(kind, decision.reason, dict(decision.evidence)))
        return out
