"""A damaged history file does not stop the cycle, and the collect step says how many files have
been moved aside (issue 13, finding 11: counted where an operator looks, the run's step summary)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from policies.loader import parse_policy
from reconciler.clock import SimulatedClock
from reconciler.loop import run_once
from reconciler.steps.build import CycleSettings, build_context
from reconciler.steps.package import StepSettings
from tests.cycle.test_forecast_metrics import NOW, POLICY, _fleet


def test_a_damaged_metrics_file_is_quarantined_and_counted(tmp_path: Path) -> None:
    settings = CycleSettings(
        policy_path=tmp_path / "unused.yaml",
        history_root=str(tmp_path / "history"),
        state_dir=tmp_path / "state",
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        steps=StepSettings(collect_lookback=timedelta(hours=6)),
    )
    clock = SimulatedClock(NOW)
    provider = _fleet(NOW + timedelta(hours=1))

    def cycle() -> dict[str, object]:
        ctx = build_context(settings, clock=clock, provider=provider, policy=parse_policy(POLICY))
        report = run_once(ctx)
        assert report.ok, report.error
        return report.step("collect").summary

    assert cycle()["files_quarantined"] == 0
    victim = sorted((tmp_path / "history" / "metrics").rglob("*.parquet"))[-1]
    victim.write_bytes(victim.read_bytes()[:100])  # a write cut short by a crash
    clock.advance(timedelta(minutes=15))
    assert cycle()["files_quarantined"] == 1
    assert list((tmp_path / "history" / "quarantine").rglob(victim.name))  # aside, not deleted
