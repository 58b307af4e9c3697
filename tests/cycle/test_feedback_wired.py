"""The forecast step feeds its scored points to the accuracy tracker every cycle, through
``run_once``: a model that loses to the seasonal naive baseline is demoted (the baseline serves
its series, the summary says why), a model as good as the baseline is not, and a model whose
error drifts is refitted. The tracker lives in the process's model cache between cycles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from bench.cycle import FleetSpec, synthetic_fleet
from forecasting.baseline import SeasonalNaive
from forecasting.cache import ModelCache
from forecasting.grid import ForecastGrid, ForecastSettings
from forecasting.review import FeedbackSettings
from reconciler.clock import SimulatedClock
from reconciler.loop import CycleOutputs, RunReport, run_once
from reconciler.steps.build import CycleSettings, build_context
from reconciler.steps.package import StepSettings
from reconciler.steps.types import ForecastSet
from tests.cycle.test_full_cycle import fast_policy

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
CYCLE = timedelta(minutes=15)
BANDWIDTH = "network_gbps"
#: small windows so a few 15-minute cycles decide: two losing windows demote, coverage is
#: left out (a handful of points per window says little about it)
FEEDBACK = FeedbackSettings(
    window=CYCLE, demote_windows=2, recover_windows=2, min_points=2, coverage_tolerance=1.0
)


class _Scaled:
    """The seasonal naive times ``factor`` (from the ``after``-th predict on): a deliberately
    wrong forecaster when the factor is not 1."""

    def __init__(self, grid: ForecastGrid, factor: float, after: int = 0) -> None:
        self.inner = SeasonalNaive(
            season_length=grid.season_steps, freq=f"{int(grid.step.total_seconds())}s"
        )
        self.factor, self.after, self.predicts = factor, after, 0

    def fit(self, df: pl.DataFrame) -> _Scaled:
        self.inner.fit(df)
        return self

    def predict(self, horizon: int, history: pl.DataFrame | None = None) -> pl.DataFrame:
        self.predicts += 1
        out = self.inner.predict(horizon, history=history)
        f = self.factor if self.predicts > self.after else 1.0
        return out.with_columns(pl.col("p50", "p90", "p99") * f)


def _models(factor: float, after: int = 0) -> Callable[[str, ForecastGrid], Any]:
    """The 'lightgbm' kind is ``_Scaled``; the baseline is the real seasonal naive."""

    def make(kind: str, grid: ForecastGrid) -> Any:
        if kind == "lightgbm":
            return _Scaled(grid, factor, after)
        return SeasonalNaive(
            season_length=grid.season_steps, freq=f"{int(grid.step.total_seconds())}s"
        )

    return make


def _cycles(
    tmp_path: Path, make_model: Callable[[str, ForecastGrid], Any], n: int
) -> tuple[list[RunReport], list[ForecastSet], ModelCache]:
    # 2.5 days of metrics (the 'lightgbm' kind serves from 1.5 days) and flows from 2 h before
    # the first cycle, running on past the cycles so each one collects new points and scores
    # the previous cycle's forecasts
    provider = synthetic_fleet(
        FleetSpec(resources=9, groups=3, metric_days=2.5, flow_hours=5, surge_group=None),
        NOW + timedelta(hours=3),
    )
    settings = CycleSettings(
        policy_path=ROOT / "policies" / "examples" / "default.yaml",
        history_root=str(tmp_path / "history"),
        state_dir=tmp_path / "state",
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        steps=StepSettings(forecast=ForecastSettings(min_lgbm_days=1.5), feedback=FEEDBACK),
    )
    clock = SimulatedClock(NOW)
    policy = fast_policy()
    cache = ModelCache()
    reports: list[RunReport] = []
    forecasts: list[ForecastSet] = []

    def keep(report: RunReport, out: CycleOutputs) -> None:
        assert out.forecasts is not None
        forecasts.append(out.forecasts)

    for _ in range(n):
        ctx = build_context(settings, clock=clock, provider=provider, policy=policy, models=cache)
        ctx.steps.make_model = make_model  # type: ignore[attr-defined]
        ctx.observer = keep
        reports.append(run_once(ctx))
        assert reports[-1].ok, reports[-1].error
        clock.advance(CYCLE)
    return reports, forecasts, cache


def _feedback(report: RunReport) -> dict[str, Any]:
    summary: dict[str, Any] = report.step("forecast").summary["feedback"]
    return summary


def test_a_model_that_loses_to_the_baseline_is_demoted_and_the_baseline_serves(
    tmp_path: Path,
) -> None:
    reports, forecasts, cache = _cycles(tmp_path, _models(3.0), 4)
    summaries = [_feedback(r) for r in reports]
    assert summaries[0]["recorded"] == 0  # nothing to score yet
    assert all(s["recorded"] > 0 for s in summaries[1:])  # scored errors feed the tracker
    demoted_at = next(i for i, s in enumerate(summaries) if s["demoted"])
    last = summaries[-1]
    assert last["demoted"] == 3  # every group's bandwidth series
    served = set(last["served_by_baseline"])
    assert served == {f"{g}|{BANDWIDTH}" for g in forecasts[-1].model_by_group}
    change = summaries[demoted_at]["changes"][0]
    assert change["use"] == "baseline" and change["reason"].startswith("demoted: model MAE")
    # the baseline serves the demoted series from the cycle that demoted them
    for f in forecasts[demoted_at:]:
        assert set(f.model_by_series.values()) == {"seasonal-naive"}
    assert set(forecasts[0].model_by_series.values()) == {"lightgbm"}
    # the demoted series' own model still forecasts in the shadow, to be scored next cycle
    assert cache.feedback is not None and cache.feedback.shadow.height > 0


def test_a_model_as_good_as_the_baseline_is_not_demoted(tmp_path: Path) -> None:
    reports, forecasts, _ = _cycles(tmp_path, _models(1.0), 4)
    summaries = [_feedback(r) for r in reports]
    assert sum(s["recorded"] for s in summaries) > 0
    assert all(s["demoted"] == 0 and s["retrained"] == 0 for s in summaries)
    assert all(set(f.model_by_series.values()) == {"lightgbm"} for f in forecasts)


def test_a_model_whose_error_drifts_is_refitted(tmp_path: Path) -> None:
    # good for its first two cycles' predicts (near term and look-ahead models are separate
    # instances: each is asked once per cycle), then four times the baseline
    reports, _, cache = _cycles(tmp_path, _models(4.0, after=2), 5)
    summaries = [_feedback(r) for r in reports]
    refitted = [i for i, s in enumerate(summaries) if s["retrained"]]
    assert refitted, summaries
    (refit,) = summaries[refitted[0]]["refits"]
    assert refit["kind"] == "lightgbm" and refit["reason"].startswith("error drift")
    assert cache.fits > 2  # the near-term and look-ahead fits of the first cycle, and the refit
