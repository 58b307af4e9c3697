"""Long-running paths keep one model cache across cycles; the demo report's band is the near
term's rows only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from forecasting.cache import ModelCache
from policies.loader import parse_policy
from reconciler.clock import SimulatedClock
from reconciler.loop import CycleOutputs, RunReport, run_once
from reconciler.report.cycles import CycleLog
from reconciler.runner_cli import context_factory
from reconciler.steps.build import CycleSettings
from reconciler.steps.package import StepSettings
from reconciler.steps.types import ForecastSet
from tests.cycle.test_forecast_horizon import HOURLY, NOW, _fleet, _Recorder


def test_scheduled_cycles_reuse_the_fitted_models(tmp_path: Path) -> None:
    settings = CycleSettings(
        policy_path=tmp_path / "unused.yaml",
        history_root=str(tmp_path / "history"),
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        steps=StepSettings(collect_lookback=timedelta(hours=2)),
    )
    provider = _fleet(5)
    for series in provider.series:  # data on to 13:00: what the second cycle collects
        series.timestamps = [t + timedelta(hours=1) for t in series.timestamps]
    clock = SimulatedClock(NOW)
    make = context_factory(settings, provider, parse_policy(HOURLY), "dev", tmp_path, clock=clock)
    _Recorder.calls = []
    fits = []
    for _ in range(2):
        ctx = make()
        ctx.actuator = None  # no Pulumi here: the forecast step is what is checked
        ctx.steps.make_model = _Recorder  # type: ignore[attr-defined]
        assert isinstance(ctx.models, ModelCache)
        assert run_once(ctx).ok
        fits.append(ctx.models.fits)
        clock.advance(timedelta(hours=1))  # the next hourly cycle
    assert make().models is ctx.models  # one cache for the process
    assert make().history is ctx.history  # one store: the files it checked are not reopened
    # both models fitted once; the next cycle, neither is due (6 h, 24 h): no refit
    assert fits == [2, 2] and ctx.models.reuses == 2


def test_the_report_band_leaves_out_the_look_ahead_rows() -> None:
    rows = [
        ("g", "network_gbps", NOW + timedelta(minutes=5 * h), 1.0, 1.0, 1.0, False)
        for h in range(1, 13)
    ] + [("g", "network_gbps", NOW + timedelta(hours=h), 9.0, 9.0, 9.0, True) for h in (2, 3)]
    frame = pl.DataFrame(
        rows,
        schema={
            "group_id": pl.String,
            "metric": pl.String,
            "ts": pl.Datetime("us", "UTC"),
            "p50": pl.Float64,
            "p90": pl.Float64,
            "p99": pl.Float64,
            "lookahead": pl.Boolean,
        },
        orient="row",
    )
    log = CycleLog()
    log.observe(
        RunReport(run_id="r", holder="h", started_at=NOW),
        CycleOutputs(forecasts=ForecastSet(frame)),
    )
    band = log.rolling_forecasts()
    assert band.height == 12 and band["p90"].max() == 1.0
    assert band["ts"].max() == NOW + timedelta(hours=1)


def test_a_kept_history_store_does_not_reopen_the_files_it_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """History written by another process (an earlier run): the scheduler's first cycle opens
    each file's footer once; later cycles, on the same store, open none."""
    from providers.models import MetricName, MetricSeries, TimeWindow
    from reconciler.history import HistoryStore
    from reconciler.history.health import FileGuard

    root = str(tmp_path / "history")
    earlier = HistoryStore(root)
    for h in range(3):
        at = NOW - timedelta(hours=h)
        earlier.write_metrics(
            [
                MetricSeries(
                    resource_id="i-a", metric=MetricName.NETWORK_IN, timestamps=[at], values=[1]
                )
            ]
        )
    opened: list[str] = []
    real = FileGuard._check

    def counted(self: FileGuard, path: str, *args: object, **kwargs: object) -> str | None:
        opened.append(path)
        return real(self, path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(FileGuard, "_check", counted)
    settings = CycleSettings(
        policy_path=tmp_path / "unused.yaml",
        history_root=root,
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
    )
    make = context_factory(settings, _fleet(1), parse_policy(HOURLY), "dev", tmp_path)
    window = TimeWindow(start=NOW - timedelta(hours=4), end=NOW + timedelta(hours=1))
    assert make().history.metric_points(window).height == 3
    assert len(opened) == 3
    assert make().history.metric_points(window).height == 3 and len(opened) == 3
