"""The replay provider: recorded demand served as a cloud of autoscaling groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from providers.base import CloudProvider
from providers.models import InstanceType, MetricName, MetricQuery, TimeWindow
from providers.replay import ASG_TAG, ReplayApp, ReplayProvider
from reconciler.clock import SimulatedClock

START = datetime(2013, 7, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
LARGE = InstanceType(
    name="m6i.large",
    vcpu=2,
    memory_gib=8,
    baseline_gbps=0.781,
    peak_gbps=12.5,
    hourly_price_usd=0.096,
)


def provider(n=12, initial=2):
    clock = SimulatedClock(START + STEP * 6)
    app = ReplayApp(
        name="web",
        region="eu-west-1",
        cpu_vcpu=np.arange(n, dtype=float),
        memory_gib=np.full(n, 4.0),
        network_gbps=np.full(n, 0.5),
    )
    p = ReplayProvider(
        [app],
        start=START,
        step=STEP,
        clock=clock,
        catalog={LARGE.name: LARGE},
        instance_type=LARGE.name,
        initial={"web": initial},
        scale_out_delay=STEP,
    )
    return p, clock


def cpu(p, rid, start=START, end=None):
    end = end or p.clock.now() + STEP
    q = MetricQuery(resource_id=rid, metric=MetricName.CPU_UTILIZATION, stat="Average")
    (s,) = p.metrics([q], TimeWindow(start=start, end=end))
    return dict(zip(s.timestamps, s.values, strict=True))


def test_serves_the_contract_with_demand_split_over_members():
    p, clock = provider()
    assert isinstance(p, CloudProvider)
    inv = p.inventory()
    assert len(inv) == 2 and all(r.tags[ASG_TAG] == "asg-web" for r in inv)
    (asg,) = p.scaling_groups()
    assert asg.desired == 2 and set(asg.instance_ids) == {r.id for r in inv}
    assert asg.launch_template_id and asg.subnet_ids
    # only periods that ended by now (6 of them), each member half the app's CPU
    points = cpu(p, inv[0].id)
    assert len(points) == 6
    assert points[START + STEP * 5] == pytest.approx(5.0 / 2 / 2 * 100)
    qs = [
        MetricQuery(resource_id=inv[0].id, metric=MetricName.NETWORK_IN, stat="Sum"),
        MetricQuery(resource_id=inv[0].id, metric=MetricName.NETWORK_OUT, stat="Sum"),
        MetricQuery(resource_id=inv[0].id, metric=MetricName.EBS_READ_BYTES, stat="Sum"),
    ]
    net_in, net_out, ebs = p.metrics(qs, TimeWindow(start=START, end=clock.now()))
    total = (net_in.values[0] + net_out.values[0]) * 2 * 8 / 300 / 1e9  # two members, Gbps
    assert total == pytest.approx(0.5)
    assert ebs.values == []  # nothing recorded: an empty series, as the contract says
    assert list(p.flow_records(TimeWindow(start=START, end=clock.now()))) == []


def test_scale_out_serves_after_the_delay_and_scale_in_at_once():
    p, clock = provider()
    assert p.set_capacity("asg-web", 4)
    assert p.scaling_groups()[0].desired == 4  # the desired count at once, as AWS says
    assert p.units("asg-web", LARGE) == 2 and len(p.inventory()) == 2
    clock.advance(STEP)
    assert p.units("asg-web", LARGE) == 4
    new = [r for r in p.inventory() if r.launched_at == START + STEP * 7]
    assert len(new) == 2
    clock.advance(STEP * 2)
    # from step 7 on the app's CPU is split four ways; the new members report from then
    points = cpu(p, new[0].id)
    assert min(points) == START + STEP * 7
    assert points[START + STEP * 8] == pytest.approx(8.0 / 4 / 2 * 100)
    # scale-in: the newest go first, at once
    assert p.set_capacity("asg-web", 1)
    left = p.inventory()
    assert len(left) == 1 and left[0].launched_at == START
    assert not p.set_capacity("asg-web", 1)  # nothing changed


def test_unknown_group_and_type_are_refused():
    p, _ = provider()
    with pytest.raises(KeyError):
        p.set_capacity("asg-nope", 1)
    with pytest.raises(ValueError, match="not in the catalog"):
        p.set_capacity("asg-web", 1, "m6i.huge")
