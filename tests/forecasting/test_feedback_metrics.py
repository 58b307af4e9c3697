"""The feedback loop with several metrics per group: each (group, metric) is scored on its own."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from forecasting.feedback import AccuracyTracker, InMemoryAccuracyStore

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _rows(metric: str, hours: int, actual: float, model_err: float, base_err: float, start=T0):
    return [
        {
            "group_id": "g1",
            "metric": metric,
            "ts": start + timedelta(minutes=5 * k),
            "actual": actual,
            "p50": actual + model_err,
            "p90": actual + model_err + 0.1 * (actual + 1),
            "p99": actual + model_err + 1.0 * (actual + 1),
            "baseline_p50": actual + base_err,
        }
        for k in range(hours * 12)
    ]


def test_metrics_of_one_group_are_rolled_up_and_demoted_separately() -> None:
    store = InMemoryAccuracyStore()
    tracker = AccuracyTracker(store, window=timedelta(hours=1), demote_windows=3)
    rows = _rows("network_gbps", 3, 1.0, model_err=0.01, base_err=0.2)
    rows += _rows("cpu_vcpu", 3, 12.0, model_err=3.0, base_err=0.5)  # CPU model loses
    tracker.record_frame(pl.DataFrame(rows))
    now = T0 + timedelta(hours=3)
    table = tracker.rolling(now=now, windows=3)
    assert table.height == 6  # 2 metrics x 3 windows
    mae = {m: v for m, v in table.group_by("metric").agg(pl.col("mae").mean()).iter_rows()}
    assert mae == {"network_gbps": pytest.approx(0.01), "cpu_vcpu": pytest.approx(3.0)}
    choices = {c.metric: c for c in tracker.choose_models(now=now)}
    assert choices["cpu_vcpu"].use == "baseline" and choices["cpu_vcpu"].changed
    assert choices["network_gbps"].use == "model" and not choices["network_gbps"].changed
    assert store.statuses() == {("g1", "cpu_vcpu"): "baseline"}


def test_an_idle_metric_neither_hides_nor_fakes_drift() -> None:
    tracker = AccuracyTracker(InMemoryAccuracyStore(), window=timedelta(hours=1))
    later = T0 + timedelta(hours=1)
    now = T0 + timedelta(hours=2)
    trained = now - timedelta(hours=3)
    # IO was zero all along (mean |actual| 0: no scaled error); a small p50 above it in the
    # second window must not count as infinite drift
    idle = _rows("io_mbps", 1, 0.0, 0.0, 0.0) + _rows("io_mbps", 1, 0.0, 0.5, 0.0, start=later)
    steady = _rows("network_gbps", 1, 1.0, 0.02, 0.0) + _rows(
        "network_gbps", 1, 1.0, 0.02, 0.0, start=later
    )
    tracker.record_frame(pl.DataFrame(idle + steady))
    stable = tracker.needs_retrain(now=now, last_trained=trained)
    assert not stable.retrain, stable.reason
    assert stable.evidence["recent_scaled_mae"] == pytest.approx(0.02)
    # ... and real drift in bandwidth is still seen beside it
    drifting = AccuracyTracker(InMemoryAccuracyStore(), window=timedelta(hours=1))
    worse = _rows("network_gbps", 1, 1.0, 0.02, 0.0) + _rows(
        "network_gbps", 1, 1.0, 0.2, 0.0, start=later
    )
    drifting.record_frame(pl.DataFrame(idle + worse))
    drift = drifting.needs_retrain(now=now, last_trained=trained)
    assert drift.retrain and "error drift" in drift.reason
