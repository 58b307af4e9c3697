"""write_requests: frames already in the table's schema are stored as they are; others are
conformed; a bucket without a time is rejected and an access without one dropped."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from reconciler.history import HistoryStore
from reconciler.users.models import ACCESS_SCHEMA
from tests.users.frames import T0, bucket, buckets


def test_untimed_rows_and_other_types(tmp_path: Path) -> None:
    store = HistoryStore(str(tmp_path / "h"))
    rows = buckets(bucket(requests=2), bucket(ts=None, requests=5))
    narrow = rows.with_columns(pl.col("requests").cast(pl.Int32))  # conformed on the way in
    access = pl.DataFrame(
        [{"ts": T0, "object": "/a", "bytes_out": 1}, {"ts": None, "object": "/b"}],
        schema=ACCESS_SCHEMA,
    )
    result = store.write_requests("s3://logs/1", narrow, access, [])
    assert (result.accepted, result.rejected) == (2, 1)
    assert result.rejected_by_reason == {"no timestamp": 1}
    stored = store.scan_requests().collect()
    assert stored.get_column("requests").to_list() == [2]
    assert stored.schema["requests"] == pl.Int64()
    assert store.scan_accesses().collect().get_column("object").to_list() == ["/a"]
    same = store.write_requests("s3://logs/2", buckets(bucket(requests=3)), access.head(1), [])
    assert (same.accepted, same.rejected) == (3, 0)
    assert sorted(store.scan_requests().collect().get_column("requests").to_list()) == [2, 3]
