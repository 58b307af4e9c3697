"""Metric files merged per closed hour: one file where a 5-minute schedule left twelve, the
same points, nothing of the open hour touched, on a local disk, fsspec's memory store and s3."""

from __future__ import annotations

from datetime import timedelta

from providers.models import MetricName, MetricSeries, TimeWindow
from reconciler.history import HistoryStore
from tests.history.hourly import T0, store

__all__ = ["store"]


def _metric_files(s: HistoryStore) -> list[str]:
    return sorted(s.fs.glob(f"{s.root}/metrics/*/*/*.parquet"))


def _write_like_cycles(s: HistoryStore, hours: int) -> None:
    """What a 5-minute schedule writes: each cycle the points since the last one, one file
    per cycle; the last cycle repeats a point already stored (a re-collected window)."""
    for k in range(hours * 12):
        at = T0 + timedelta(minutes=5 * k)
        s.write_metrics(
            [
                MetricSeries(
                    resource_id=r, metric=MetricName.NETWORK_IN, timestamps=[at], values=[k + i]
                )
                for i, r in enumerate(("i-a", "i-b"))
            ]
        )
    s.write_metrics(
        [MetricSeries(resource_id="i-a", metric=MetricName.NETWORK_IN, timestamps=[T0], values=[0])]
    )


def test_closed_hours_merge_into_one_file_with_the_same_points(store: HistoryStore) -> None:
    _write_like_cycles(store, hours=3)
    window = TimeWindow(start=T0, end=T0 + timedelta(hours=3))
    before = store.metric_points(window)
    assert len(_metric_files(store)) == 37  # 12 cycles an hour for 3 hours, and the repeat
    # hours 0 and 1 have ended by T0 + 2h; hour 2 is still open
    removed = store.compact_metrics(T0 + timedelta(hours=2))
    assert removed == 13 + 12
    files = _metric_files(store)
    per_hour = {p.rsplit("/", 2)[-2] for p in files}
    assert per_hour == {"hour=00", "hour=01", "hour=02"}
    assert sum("hour=02" in p for p in files) == 12 and len(files) == 14
    after = store.metric_points(window)
    assert after.equals(before) and after.height == 3 * 12 * 2
    assert store.compact_metrics(T0 + timedelta(hours=2)) == 0  # nothing left to merge


def test_a_late_point_in_a_merged_hour_is_merged_again(store: HistoryStore) -> None:
    _write_like_cycles(store, hours=1)
    store.compact_metrics(T0 + timedelta(hours=1))
    late = T0 + timedelta(minutes=59)
    store.write_metrics(
        [
            MetricSeries(
                resource_id="i-c", metric=MetricName.NETWORK_IN, timestamps=[late], values=[7]
            )
        ]
    )
    assert len(_metric_files(store)) == 2
    assert store.compact_metrics(T0 + timedelta(hours=1)) == 2
    (only,) = _metric_files(store)
    points = store.metric_points(TimeWindow(start=T0, end=T0 + timedelta(hours=1)))
    assert points.height == 12 * 2 + 1 and "i-c" in points["resource_id"].to_list(), only
