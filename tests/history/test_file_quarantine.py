"""Finding 11 of issue 13, the reading half: a truncated or corrupt Parquet file found in the
history store (left by an older version or a disk fault) is moved aside to
``quarantine/files/`` with its reason, never deleted, logged once by name, and every query
goes on with the rest, on a local disk (Polars' own scan) and on an fsspec store (pyarrow)."""

from __future__ import annotations

import logging

import pytest

from reconciler.history import HistoryStore, ingest
from tests.history.hourly import WINDOW, chunk, filled, store

__all__ = ["store"]  # the fixture: every test on a local disk and on an fsspec store


def _truncate(store: HistoryStore, kind: str, hour: int) -> str:
    [path] = store.fs.glob(f"{store.root}/{kind}/date=2026-01-01/hour={hour:02d}/*.parquet")
    data = store.fs.cat_file(path)
    store.fs.pipe_file(path, data[: len(data) // 2])
    return str(path)


def test_a_truncated_flow_file_is_quarantined_and_the_query_goes_on(
    store: HistoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    filled(store)
    bad = _truncate(store, "flows", 1)
    _truncate(store, "pairs", 1)
    with caplog.at_level(logging.WARNING, logger="reconciler.history"):
        edges = store.edges(WINDOW)
        again = store.edges(WINDOW)
    assert sorted(edges.get_column("bytes").to_list()) == [100, 102] and again.equals(edges)
    ours = [r for r in caplog.records if r.name.startswith("reconciler")]  # not moto's access log
    lines = [r.getMessage() for r in ours if bad in r.getMessage()]
    assert len(lines) == 1 and "quarantined" in lines[0]
    files = store.quarantined_files()
    assert sorted(files.get_column("kind").to_list()) == ["flows", "pairs"]
    row = files.filter(files["kind"] == "flows").row(0, named=True)
    assert row["path"] == bad and row["reason"].startswith("unreadable Parquet")
    assert store.fs.exists(row["moved_to"]) and not store.fs.exists(bad)  # moved, not deleted
    assert store.file_quarantine_counts() == {"unreadable Parquet": 2}
    # The source of the lost hour is no longer marked ingested: a later collect reads it again.
    assert not store.is_ingested("s3://b/k1") and store.is_ingested("s3://b/k0")
    ingest([chunk("s3://b/k1", 1, 101)], store)
    assert sorted(store.edges(WINDOW).get_column("bytes").to_list()) == [100, 101, 102]


def test_direct_scans_skip_a_quarantined_file(store: HistoryStore) -> None:
    """What the collect step reads (``scan_flows``/``scan_metrics``) goes on too."""
    filled(store)
    _truncate(store, "flows", 0)
    _truncate(store, "metrics", 2)
    assert store.scan_flows().collect().height == 2
    assert store.scan_metrics().collect().get_column("value").to_list() == [1.0, 2.0]
    assert store.quarantined_files().height == 2


def test_metric_queries_go_on_without_a_corrupt_file(store: HistoryStore) -> None:
    filled(store)
    _truncate(store, "metrics", 0)
    points = store.metric_points(WINDOW)
    assert points.get_column("value").to_list() == [2.0, 3.0]


def test_corrupt_data_behind_a_sound_footer_is_found_when_a_query_fails(
    store: HistoryStore,
) -> None:
    """A damaged data page passes the footer check; the failing query reads every file
    through, quarantines the damaged one and answers from the rest."""
    filled(store)
    [path] = store.fs.glob(f"{store.root}/flows/date=2026-01-01/hour=02/*.parquet")
    data = bytearray(store.fs.cat_file(path))
    for i in range(4, min(len(data) - 200, 400)):
        data[i] ^= 0x5A
    store.fs.pipe_file(path, bytes(data))
    [pairs] = store.fs.glob(f"{store.root}/pairs/date=2026-01-01/hour=02/*.parquet")
    store.fs.rm_file(pairs)  # so the edges come from the flow records themselves
    assert sorted(store.edges(WINDOW).get_column("bytes").to_list()) == [100, 101]
    assert store.quarantined_files().get_column("path").to_list() == [path]


def test_a_second_corrupt_file_with_the_same_name_is_kept_beside_the_first(
    store: HistoryStore,
) -> None:
    filled(store)
    _truncate(store, "flows", 0)
    store.scan_flows().collect()
    ingest([chunk("s3://b/k0", 0, 100)], store)
    _truncate(store, "flows", 0)
    store.scan_flows().collect()
    moved = store.quarantined_files().get_column("moved_to").to_list()
    assert len(set(moved)) == 2 and all(store.fs.exists(m) for m in moved)
