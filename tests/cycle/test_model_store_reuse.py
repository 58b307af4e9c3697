"""Cycles in fresh processes (a Lambda, ``run --once``) reuse the model the last cycle fitted,
from the model store, until its retrain interval; a stored model damaged between cycles is
quarantined and refitted, and the cycle goes on (issue 13, finding 14)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.cycle import FleetSpec, synthetic_fleet
from forecasting.grid import ForecastGrid
from forecasting.lgbm import LightGBMForecaster
from forecasting.serve import default_model
from reconciler.clock import SimulatedClock
from reconciler.handler import handle
from reconciler.loop import RunReport, run_once
from reconciler.steps.build import CycleSettings, build_context
from tests.cycle.test_full_cycle import NOW, ROOT, fast_policy
from tests.cycle.test_full_cycle import settings as settings  # the same fixture

NEAR = "lightgbm@300s/near-term"


class _Counted(LightGBMForecaster):
    """The real LightGBM forecaster, counting its fits."""

    fits = 0

    def fit(self, *args: Any, **kwargs: Any) -> _Counted:
        type(self).fits += 1
        return super().fit(*args, **kwargs)


def _counted(kind: str, grid: ForecastGrid) -> Any:
    model = default_model(kind, grid)
    if isinstance(model, LightGBMForecaster):
        counted = _Counted.__new__(_Counted)
        counted.__dict__.update(model.__dict__)
        return counted
    return model


def _cycle(settings: CycleSettings, clock: SimulatedClock, provider: Any) -> RunReport:
    """One cycle in a context of its own, as a Lambda invocation builds it (no cache given)."""
    ctx = build_context(settings, clock=clock, provider=provider, policy=fast_policy())
    ctx.steps.make_model = _counted  # type: ignore[attr-defined]
    report = run_once(ctx)
    assert report.ok, report.error
    return report


def _sources(report: RunReport) -> dict[str, Any]:
    sources: dict[str, Any] = report.step("forecast").summary["model_sources"]
    return sources


def test_the_next_cycle_reuses_the_stored_model_and_refits_a_damaged_one(
    settings: CycleSettings,
) -> None:
    provider = synthetic_fleet(
        FleetSpec(resources=24, groups=4, metric_days=3.2), NOW + timedelta(hours=1)
    )
    clock = SimulatedClock(NOW)
    _Counted.fits = 0
    first = _sources(_cycle(settings, clock, provider))
    assert first[NEAR]["source"] == "fit" and first[NEAR]["version"] == 1
    fitted = _Counted.fits
    assert fitted >= 1

    clock.advance(timedelta(minutes=15))
    second = _sources(_cycle(settings, clock, provider))
    assert second[NEAR] == {"source": "store", "version": 1, "fitted_at": NOW.isoformat()}
    assert _Counted.fits == fitted  # no LightGBM fit: the stored one served

    stored = Path(settings.history_root) / "models" / "lightgbm-300s-near-term"
    booster = stored / "v0001" / "booster_0.txt"
    booster.write_bytes(booster.read_bytes()[: booster.stat().st_size // 2])  # crashed before
    clock.advance(timedelta(minutes=15))
    third = _sources(_cycle(settings, clock, provider))
    assert third[NEAR]["source"] == "fit" and _Counted.fits == fitted + 1
    assert third[NEAR]["version"] == 2  # a quarantined version's number is not reused
    (kept,) = (stored / "quarantine").iterdir()
    assert (kept / "booster_0.txt").exists()  # kept aside, not deleted
    assert "booster_0.txt" in (kept / "reason.txt").read_text()

    clock.advance(timedelta(hours=6))  # the near-term retrain interval: refit, not reuse
    fourth = _sources(_cycle(settings, clock, provider))
    assert fourth[NEAR]["source"] == "fit" and _Counted.fits == fitted + 2


def test_lambda_invocations_reuse_the_stored_model(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"  # groups form in the first cycle, as fast_policy's do
    default = (ROOT / "policies" / "examples" / "default.yaml").read_text()
    policy.write_text(default.replace("form_cycles: 3", "form_cycles: 1"))
    env = {
        "HEADROOM_POLICY": str(policy),
        "HEADROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "HEADROOM_HISTORY_URL": str(tmp_path / "history"),
        "HEADROOM_REGIONS": "us-east-1",
    }
    provider = synthetic_fleet(
        FleetSpec(resources=24, groups=4, metric_days=3.2), NOW + timedelta(hours=1)
    )
    clock = SimulatedClock(NOW)
    event = {"source": "aws.events", "dry_run": True}
    bodies = []
    for _ in range(2):
        bodies.append(handle(event, env, provider=provider, clock=clock))
        clock.advance(timedelta(minutes=15))
    for body in bodies:
        assert body["status"] == "ok", body["error"]
    first, second = (
        next(s for s in b["steps"] if s["name"] == "forecast")["summary"]["model_sources"]
        for b in bodies
    )
    assert first[NEAR]["source"] == "fit"
    assert second[NEAR] == {"source": "store", "version": 1, "fitted_at": NOW.isoformat()}
