"""A Dask cluster of two worker processes on loopback, and a history store of a synthetic fleet
(flows over several hours, dual-logged between monitored ENIs, and a day of metric points)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.cycle import FleetSpec, synthetic_fleet
from providers.models import MetricName, MetricQuery, TimeWindow
from reconciler.history import HistoryStore, ingest

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
FLOWS = TimeWindow(start=NOW - timedelta(hours=4), end=NOW)
METRICS = TimeWindow(start=NOW - timedelta(days=1), end=NOW)


@pytest.fixture(scope="session")
def cluster() -> Iterator[object]:
    """``distributed.LocalCluster`` with two worker processes (one thread each) on 127.0.0.1."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
    ) as c:
        yield c


@pytest.fixture(scope="session")
def client(cluster: object) -> Iterator[object]:
    from distributed import Client

    with Client(cluster, set_as_default=False) as c:
        yield c


def fill(store: HistoryStore) -> HistoryStore:
    """The synthetic fleet's inventory, 4 hours of flows and a day of NetworkIn points."""
    provider = synthetic_fleet(FleetSpec(resources=24, groups=4, metric_days=1, flow_hours=3), NOW)
    store.write_inventory(provider.inventory(), NOW - timedelta(hours=5))
    ingest(provider.flow_records(FLOWS), store)
    queries = [
        MetricQuery(resource_id=r.id, metric=m, stat=stat, region=r.region)
        for r in provider.inventory()
        for m, stat in ((MetricName.NETWORK_IN, "Sum"), (MetricName.CPU_UTILIZATION, "Average"))
    ]
    store.write_metrics(provider.metrics(queries, METRICS))
    return store


@pytest.fixture(scope="session")
def filled(tmp_path_factory: pytest.TempPathFactory) -> HistoryStore:
    return fill(HistoryStore(str(tmp_path_factory.mktemp("dask") / "history")))


def history_root(tmp: Path) -> str:
    return str(tmp / "history")
