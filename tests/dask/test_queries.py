"""The Dask engine's answers equal the embedded engine's, row for row, on the same store."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from providers.models import MetricName, MetricSeries, TimeWindow
from reconciler.history import HistoryStore
from reconciler.history.dask_engine import DaskHistory
from tests.dask.conftest import FLOWS, METRICS, NOW, fill


def same(local: pl.DataFrame, dask: pl.DataFrame) -> None:
    assert dask.schema == local.schema
    assert dask.height == local.height
    assert dask.equals(local), (local, dask)


def by_key(points: pl.DataFrame) -> pl.DataFrame:
    """The embedded engine leaves rows that differ only in ``stat`` in no set order."""
    return points.sort("resource_id", "metric", "ts", "stat")


def test_edges_series_and_points_are_identical(filled: HistoryStore, client) -> None:
    dask = DaskHistory(filled, client)
    edges = filled.edges(FLOWS)
    assert edges.height > 1000 and edges.get_column("bytes").sum() > 0
    same(edges, dask.edges(FLOWS))  # from the 5-minute pair aggregates
    odd = TimeWindow(start=FLOWS.start + timedelta(seconds=7), end=FLOWS.end)
    same(filled.edges(odd, timedelta(minutes=10)), dask.edges(odd, timedelta(minutes=10)))
    same(
        filled.resource_series(FLOWS, timedelta(hours=1)),
        dask.resource_series(FLOWS, timedelta(hours=1)),
    )
    points = filled.metric_points(METRICS, None)
    assert points.height > 1000
    same(by_key(points), dask.metric_points(METRICS, None))
    only = [str(MetricName.CPU_UTILIZATION)]
    same(by_key(filled.metric_points(METRICS, only)), dask.metric_points(METRICS, only))
    empty = TimeWindow(start=NOW + timedelta(days=1), end=NOW + timedelta(days=2))
    same(filled.edges(empty), dask.edges(empty))
    same(by_key(filled.metric_points(empty, None)), dask.metric_points(empty, None))


def test_rewritten_points_keep_the_last_read(tmp_path, client) -> None:
    store = HistoryStore(str(tmp_path / "h"))
    ts = [NOW - timedelta(minutes=5 * k) for k in range(1, 4)]
    for value in (1.0, 2.0):  # the same points written again with other values
        store.write_metrics(
            [
                MetricSeries(
                    resource_id="i-a",
                    metric=MetricName.NETWORK_IN,
                    timestamps=ts,
                    values=[value] * 3,
                )
            ]
        )
    window = TimeWindow(start=NOW - timedelta(hours=1), end=NOW)
    dask = DaskHistory(store, client)
    same(by_key(store.metric_points(window, None)), dask.metric_points(window, None))


@pytest.mark.parametrize("seconds", [0, 7])  # from the pair aggregates; from the records
def test_sums_past_int64_are_capped_as_the_embedded_engine_caps_them(tmp_path, client, seconds):
    from providers.aws.flowlogs import parse_text
    from reconciler.history import ingest
    from tests.history.hourly import HEADER

    store = HistoryStore(str(tmp_path / "h"))
    t = int(NOW.timestamp()) - 3600
    top = 2**48  # the largest byte count a record may carry; 2**15 of them pass 2**63
    lines = [
        f"2 1 eni-a 10.0.0.1 8.8.8.8 1 443 6 1 {top} {t + k % 200} {t + 260} ACCEPT OK"
        for k in range(2**15 + 100)
    ]
    ingest([parse_text("\n".join([HEADER, *lines, ""]).encode(), "s3://b/k")], store)
    window = TimeWindow(start=NOW - timedelta(days=1, seconds=seconds), end=NOW)
    for bucket in (timedelta(minutes=5), timedelta(days=1)):
        local = store.edges(window, bucket)
        assert 2**63 - 1 in local.get_column("bytes").to_list()
        same(local, DaskHistory(store, client).edges(window, bucket))


def test_a_store_on_s3_through_s3fs(moto_server, client) -> None:
    import boto3
    import s3fs

    boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server).create_bucket(
        Bucket="dask-history"
    )
    fs = s3fs.S3FileSystem(
        key="testing",
        secret="testing",
        client_kwargs={"endpoint_url": moto_server},
        skip_instance_cache=True,
    )
    store = fill(HistoryStore("dask-history/h", fs=fs))
    dask = DaskHistory(store, client)
    same(store.edges(FLOWS), dask.edges(FLOWS))
    same(by_key(store.metric_points(METRICS, None)), dask.metric_points(METRICS, None))
