"""Cloud Monitoring ``timeSeries.list``: the same metrics, names and units as CloudWatch's.

Where each provider-neutral metric lives is data (``METRIC_SOURCES``): the hypervisor's view
(``compute.googleapis.com/instance/...``) for network, CPU and disk, the Ops Agent
(``agent.googleapis.com/memory/percent_used``, state ``used``) for memory. Units follow the
AWS provider so the history store holds one meaning per metric: bytes per period for the
``Sum`` of a counter, percent for CPU (Monitoring's fraction times 100). GCP has no ENA
allowance counters and this module no load-balancer latency: those queries return empty
series, never an error.

One request covers up to ``BATCH`` instances of one metric, stat and period (``one_of`` on
``resource.labels.instance_id``), aligned per instance and reduced across the instance's own
series (several disks, several NICs) into one; pages follow ``nextPageToken``. A point is
stamped with the start of its period, as CloudWatch stamps its datapoints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from providers.base import InvalidResponseError
from providers.gcp.session import JsonObject, gcp_errors
from providers.models import MetricName, MetricQuery, MetricSeries, TimeWindow

__all__ = ["ALIGNERS", "BATCH", "METRIC_SOURCES", "MONITORING_URL", "GcpMetric", "fetch_metrics"]

MONITORING_URL = "https://monitoring.googleapis.com/v3"
BATCH = 100
#: CloudWatch statistic -> Cloud Monitoring per-series aligner.
ALIGNERS = {
    "Sum": "ALIGN_SUM",
    "Average": "ALIGN_MEAN",
    "Maximum": "ALIGN_MAX",
    "Minimum": "ALIGN_MIN",
}


@dataclass(frozen=True)
class GcpMetric:
    """One Cloud Monitoring metric type, how an instance's series combine, and a unit factor."""

    metric_type: str
    unit: str
    reducer: str = "REDUCE_SUM"
    scale: float = 1.0
    extra_filter: str = ""


_COMPUTE = "compute.googleapis.com/instance"
METRIC_SOURCES: dict[MetricName, GcpMetric] = {
    MetricName.NETWORK_IN: GcpMetric(f"{_COMPUTE}/network/received_bytes_count", "Bytes"),
    MetricName.NETWORK_OUT: GcpMetric(f"{_COMPUTE}/network/sent_bytes_count", "Bytes"),
    MetricName.NETWORK_PACKETS_IN: GcpMetric(f"{_COMPUTE}/network/received_packets_count", "Count"),
    MetricName.NETWORK_PACKETS_OUT: GcpMetric(f"{_COMPUTE}/network/sent_packets_count", "Count"),
    MetricName.CPU_UTILIZATION: GcpMetric(
        f"{_COMPUTE}/cpu/utilization", "Percent", reducer="REDUCE_MEAN", scale=100.0
    ),
    MetricName.EBS_READ_BYTES: GcpMetric(f"{_COMPUTE}/disk/read_bytes_count", "Bytes"),
    MetricName.EBS_WRITE_BYTES: GcpMetric(f"{_COMPUTE}/disk/write_bytes_count", "Bytes"),
    MetricName.MEMORY_USED_PERCENT: GcpMetric(
        "agent.googleapis.com/memory/percent_used",
        "Percent",
        reducer="REDUCE_MEAN",
        extra_filter='metric.labels.state = "used"',
    ),
}

Get = Callable[[str, Mapping[str, str | int | list[str]]], JsonObject]


def _rfc3339(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _filter(source: GcpMetric, ids: Sequence[str]) -> str:
    quoted = ", ".join(f'"{i}"' for i in ids)
    parts = [
        f'metric.type = "{source.metric_type}"',
        'resource.type = "gce_instance"',
        f"resource.labels.instance_id = one_of({quoted})",
    ]
    if source.extra_filter:
        parts.append(source.extra_filter)
    return " AND ".join(parts)


def _value(point: object, where: str) -> tuple[datetime, float]:
    if not isinstance(point, dict):
        raise InvalidResponseError(f"{where}: a point is not an object")
    interval, value = point.get("interval"), point.get("value")
    if not isinstance(interval, dict) or not isinstance(value, dict):
        raise InvalidResponseError(f"{where}: a point has no interval or value")
    try:
        end = datetime.fromisoformat(str(interval["endTime"]).replace("Z", "+00:00"))
        raw = next(
            value[k] for k in ("doubleValue", "int64Value") if k in value and value[k] is not None
        )
        return end, float(raw)
    except (KeyError, StopIteration, ValueError, TypeError) as exc:
        raise InvalidResponseError(f"{where}: unreadable point {point!r}: {exc}") from exc


def fetch_metrics(
    get: Get,
    project: str,
    queries: Sequence[MetricQuery],
    window: TimeWindow,
    numeric_ids: Mapping[str, str],
    *,
    sources: Mapping[MetricName, GcpMetric] = METRIC_SOURCES,
) -> list[MetricSeries]:
    """One series per query (same order). ``numeric_ids`` maps resource id -> the instance id
    Monitoring labels series with; a query without one (or without a source) is not sent."""
    points: dict[int, tuple[list[datetime], list[float]]] = {}
    batches: dict[tuple[MetricName, str, int], list[tuple[int, str]]] = {}
    for i, q in enumerate(queries):
        nid = numeric_ids.get(q.resource_id)
        if nid is not None and q.metric in sources and q.stat in ALIGNERS:
            batches.setdefault((q.metric, q.stat, q.period_s), []).append((i, nid))
    url = f"{MONITORING_URL}/projects/{project}/timeSeries"
    for (metric, stat, period), asked in batches.items():
        source = sources[metric]
        for offset in range(0, len(asked), BATCH):
            batch = asked[offset : offset + BATCH]
            by_id: dict[str, list[int]] = {}
            for i, nid in batch:
                by_id.setdefault(nid, []).append(i)
            params: dict[str, str | int | list[str]] = {
                "filter": _filter(source, list(by_id)),
                "interval.startTime": _rfc3339(window.start),
                "interval.endTime": _rfc3339(window.end),
                "aggregation.alignmentPeriod": f"{period}s",
                "aggregation.perSeriesAligner": ALIGNERS[stat],
                "aggregation.crossSeriesReducer": source.reducer,
                "aggregation.groupByFields": "resource.labels.instance_id",
                "pageSize": 10000,
            }
            op = f"timeSeries.list {source.metric_type}"
            while True:
                with gcp_errors(op):
                    page = get(url, params)
                _collect(page, by_id, points, source, timedelta(seconds=period), window, op)
                token = page.get("nextPageToken")
                if not token:
                    break
                params["pageToken"] = str(token)
    out: list[MetricSeries] = []
    for i, q in enumerate(queries):
        ts, vals = points.get(i, ([], []))
        source_unit = sources[q.metric].unit if q.metric in sources else ""
        out.append(
            MetricSeries(
                resource_id=q.resource_id,
                metric=q.metric,
                stat=q.stat,
                unit=source_unit,
                period_s=q.period_s,
                timestamps=ts,
                values=vals,
            )
        )
    return out


def _collect(
    page: JsonObject,
    by_id: Mapping[str, list[int]],
    points: dict[int, tuple[list[datetime], list[float]]],
    source: GcpMetric,
    period: timedelta,
    window: TimeWindow,
    op: str,
) -> None:
    series = page.get("timeSeries", [])
    if not isinstance(series, list):
        raise InvalidResponseError("timeSeries is not a list", operation=op)
    for s in series:
        labels = s.get("resource", {}).get("labels", {}) if isinstance(s, dict) else {}
        nid = str(labels.get("instance_id", ""))
        if nid not in by_id:
            raise InvalidResponseError(f"series of instance {nid!r} matches no query", operation=op)
        raw_points = s.get("points", [])
        read = [_value(p, op) for p in (raw_points if isinstance(raw_points, list) else [])]
        for i in by_id[nid]:
            ts, vals = points.setdefault(i, ([], []))
            for end, value in read:
                start = end - period
                if window.start <= start < window.end:
                    ts.append(start)
                    vals.append(value * source.scale)
