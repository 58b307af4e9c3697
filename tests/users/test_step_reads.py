"""The users steps read only the hours of their window, and every row of it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl

from providers.models import TimeWindow
from reconciler.history import HistoryStore
from reconciler.steps.users import _accesses, _requests
from reconciler.users.models import ACCESS_SCHEMA
from tests.users.frames import T0, bucket, buckets


def test_a_window_reads_its_rows_across_hours_and_days(tmp_path: Path) -> None:
    store = HistoryStore(str(tmp_path / "h"))
    # buckets every 25 minutes from 23:00 the day before T0 to 02:20 on T0's day
    times = [T0 - timedelta(hours=1) + timedelta(minutes=25 * i) for i in range(9)]
    for i, ts in enumerate(times):
        rows = buckets(bucket(ts=ts, requests=i + 1))
        access = pl.DataFrame(
            [{"ts": ts, "user": "u1", "object": f"/o{i}", "bytes_out": 1}], schema=ACCESS_SCHEMA
        )
        store.write_requests(f"s3://logs/{i}", rows, access, [])
    for start, end in (
        (T0 - timedelta(minutes=40), T0 + timedelta(minutes=50)),  # from 23:20, over midnight
        (T0 + timedelta(minutes=30), T0 + timedelta(hours=3)),  # from 00:30: 00:00 is out
        (T0 - timedelta(days=2), T0 - timedelta(days=1)),  # nothing
    ):
        window = TimeWindow(start=start, end=end)
        want = [i + 1 for i, ts in enumerate(times) if start <= ts < end]
        got = _requests(store, window).sort("ts").get_column("requests").to_list()
        assert got == want
        assert _accesses(store, window).height == len(want)
