from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from forecasting.feedback import AccuracyTracker, InMemoryAccuracyStore, ParquetAccuracyStore

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _feed(tracker, hours, *, model_err, base_err, start=T0, group="g1"):
    rows = []
    for k in range(hours * 12):
        ts = start + timedelta(minutes=5 * k)
        rows.append(
            {
                "group_id": group,
                "metric": "bandwidth",
                "ts": ts,
                "actual": 100.0,
                "p50": 100.0 + model_err,
                "p90": 100.0 + model_err + (5.0 if k % 10 else -50.0),
                "p99": 200.0,
                "baseline_p50": 100.0 + base_err,
            }
        )
    tracker.record_frame(pl.DataFrame(rows))


def test_record_and_rolling_accuracy():
    tracker = AccuracyTracker(InMemoryAccuracyStore(), window=timedelta(hours=1))
    tracker.record(
        "g1", "cpu", T0, {"p50": 10.0, "p90": 12.0, "p99": 15.0}, 11.0, baseline={"p50": 8.0}
    )
    tracker.record("g1", "cpu", T0 + timedelta(minutes=5), {"p50": 10.0, "p90": 12.0}, 13.0)
    table = tracker.rolling(now=T0 + timedelta(hours=1), windows=1)
    row = table.row(0, named=True)
    assert row["n"] == 2 and row["mae"] == pytest.approx(2.0)
    assert row["baseline_mae"] == pytest.approx(3.0) and row["coverage_p90"] == 0.5
    with pytest.raises(ValueError, match="timezone"):
        tracker.record("g1", "cpu", datetime(2024, 1, 1), {"p50": 1.0}, 1.0)


def test_demotion_and_recovery_are_reported():
    store = InMemoryAccuracyStore()
    tracker = AccuracyTracker(store, window=timedelta(hours=1), demote_windows=3, recover_windows=2)
    _feed(tracker, 3, model_err=10.0, base_err=2.0)
    now = T0 + timedelta(hours=3)
    (choice,) = tracker.choose_models(now=now)
    assert choice.use == "baseline" and choice.changed and "demoted" in choice.reason
    assert len(choice.evidence["relative_mae_by_window"]) == 3
    assert store.statuses()[("g1", "bandwidth")] == "baseline"
    _feed(tracker, 1, model_err=1.0, base_err=2.0, start=now)
    (still,) = tracker.choose_models(now=now + timedelta(hours=1))
    assert still.use == "baseline" and not still.changed
    _feed(tracker, 1, model_err=1.0, base_err=2.0, start=now + timedelta(hours=1))
    (back,) = tracker.choose_models(now=now + timedelta(hours=2))
    assert back.use == "model" and back.changed and "restored" in back.reason


def test_needs_retrain_schedule_and_drift():
    tracker = AccuracyTracker(InMemoryAccuracyStore(), window=timedelta(hours=1))
    now = T0 + timedelta(hours=2)
    assert tracker.needs_retrain(now=now, last_trained=None).retrain
    due = tracker.needs_retrain(now=now, last_trained=now - timedelta(days=2))
    assert due.retrain and "scheduled" in due.reason
    _feed(tracker, 1, model_err=2.0, base_err=2.0)
    _feed(tracker, 1, model_err=8.0, base_err=2.0, start=T0 + timedelta(hours=1))
    drift = tracker.needs_retrain(now=now, last_trained=now - timedelta(hours=3))
    assert drift.retrain and "drift" in drift.reason
    assert drift.evidence["recent_scaled_mae"] == pytest.approx(0.08)


def test_parquet_store_persists(tmp_path: Path):
    store = ParquetAccuracyStore(tmp_path / "acc")
    tracker = AccuracyTracker(store, window=timedelta(hours=1))
    _feed(tracker, 3, model_err=10.0, base_err=2.0)
    tracker.choose_models(now=T0 + timedelta(hours=3))
    reopened = ParquetAccuracyStore(tmp_path / "acc")
    assert reopened.records().height == 36
    assert reopened.statuses() == {("g1", "bandwidth"): "baseline"}
    assert reopened.records(since=T0 + timedelta(hours=2)).height == 12
