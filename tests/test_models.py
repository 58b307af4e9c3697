from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from providers.base import ThrottledError
from providers.fake import FakeProvider
from providers.models import (
    InstanceType,
    MetricName,
    MetricQuery,
    MetricSeries,
    NetworkInterface,
    Resource,
    TimeWindow,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_window_rejects_naive_and_reversed() -> None:
    with pytest.raises(ValidationError, match="no timezone"):
        TimeWindow(start=datetime(2026, 1, 1), end=T0)
    with pytest.raises(ValidationError, match="is not after start"):
        TimeWindow(start=T0, end=T0)


def test_interface_rejects_bad_ip() -> None:
    with pytest.raises(ValidationError, match="not an IP address: '10.0.0.300'"):
        NetworkInterface(id="eni-1", private_ips=("10.0.0.300",))


def test_resource_addresses_and_instance_family() -> None:
    eni = NetworkInterface(id="eni-1", private_ips=("10.0.0.1",), ipv6_ips=("2600:1f18::1",))
    r = Resource(id="i-1", provider="aws", account="1", region="us-east-1", interfaces=(eni,))
    assert r.addresses == ("10.0.0.1", "2600:1f18::1")
    it = InstanceType(name="m5.large", vcpu=2, memory_gib=8, baseline_gbps=0.75, peak_gbps=10)
    assert (it.family, it.size) == ("m5", "large")
    with pytest.raises(ValidationError, match="below baseline"):
        InstanceType(name="x.y", vcpu=1, memory_gib=1, baseline_gbps=2, peak_gbps=1)


def test_fake_provider_records_calls_and_fails_next() -> None:
    series = MetricSeries(
        resource_id="i-1",
        metric=MetricName.NETWORK_IN,
        timestamps=[T0 + timedelta(minutes=5 * i) for i in range(4)],
        values=[1.0, 2.0, 3.0, 4.0],
    )
    fake = FakeProvider(series=[series])
    fake.fail_next("metrics", ThrottledError("slow down", operation="GetMetricData"))
    q = [MetricQuery(resource_id="i-1", metric=MetricName.NETWORK_IN)]
    window = TimeWindow(start=T0, end=T0 + timedelta(minutes=10))
    with pytest.raises(ThrottledError, match="GetMetricData: slow down"):
        fake.metrics(q, window)
    got = fake.metrics(q, window)
    assert got[0].values == [1.0, 2.0]
    assert [c.method for c in fake.calls] == ["metrics", "metrics"]
    with pytest.raises(ValueError, match="no method 'nope'"):
        fake.fail_next("nope", ThrottledError("x"))
