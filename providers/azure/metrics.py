"""Azure Monitor platform metrics of VMs, named as Headroom's provider-neutral metrics.

One ``MetricsQueryClient.query_resource`` call per resource asks every wanted metric at once
(the API takes up to 20 names per call) over the window at the query's period. Where each
``MetricName`` comes from is data (``METRIC_SOURCES``). Two are derived, not read: memory used
percent is ``100 * (1 - Available Memory Bytes / the size's memory)`` (Azure publishes what is
free), which needs the VM size's memory; with no size known the series stays empty. Metrics
Azure does not publish for VMs (packet counts, ENA allowance counters, target response time)
come back as empty series, never as errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from providers.azure.errors import azure_errors
from providers.models import MetricName, MetricQuery, MetricSeries, TimeWindow

__all__ = ["MAX_NAMES", "METRIC_SOURCES", "AzureMetric", "fetch_metrics"]

#: Metric names Azure Monitor accepts in one request.
MAX_NAMES = 20
#: Headroom's stat -> Azure Monitor's aggregation.
AGGREGATION = {
    "Sum": "Total",
    "Average": "Average",
    "Maximum": "Maximum",
    "Minimum": "Minimum",
    "SampleCount": "Count",
}


@dataclass(frozen=True)
class AzureMetric:
    """An Azure Monitor metric (``Microsoft.Compute/virtualMachines``) and its unit."""

    name: str
    unit: str
    #: available bytes -> used percent, given the VM's memory in bytes
    derive_memory_percent: bool = False


METRIC_SOURCES: dict[MetricName, AzureMetric] = {
    MetricName.NETWORK_IN: AzureMetric("Network In Total", "Bytes"),
    MetricName.NETWORK_OUT: AzureMetric("Network Out Total", "Bytes"),
    MetricName.CPU_UTILIZATION: AzureMetric("Percentage CPU", "Percent"),
    MetricName.EBS_READ_BYTES: AzureMetric("Disk Read Bytes", "Bytes"),
    MetricName.EBS_WRITE_BYTES: AzureMetric("Disk Write Bytes", "Bytes"),
    MetricName.MEMORY_USED_PERCENT: AzureMetric(
        "Available Memory Bytes", "Percent", derive_memory_percent=True
    ),
}


def _value(point: Any, aggregation: str) -> float | None:
    value = getattr(point, aggregation.lower(), None)
    return None if value is None else float(value)


def fetch_metrics(
    client: Any,
    queries: Sequence[MetricQuery],
    window: TimeWindow,
    *,
    memory_bytes: Callable[[str], float | None] = lambda _rid: None,
    sources: Mapping[MetricName, AzureMetric] = METRIC_SOURCES,
) -> list[MetricSeries]:
    """One series per query (same order). Queries of one resource, period and stat are one call.

    ``memory_bytes(resource_id)`` is the VM's memory, for the derived memory percent.
    """
    groups: dict[tuple[str, int, str], list[int]] = {}
    for i, q in enumerate(queries):
        if q.metric in sources and q.stat in AGGREGATION:
            groups.setdefault((q.resource_id, q.period_s, q.stat), []).append(i)
    points: dict[int, tuple[list[datetime], list[float]]] = {}
    for (resource_id, period, stat), indexes in groups.items():
        aggregation = AGGREGATION[stat]
        by_name: dict[str, list[int]] = {}
        for i in indexes:
            by_name.setdefault(sources[queries[i].metric].name, []).append(i)
        names = list(by_name)
        for offset in range(0, len(names), MAX_NAMES):
            batch = names[offset : offset + MAX_NAMES]
            with azure_errors(f"QueryMetrics {resource_id}"):
                result = client.query_resource(
                    resource_id,
                    batch,
                    timespan=(window.start, window.end),
                    granularity=timedelta(seconds=period),
                    aggregations=[aggregation],
                )
            for metric in result.metrics:
                summed: dict[datetime, float] = {}
                for series in metric.timeseries:
                    for point in series.data:
                        value = _value(point, aggregation)
                        if value is not None and window.contains(point.timestamp):
                            summed[point.timestamp] = summed.get(point.timestamp, 0.0) + value
                for i in by_name.get(metric.name, []):
                    points[i] = _convert(
                        summed, sources[queries[i].metric], memory_bytes, queries[i]
                    )
    return [
        MetricSeries(
            resource_id=q.resource_id,
            metric=q.metric,
            stat=q.stat,
            unit=sources[q.metric].unit if q.metric in sources else "",
            period_s=q.period_s,
            timestamps=points.get(i, ([], []))[0],
            values=points.get(i, ([], []))[1],
        )
        for i, q in enumerate(queries)
    ]


def _convert(
    summed: Mapping[datetime, float],
    source: AzureMetric,
    memory_bytes: Callable[[str], float | None],
    query: MetricQuery,
) -> tuple[list[datetime], list[float]]:
    stamps = sorted(summed)
    if not source.derive_memory_percent:
        return stamps, [summed[t] for t in stamps]
    total = memory_bytes(query.resource_id)
    if not total:
        return [], []
    return stamps, [max(0.0, min(100.0, 100.0 * (1.0 - summed[t] / total))) for t in stamps]
