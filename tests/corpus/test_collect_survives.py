"""Finding 1 of issue 13 end to end: bad objects among good ones in one S3 flow-log source.

The collect step reads every object, quarantines the unreadable ones whole under their key,
stores the rest, and a later cycle over the same window neither fails nor re-reads them.
"""

from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from providers.aws.flowkeys import flow_log_key
from providers.aws.flowsources import S3FlowSource
from providers.models import TimeWindow
from reconciler.history import HistoryStore, ingest
from tests.corpus.bounded import within

ACCOUNT, REGION = "123456789012", "us-east-1"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
V2 = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status"
)


class FakeS3:
    """Just what ``S3FlowSource.chunks`` calls: a paginator over keys and ``get_object``."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.gets: list[str] = []

    def get_paginator(self, name: str) -> FakeS3:
        assert name == "list_objects_v2"
        return self

    def paginate(self, Bucket: str, Prefix: str) -> list[dict[str, Any]]:
        keys = sorted(k for k in self.objects if k.startswith(Prefix))
        return [{"Contents": [{"Key": k, "ETag": f'"{hash(k) & 0xFFFF:x}"'} for k in keys]}]

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self.gets.append(Key)
        return {"Body": io.BytesIO(self.objects[Key])}


def _good(minute: int) -> bytes:
    start = int((T0 + timedelta(minutes=minute)).timestamp())
    pair = f"2 {ACCOUNT} eni-1 10.0.0.1 10.0.0.2 443"
    lines = [f"{pair} {5000 + i} 6 10 1000 {start} {start + 60} ACCEPT OK" for i in range(5)]
    return gzip.compress(("\n".join([V2, *lines]) + "\n").encode())


def _list_column_parquet() -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"version": [2], "srcaddr": [["10.0.0.1"]]}), buf)
    return buf.getvalue()


def test_bad_objects_are_quarantined_whole_and_the_rest_ingested(tmp_path: Path) -> None:
    def key(minute: int, parquet: bool = False) -> str:
        at = T0 + timedelta(minutes=minute + 5)
        return flow_log_key(ACCOUNT, REGION, "fl-1", at, parquet=parquet)

    dup = gzip.compress((V2 + " log_status\n2 x\n").encode())
    objects = {
        key(0): _good(0),
        key(5): dup,  # a field named twice
        key(10): _good(10),
        key(15, parquet=True): _list_column_parquet(),  # a list column
        key(20): _good(20),
        key(25): b"\x1f\x8b\x08\x00not deflate",  # corrupt gzip
        key(30): _good(30),
    }
    s3 = FakeS3(objects)
    source = S3FlowSource(bucket="logs", account=ACCOUNT, region=REGION, hive=False)
    store = HistoryStore(str(tmp_path / "history"))
    window = TimeWindow(start=T0, end=T0 + timedelta(hours=1))
    with within(30):
        first = ingest(source.chunks(s3, window), store)
    assert first.sources == 7 and first.accepted == 20
    assert store.scan_flows().collect().height == 20
    bad = store.quarantine()
    named = {s.split("#")[0].rsplit("/", 1)[-1] for s in bad.get_column("source").to_list()}
    assert named == {k.rsplit("/", 1)[-1] for k in (key(5), key(15, True), key(25))}
    reasons = set(bad.get_column("reason").str.split(":").list.first().to_list())
    assert reasons == {"bad header", "unreadable Parquet", "corrupt gzip"}
    assert first.read == first.accepted + first.rejected

    with within(30):
        second = ingest(source.chunks(s3, window), store)  # the next cycle, same window
    assert second.skipped_duplicates == 7 and second.read == 0
