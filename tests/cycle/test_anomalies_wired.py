"""The analyze step runs the anomaly detector on this cycle's traffic: ``run_once``'s report
counts and lists the anomalies (resource, group, kind, score, reason); a quiet fleet has none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from bench.cycle import FleetSpec, synthetic_fleet
from providers.fake import FakeProvider
from providers.models import FlowChunk
from reconciler.clock import SimulatedClock
from reconciler.loop import RunReport, run_once
from reconciler.steps.build import CycleSettings, build_context
from tests.cycle.test_full_cycle import fast_policy

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
EXTERNAL = "198.51.100.7"


def _fleet() -> FakeProvider:
    # half a day of metrics: the forecast step serves the recent peak (no model fit, fast)
    return synthetic_fleet(FleetSpec(resources=12, groups=3, metric_days=0.5), NOW)


def _heavy_talker(provider: FakeProvider, talker: str, since: datetime) -> None:
    """``talker`` starts sending 50x its usual traffic to an outside address at ``since``."""
    ip = next(r for r in provider.resources if r.id == talker).interfaces[0].private_ips[0]
    chunks = []
    for chunk in provider.chunks:
        rec = chunk.records
        if rec["start"].min() >= since:
            usual = rec.filter(pl.col("srcaddr") == ip).head(1)
            burst = usual.with_columns(
                pl.lit(EXTERNAL).alias("dstaddr"), (pl.col("bytes") * 50).alias("bytes")
            )
            chunk = FlowChunk(source=chunk.source + "#burst", records=pl.concat([rec, burst]))
        chunks.append(chunk)
    provider.chunks = chunks


def _cycles(tmp_path: Path, provider: FakeProvider, n: int) -> list[RunReport]:
    settings = CycleSettings(
        policy_path=ROOT / "policies" / "examples" / "default.yaml",
        history_root=str(tmp_path / "history"),
        state_dir=tmp_path / "state",
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
    )
    clock = SimulatedClock(NOW)
    policy = fast_policy()
    reports = []
    for _ in range(n):
        ctx = build_context(settings, clock=clock, provider=provider, policy=policy)
        reports.append(run_once(ctx))
        assert reports[-1].ok, reports[-1].error
        clock.advance(timedelta(minutes=5))
    return reports


def test_a_quiet_fleet_reports_no_anomaly(tmp_path: Path) -> None:
    (report,) = _cycles(tmp_path, _fleet(), 1)
    summary = report.step("analyze").summary
    assert summary["nodes"] > 0
    assert summary["anomalies"] == 0
    assert "anomaly_events" not in summary


def test_a_sudden_heavy_talker_is_reported_with_its_resource_and_group(tmp_path: Path) -> None:
    provider = _fleet()
    talker = "i-00000005"
    _heavy_talker(provider, talker, NOW - timedelta(minutes=20))
    first, second = _cycles(tmp_path, provider, 2)

    found = first.step("analyze").summary
    assert found["anomalies"] == 1  # one event per resource, its strongest window
    (event,) = found["anomaly_events"]  # only the talker: the outside address is no resource
    assert event["resource"] == talker and event["kind"] == "traffic_high"
    assert event["score"] >= 5.0 and talker in event["reason"]
    assert "3 windows since 11:40" in event["reason"]  # the newest (filling) window waits
    assert event["group"] is None  # the first cycle has no groups yet

    # the next cycle names the group the talker was in (the previous cycle's groups)
    (again,) = second.step("analyze").summary["anomaly_events"]
    assert again["resource"] == talker and again["group"] is not None
    assert again["group"] in again["reason"]
