"""Azure Monitor metrics from recorded ``Metrics - List`` answers, as Headroom's series."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from providers.azure.provider import AzureProvider
from providers.base import ThrottledError
from providers.models import MetricName, MetricQuery, TimeWindow
from tests.providers.azure.recorded import SUB, load, served

WEB1 = (
    f"/subscriptions/{SUB}/resourcegroups/shop-rg/providers/microsoft.compute/virtualmachines/web-1"
)
WINDOW = TimeWindow(
    start=datetime(2026, 3, 4, 11, tzinfo=UTC), end=datetime(2026, 3, 4, 11, 15, tzinfo=UTC)
)
SUMS = ("NetworkIn", "NetworkOut", "EBSReadBytes", "EBSWriteBytes", "NetworkPacketsIn")


def _queries() -> list[MetricQuery]:
    out = [MetricQuery(resource_id=WEB1, metric=MetricName(m), stat="Sum") for m in SUMS]
    out += [
        MetricQuery(resource_id=WEB1, metric=m, stat="Average")
        for m in (MetricName.CPU_UTILIZATION, MetricName.MEMORY_USED_PERCENT)
    ]
    return out


def test_metrics_map_to_the_neutral_names_and_memory_is_derived(session) -> None:
    provider = AzureProvider(session=session, regions=["westeurope"])
    with served("fleet.json", "metrics.json") as mock:
        provider.inventory()
        series = {s.metric: s for s in provider.metrics(_queries(), WINDOW)}
        metric_calls = [
            c for c in mock.calls if "/Microsoft.Insights/metrics" in str(c.request.url)
        ]
    assert len(metric_calls) == 2  # one per aggregation, every metric name in it
    net_in = series[MetricName.NETWORK_IN]
    assert net_in.values == [1.5e9, 2.0e9, 2.5e9] and net_in.unit == "Bytes"
    assert net_in.timestamps[0] == WINDOW.start
    assert series[MetricName.EBS_WRITE_BYTES].values == [10, 20, 30]
    assert series[MetricName.CPU_UTILIZATION].values == [20.0, 40.0, 60.0]
    # Standard_D4s_v5 has 16 GiB: 12, 8 and 4 GiB available are 25, 50 and 75 % used
    assert series[MetricName.MEMORY_USED_PERCENT].values == pytest.approx([25.0, 50.0, 75.0])
    assert series[MetricName.NETWORK_PACKETS_IN].values == []  # Azure has no VM packet counts


def test_metrics_throttled_after_retries(session, transport) -> None:
    throttled = {
        "url": f"https://management.azure.com{WEB1}/providers/Microsoft.Insights/metrics",
        "any_query": True,
        "status": 429,
        "headers": {"Retry-After": "3"},
        "body": load("errors.json")["throttled"],
    }
    provider = AzureProvider(session=session, regions=["westeurope"])
    with served(extra=[throttled]), pytest.raises(ThrottledError, match="QueryMetrics"):
        provider.metrics(_queries()[:1], WINDOW)
    assert transport.slept.count(3) == 2  # retry_total=2, each after Retry-After
