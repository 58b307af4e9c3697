"""CloudWatch GetMetricData: batched at 500 queries per call, paginated, ids mapped back.

Where each provider-neutral metric lives is data (``METRIC_SOURCES``): the EC2 namespace for
the hypervisor's view, the CloudWatch agent (``CWAgent``) for memory and for the ENA
allowance counters collected through its ethtool plugin, and ``AWS/ApplicationELB`` for an
application load balancer's response time (its ``LoadBalancer`` dimension is the ARN suffix
``app/<name>/<id>``, the inventory's resource id without its ``elb:`` prefix). A query for a
metric the fleet does not publish returns an empty series, never an error; one whose resource
cannot have it (a network load balancer's response time) is not sent at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from providers.aws.session import aws_errors
from providers.base import InvalidResponseError
from providers.models import MetricName, MetricQuery, MetricSeries, TimeWindow

__all__ = ["BATCH", "METRIC_SOURCES", "MetricSource", "fetch_metrics"]

BATCH = 500


@dataclass(frozen=True)
class MetricSource:
    """Where one metric is published: namespace, CloudWatch name, dimension, unit.

    The dimension's value is the resource id without ``id_prefix``; with ``value_prefixes``,
    only values starting with one of them can have the metric (the others are not asked).
    """

    namespace: str
    name: str
    dimension: str = "InstanceId"
    unit: str = ""
    id_prefix: str = ""
    value_prefixes: tuple[str, ...] = ()

    def dimension_value(self, resource_id: str) -> str | None:
        """The dimension value of ``resource_id``, or None when it cannot have this metric."""
        if not resource_id.startswith(self.id_prefix):
            return None
        value = resource_id.removeprefix(self.id_prefix)
        if self.value_prefixes and not value.startswith(self.value_prefixes):
            return None
        return value


METRIC_SOURCES: dict[MetricName, MetricSource] = {
    MetricName.NETWORK_IN: MetricSource("AWS/EC2", "NetworkIn", unit="Bytes"),
    MetricName.NETWORK_OUT: MetricSource("AWS/EC2", "NetworkOut", unit="Bytes"),
    MetricName.NETWORK_PACKETS_IN: MetricSource("AWS/EC2", "NetworkPacketsIn", unit="Count"),
    MetricName.NETWORK_PACKETS_OUT: MetricSource("AWS/EC2", "NetworkPacketsOut", unit="Count"),
    MetricName.CPU_UTILIZATION: MetricSource("AWS/EC2", "CPUUtilization", unit="Percent"),
    MetricName.EBS_READ_BYTES: MetricSource("AWS/EC2", "EBSReadBytes", unit="Bytes"),
    MetricName.EBS_WRITE_BYTES: MetricSource("AWS/EC2", "EBSWriteBytes", unit="Bytes"),
    MetricName.MEMORY_USED_PERCENT: MetricSource("CWAgent", "mem_used_percent", unit="Percent"),
    MetricName.BW_IN_ALLOWANCE_EXCEEDED: MetricSource(
        "CWAgent", "ethtool_bw_in_allowance_exceeded", unit="Count"
    ),
    MetricName.BW_OUT_ALLOWANCE_EXCEEDED: MetricSource(
        "CWAgent", "ethtool_bw_out_allowance_exceeded", unit="Count"
    ),
    MetricName.PPS_ALLOWANCE_EXCEEDED: MetricSource(
        "CWAgent", "ethtool_pps_allowance_exceeded", unit="Count"
    ),
    MetricName.TARGET_RESPONSE_TIME: MetricSource(
        "AWS/ApplicationELB",
        "TargetResponseTime",
        dimension="LoadBalancer",
        unit="Seconds",
        id_prefix="elb:",
        value_prefixes=("app/",),
    ),
}


def _query(qid: str, q: MetricQuery, source: MetricSource, value: str) -> dict[str, Any]:
    return {
        "Id": qid,
        "MetricStat": {
            "Metric": {
                "Namespace": source.namespace,
                "MetricName": source.name,
                "Dimensions": [{"Name": source.dimension, "Value": value}],
            },
            "Period": q.period_s,
            "Stat": q.stat,
        },
        "ReturnData": True,
    }


def fetch_metrics(
    cloudwatch: Any,
    queries: Sequence[MetricQuery],
    window: TimeWindow,
    *,
    region: str | None = None,
    sources: Mapping[MetricName, MetricSource] = METRIC_SOURCES,
) -> list[MetricSeries]:
    """One series per query (same order), fetched in batches of 500 with NextToken paging.

    A query whose resource cannot have its metric (``MetricSource.dimension_value``) is not
    sent; its series is empty."""
    points: dict[str, tuple[list[datetime], list[float]]] = {}
    asked = [
        (f"q{i}", q, value)
        for i, q in enumerate(queries)
        if (value := sources[q.metric].dimension_value(q.resource_id)) is not None
    ]
    for offset in range(0, len(asked), BATCH):
        batch = asked[offset : offset + BATCH]
        ids = {qid: q for qid, q, _ in batch}
        payload = [_query(qid, q, sources[q.metric], value) for qid, q, value in batch]
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "MetricDataQueries": payload,
                "StartTime": window.start,
                "EndTime": window.end,
                "ScanBy": "TimestampAscending",
            }
            if token:
                kwargs["NextToken"] = token
            with aws_errors("GetMetricData", region):
                page = cloudwatch.get_metric_data(**kwargs)
            for result in page.get("MetricDataResults", []):
                qid = result.get("Id")
                if qid not in ids:
                    raise InvalidResponseError(
                        f"result id {qid!r} matches no query of this batch",
                        operation="GetMetricData",
                        region=region,
                    )
                ts, vals = points.setdefault(qid, ([], []))
                ts.extend(result.get("Timestamps", []))
                vals.extend(float(v) for v in result.get("Values", []))
            token = page.get("NextToken")
            if not token:
                break
    out: list[MetricSeries] = []
    for i, q in enumerate(queries):
        ts, vals = points.get(f"q{i}", ([], []))
        source = sources[q.metric]
        out.append(
            MetricSeries(
                resource_id=q.resource_id,
                metric=q.metric,
                stat=q.stat,
                unit=source.unit,
                period_s=q.period_s,
                timestamps=ts,
                values=vals,
            )
        )
    return out
