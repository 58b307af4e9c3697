"""Cloud Monitoring timeSeries.list over REST: batched per metric, paginated, mapped back."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from responses import Call

from providers.base import InvalidResponseError
from providers.gcp import GcpProvider
from providers.gcp.metrics import MONITORING_URL
from providers.models import MetricName, MetricQuery, TimeWindow
from tests.providers.gcp.conftest import PROJECT, fixture, page_token, serve_instances

URL = f"{MONITORING_URL}/projects/{PROJECT}/timeSeries"
WEB1 = "projects/demo-proj/zones/us-central1-a/instances/web-1"
DB1 = "projects/demo-proj/zones/europe-west1-b/instances/db-1"
WINDOW = TimeWindow(
    start=datetime(2025, 3, 3, 12, tzinfo=UTC), end=datetime(2025, 3, 3, 13, tzinfo=UTC)
)


def _params(call: Call) -> dict[str, list[str]]:
    return parse_qs(urlparse(str(call.request.url)).query)


def test_bytes_sum_batched_paginated_and_cpu_in_percent(
    rsps: responses.RequestsMock, provider: GcpProvider
) -> None:
    serve_instances(rsps)
    rsps.get(URL, json=fixture("timeseries_received_page1.json"), match=page_token(None))
    rsps.get(URL, json=fixture("timeseries_received_page2.json"), match=page_token("ts-2"))
    rsps.get(URL, json=fixture("timeseries_cpu.json"))
    queries = [
        MetricQuery(resource_id=WEB1, metric=MetricName.NETWORK_IN, stat="Sum"),
        MetricQuery(resource_id=DB1, metric=MetricName.NETWORK_IN, stat="Sum"),
        MetricQuery(resource_id=WEB1, metric=MetricName.CPU_UTILIZATION, stat="Average"),
        MetricQuery(resource_id=WEB1, metric=MetricName.BW_OUT_ALLOWANCE_EXCEEDED, stat="Sum"),
        MetricQuery(resource_id="i-0abc", metric=MetricName.NETWORK_IN, stat="Sum"),
    ]
    got = provider.metrics(queries, WINDOW)
    assert [s.resource_id for s in got] == [q.resource_id for q in queries]
    web_in, db_in, cpu, allowance, foreign = got
    assert web_in.timestamps == [
        datetime(2025, 3, 3, 12, 0, tzinfo=UTC),
        datetime(2025, 3, 3, 12, 5, tzinfo=UTC),
    ]  # stamped at the period's start, sorted
    assert web_in.values == [1500000.0, 3000000.0] and web_in.unit == "Bytes"
    assert db_in.values == [42.0]
    assert cpu.values == [25.0] and cpu.unit == "Percent"  # fraction -> percent
    assert allowance.values == [] and foreign.values == []  # not published on GCP: empty
    first = _params(rsps.calls[2])  # after the two inventory pages
    assert first["aggregation.perSeriesAligner"] == ["ALIGN_SUM"]
    assert first["aggregation.alignmentPeriod"] == ["300s"]
    assert first["aggregation.crossSeriesReducer"] == ["REDUCE_SUM"]
    assert first["interval.startTime"] == ["2025-03-03T12:00:00Z"]
    text = first["filter"][0]
    assert 'metric.type = "compute.googleapis.com/instance/network/received_bytes_count"' in text
    assert 'one_of("4567890123456789001", "4567890123456789003")' in text  # one request, two VMs
    cpu_params = _params(rsps.calls[4])
    assert cpu_params["aggregation.perSeriesAligner"] == ["ALIGN_MEAN"]


def test_memory_asks_the_ops_agent_for_used(
    rsps: responses.RequestsMock, provider: GcpProvider
) -> None:
    serve_instances(rsps)
    rsps.get(URL, json={})
    query = MetricQuery(resource_id=WEB1, metric=MetricName.MEMORY_USED_PERCENT)
    (series,) = provider.metrics([query], WINDOW)
    assert series.values == []
    text = _params(rsps.calls[-1])["filter"][0]
    assert "agent.googleapis.com/memory/percent_used" in text and 'state = "used"' in text


def test_a_point_without_a_number_is_an_invalid_response(
    rsps: responses.RequestsMock, provider: GcpProvider
) -> None:
    serve_instances(rsps)
    rsps.get(URL, json=fixture("timeseries_bad_point.json"))
    with pytest.raises(InvalidResponseError, match="unreadable point"):
        provider.metrics([MetricQuery(resource_id=WEB1, metric=MetricName.NETWORK_OUT)], WINDOW)
