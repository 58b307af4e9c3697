"""Request-log history: buckets and sampled accesses stored per hour, once per source, with
rejects kept aside; on a local disk (Polars scans) and on fsspec's memory store (pyarrow)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import fsspec
import polars as pl
import pytest

from providers.models import RejectedRecord
from reconciler.history import HistoryStore
from reconciler.users.models import ACCESS_SCHEMA, REQUEST_BUCKET_SCHEMA
from tests.users.frames import T0, at, bucket, buckets

_HIVE = {"date": pl.String(), "hour": pl.Int32()}


@pytest.fixture(params=["local", "fsspec"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryStore]:
    if request.param == "local":
        yield HistoryStore(str(tmp_path / "h"))
        return
    fs = fsspec.filesystem("memory")
    root = f"/requests-{tmp_path.name}"
    yield HistoryStore(root, fs=fs)
    if fs.exists(root):
        fs.rm(root, recursive=True)


def _accesses(*minutes: float) -> pl.DataFrame:
    rows = [
        {
            "ts": at(m),
            "user": "u1",
            "client_region": "us-east-1",
            "serving_region": "us-east-1",
            "object": f"a.example.com/{{tenant}}/o{i}",
            "bytes_out": 10,
            "hit": None,
        }
        for i, m in enumerate(minutes)
    ]
    return pl.DataFrame(rows, schema=ACCESS_SCHEMA)


def _two_hours() -> tuple[pl.DataFrame, pl.DataFrame]:
    b = buckets(bucket(ts=at(55), requests=2), bucket(ts=at(65), requests=3, resource_id=None))
    return b, _accesses(56, 66, 67)


def test_round_trip_per_hour_with_schemas_and_latest(store: HistoryStore) -> None:
    assert store.latest("requests") is None
    assert store.scan_requests().collect().schema == pl.Schema(REQUEST_BUCKET_SCHEMA | _HIVE)
    b, a = _two_hours()
    result = store.write_requests("s3://logs/alb/1.log.gz#e1", b, a, [])
    assert (result.skipped, result.accepted, result.rejected) == (False, 5, 0)
    files = sorted(p.rsplit("/", 3)[-3] for p in store.fs.glob(f"{store.root}/requests/*/*/*"))
    assert files == ["date=2026-01-01", "date=2026-01-01"]
    hours = sorted(p.split("hour=")[1][:2] for p in store.fs.glob(f"{store.root}/accesses/*/*/*"))
    assert hours == ["00", "01"]
    got = store.scan_requests().collect()
    assert got.drop("date", "hour").schema == pl.Schema(REQUEST_BUCKET_SCHEMA)
    assert sorted(got.get_column("requests").to_list()) == [2, 3]
    assert got.sort("ts").get_column("latency_hist").to_list()[0][5] == 1
    assert got.sort("ts").get_column("resource_id").to_list() == ["i-a", None]
    acc = store.scan_accesses().collect()
    assert acc.drop("date", "hour").schema == pl.Schema(ACCESS_SCHEMA)
    assert acc.height == 3
    assert store.latest("requests") == at(65)
    assert store.latest("accesses") == at(67)


def test_a_source_is_stored_once_and_its_rejects_are_kept_aside(store: HistoryStore) -> None:
    b, a = _two_hours()
    bad = [
        RejectedRecord("s3://logs/x#1", 7, "garbage", "bad field count: 3 of 34"),
        RejectedRecord("s3://logs/x#1", 9, "garbage", "bad field count: 2 of 34"),
        RejectedRecord("s3://logs/x#1", 11, "x", "bad timestamp: yesterday"),
    ]
    first = store.write_requests("s3://logs/x#1", b, a, bad)
    again = store.write_requests("s3://logs/x#1", b, a, bad)
    assert first.rejected_by_reason == {"bad field count": 2, "bad timestamp": 1}
    assert (again.skipped, again.accepted, again.rejected) == (True, 0, 0)
    assert store.is_ingested("s3://logs/x#1")
    assert store.scan_requests().collect().get_column("requests").sum() == 5
    assert store.scan_accesses().collect().height == 3
    assert store.quarantine().height == 3
    assert store.quarantine_counts() == {"bad field count": 2, "bad timestamp": 1}
    other = store.write_requests("s3://logs/x#2", b, a, [])  # a new version of the object
    assert not other.skipped
    assert store.scan_requests().collect().get_column("requests").sum() == 10


def test_a_bucket_without_a_time_is_rejected(store: HistoryStore) -> None:
    b = buckets(bucket(requests=4), bucket(ts=None, requests=2))
    result = store.write_requests("s3://logs/t#1", b, _accesses(1), [])
    assert (result.accepted, result.rejected) == (4, 1)
    assert result.rejected_by_reason == {"no timestamp": 1}
    assert store.scan_requests().collect().get_column("requests").to_list() == [4]


def test_a_frame_missing_a_column_is_refused_by_name(store: HistoryStore) -> None:
    b = buckets(bucket()).drop("latency_hist")
    with pytest.raises(ValueError, match="latency_hist"):
        store.write_requests("s3://logs/m#1", b, _accesses(1), [])
    assert not store.is_ingested("s3://logs/m#1")


def test_a_failed_write_leaves_no_hour_and_no_marker(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    b, a = _two_hours()
    real = store._write_parquet

    def failing(path: str, frame: pl.DataFrame) -> None:
        if "/accesses/" in path and "hour=01" in path:
            raise OSError("disk full")
        real(path, frame)

    monkeypatch.setattr(store, "_write_parquet", failing)
    with pytest.raises(OSError, match="disk full"):
        store.write_requests("s3://logs/f#1", b, a, [])
    assert not store.is_ingested("s3://logs/f#1")
    assert store.fs.glob(f"{store.root}/requests/*/*/*.parquet") == []
    assert store.fs.glob(f"{store.root}/accesses/*/*/*.parquet") == []
    monkeypatch.setattr(store, "_write_parquet", real)
    assert store.write_requests("s3://logs/f#1", b, a, []).accepted == 5


def test_a_damaged_request_file_is_quarantined_and_the_scan_goes_on(store: HistoryStore) -> None:
    b, a = _two_hours()
    store.write_requests("s3://logs/d#1", b, a, [])
    [path] = store.fs.glob(f"{store.root}/requests/date=2026-01-01/hour=01/*.parquet")
    data = store.fs.cat_file(path)
    store.fs.pipe_file(path, data[: len(data) // 2])
    fresh = HistoryStore(store.root, fs=store.fs)  # a new process: the file was never seen
    assert fresh.scan_requests().collect().get_column("requests").to_list() == [2]
    assert fresh.quarantined_files().get_column("kind").to_list() == ["requests"]
    assert fresh.latest("requests") == T0 + timedelta(minutes=55)
    # the source's marker is moved aside: a later collect reads the log object again
    assert not fresh.is_ingested("s3://logs/d#1")
    assert fresh.write_requests("s3://logs/d#1", b, a, []).accepted == 5
    assert sorted(fresh.scan_requests().collect().get_column("requests").to_list()) == [2, 3]
