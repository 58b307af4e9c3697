"""A small history store for fault tests: one flow source and one metric point per hour, on a
local disk or on an fsspec store (the ``store`` fixture runs a test on both)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fsspec
import pytest

from providers.aws.flowlogs import parse_text
from providers.models import FlowChunk, MetricName, MetricSeries, TimeWindow
from reconciler.history import HistoryStore, ingest

__all__ = ["HEADER", "T0", "WINDOW", "chunk", "filled", "store"]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = TimeWindow(start=T0, end=T0 + timedelta(hours=3))
HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
HEADER += "start end action log-status"


def chunk(source: str, hour: int, nbytes: int | None = None) -> FlowChunk:
    """One accepted flow of ``100 + hour`` bytes (or ``nbytes``) to the internet at ``hour``."""
    ts = int(T0.timestamp()) + 3600 * hour
    size = 100 + hour if nbytes is None else nbytes
    line = f"2 1 eni-a 10.0.0.1 8.8.8.8 1 443 6 1 {size} {ts} {ts + 60} ACCEPT OK"
    return parse_text(f"{HEADER}\n{line}\n".encode(), source)


def filled(store: HistoryStore) -> None:
    """Sources ``s3://b/k0..k2`` (100, 101, 102 bytes) and metric values 1.0, 2.0, 3.0 at
    hours 0-2: one file per hour in each of ``flows``, ``pairs`` and ``metrics``."""
    ingest([chunk(f"s3://b/k{h}", h) for h in range(3)], store)
    times = [T0 + timedelta(hours=h) for h in range(3)]
    series = MetricSeries(
        resource_id="i-a", metric=MetricName.NETWORK_IN, timestamps=times, values=[1.0, 2.0, 3.0]
    )
    store.write_metrics([series])


@pytest.fixture(params=["local", "fsspec", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryStore]:
    """An empty store on a local disk (Polars scans), fsspec's memory store (pyarrow), or an
    ``s3://`` URL as an operator writes it, through s3fs to moto's server on loopback."""
    if request.param == "local":
        yield HistoryStore(str(tmp_path / "h"))
        return
    if request.param == "s3":
        yield from _s3_store(request, tmp_path.name)
        return
    fs = fsspec.filesystem("memory")
    root = f"/history-{tmp_path.name}"
    yield HistoryStore(root, fs=fs)
    if fs.exists(root):
        fs.rm(root, recursive=True)


def _s3_store(request: pytest.FixtureRequest, name: str) -> Iterator[HistoryStore]:
    import boto3
    import s3fs

    endpoint = request.getfixturevalue("moto_server")
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)  # botocore's own setting, as in production
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="history")
    s3fs.S3FileSystem.clear_instance_cache()  # a cached client would keep another endpoint
    # moto's backends live as long as the process: a prefix of its own per test
    yield HistoryStore(f"s3://history/{name}")
    s3fs.S3FileSystem.clear_instance_cache()
