from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.allocation import allocate, demand_for
from reconciler.planning import (
    CommandKind,
    CommandStatus,
    Member,
    MetricForecast,
    PlanGroup,
    PlanInput,
    PlanMetric,
    cheapest_type,
    count_needed,
    plan,
    propose,
)
from tests.planning.conftest import NOW, make_policy

NET, CPU, MEM = PlanMetric.NETWORK_GBPS, PlanMetric.CPU_VCPU, PlanMetric.MEMORY_GIB


def fc(p50, p90, p99, peak_at=None):
    return MetricForecast(quantiles={"p50": p50, "p90": p90, "p99": p99}, peak_at=peak_at)


def build(policy, catalog, groups, forecasts, **kw):
    demands = [
        demand_for(
            policy, g.group_id, g.region, forecasts[g.group_id][NET].quantiles, g.group_class
        )
        for g in groups
        if NET in forecasts.get(g.group_id, {})
    ]
    return PlanInput(
        policy=policy,
        groups=groups,
        forecasts=forecasts,
        allocations=allocate(policy.pools, demands),
        catalog=catalog,
        now=NOW,
        **kw,
    )


def standalone(gid="web", itype="m6i.large", n=1, cls="gold", region="r1", **kw):
    members = [
        Member(resource_id=f"i-{gid}{i}", instance_type=itype, region=region) for i in range(n)
    ]
    return PlanGroup(group_id=gid, region=region, members=members, group_class=cls, **kw)


def test_cheapest_type_uses_baseline_when_guaranteed(catalog):
    t = cheapest_type(catalog, ["m6i", "c6i"], gbps=1.0, vcpu=1, memory_gib=2)
    assert t is not None and t.name == "c6i.xlarge"  # baseline 1.56 >= 1.0, cheaper than m6i
    burst = cheapest_type(
        catalog, ["m6i", "c6i"], gbps=1.0, vcpu=1, memory_gib=2, use_baseline=False
    )
    assert burst is not None and burst.name == "c6i.large"  # "up to" 12.5 counted
    assert (
        cheapest_type(catalog, ["m6i"], gbps=5, vcpu=1, memory_gib=1, largest_size="2xlarge")
        is None
    )
    assert (
        count_needed(catalog["m6i.large"], gbps=0.1, vcpu=3, memory_gib=1, target_utilization=0.5)
        == 3
    )


def test_resize_scheduled_ahead_of_peak_with_evidence(policy, catalog):
    peak = NOW + timedelta(hours=3)
    groups = [standalone()]
    forecasts = {"web": {NET: fc(0.5, 1.0, 1.4, peak), CPU: fc(1, 2, 3), MEM: fc(2, 4, 6)}}
    out = plan(build(policy, catalog, groups, forecasts))
    (resize,) = out.of_kind(CommandKind.RESIZE)
    assert resize.before == {"instance_type": "m6i.large"}
    assert resize.after == {"instance_type": "c6i.xlarge"}  # 1.4 Gbps baseline, 3 vCPU, 6 GiB
    assert resize.not_before == peak - timedelta(minutes=20)
    assert resize.evidence.quantile == 0.99 and resize.evidence.interval == (0.5, 1.4)
    assert "families" in resize.evidence.policy_rule
    assert any("allocated" in s for s in resize.evidence.ledger)
    assert "baseline" in resize.reason
    (tier,) = out.of_kind(CommandKind.BANDWIDTH_TIER)
    assert tier.after == {"tier": "fast"} and tier.before == {"tier": None}


def test_scale_out_preferred_over_resize(policy, catalog):
    members = [
        Member(resource_id="i-a", instance_type="m6i.large", region="r1", asg_name="asg-1"),
        Member(resource_id="i-b", instance_type="m6i.large", region="r1", asg_name="asg-1"),
        Member(resource_id="i-c", instance_type="m6i.large", region="r1"),
        Member(resource_id="i-p", instance_type="m6i.large", region="r1", protected=True),
    ]
    group = PlanGroup(group_id="api", region="r1", members=members, group_class="default")
    forecasts = {"api": {NET: fc(0.1, 0.2, 0.3), CPU: fc(4, 12, 13)}}
    inp = build(policy, catalog, [group], forecasts)
    proposed = propose(inp)
    assert [c for c in proposed if c.kind == CommandKind.RESIZE] == []
    (scale,) = [c for c in proposed if c.kind == CommandKind.SCALE]
    # i-c would need 3 vCPU (> m6i.large): instead the ASG takes its quarter on top of its half,
    # 0.75 * 12 vCPU at 50% of 2 vCPU = 9 instances
    assert (
        scale.target == "asg-1" and scale.before == {"desired": 2} and scale.after == {"desired": 9}
    )
    assert "instead of resizing" in scale.reason
    # the budget (100 % of a 4-instance fleet) clips the scale-out to +4
    (clipped,) = plan(inp).of_kind(CommandKind.SCALE)
    assert clipped.after == {"desired": 6} and clipped.status == CommandStatus.PROPOSED


def test_scale_in_hysteresis_and_min_change(catalog):
    policy = make_policy(scale_in_hysteresis=0.3)
    members = [
        Member(resource_id=f"i-{i}", instance_type="m6i.large", region="r1", asg_name="a")
        for i in range(10)
    ]
    group = PlanGroup(group_id="g", region="r1", members=members, group_class="default")
    # 7 vCPU at 50% -> 7 wanted, but at 35% -> 10: hysteresis holds 10 (no-op)
    out = plan(build(policy, catalog, [group], {"g": {CPU: fc(5, 7, 8)}}))
    assert out.commands == []
    out = plan(build(policy, catalog, [group], {"g": {CPU: fc(2, 3, 4)}}))
    (scale,) = out.commands
    assert scale.after == {"desired": 5}  # 3 vCPU / (2 * 0.35) = 4.3 -> 5
    policy = make_policy(min_change_fraction=0.7)
    out = plan(build(policy, catalog, [group], {"g": {CPU: fc(2, 3, 4)}}))
    assert out.commands == [] and "below the minimum" in out.skipped[0].reason


def test_cooldown_and_budget(policy, catalog):
    group = standalone()
    forecasts = {"web": {NET: fc(0.5, 1.0, 1.4), CPU: fc(1, 2, 3)}}
    first = plan(build(policy, catalog, [group], forecasts))
    resize = first.of_kind(CommandKind.RESIZE)
    assert resize
    again = plan(build(policy, catalog, [group], forecasts, history=first.commands))
    assert again.of_kind(CommandKind.RESIZE) == []
    assert any("cooling down" in s.reason for s in again.skipped)
    later = build(policy, catalog, [group], forecasts, history=first.commands)
    later = later.model_copy(update={"now": NOW + timedelta(hours=2)})
    assert plan(later).of_kind(CommandKind.RESIZE)
    tight = make_policy(max_resources_changed=2)
    groups = [standalone(gid=f"g{i}") for i in range(4)]
    fcs = {g.group_id: {NET: fc(0.5, 1.0, 1.4), CPU: fc(1, 2, 3)} for g in groups}
    out = plan(build(tight, catalog, groups, fcs))
    assert len(out.of_kind(CommandKind.RESIZE)) == 2
    assert sum("budget" in s.reason for s in out.skipped) == 2


def test_scale_out_clipped_by_budget(catalog):
    policy = make_policy(max_resources_changed=3)
    members = [
        Member(resource_id=f"i-{i}", instance_type="m6i.large", region="r1", asg_name="a")
        for i in range(4)
    ]
    group = PlanGroup(group_id="g", region="r1", members=members, group_class="default")
    # 20 vCPU wants 20 instances, max_count caps at 10, the budget of 3 clips to 7
    (scale,) = plan(build(policy, catalog, [group], {"g": {CPU: fc(5, 20, 21)}})).commands
    assert scale.after == {"desired": 7} and "clipped to +3" in scale.reason


def test_scale_out_outside_budget_when_policy_says_so(catalog):
    """``budget_scale_outs: false``: the scale-out goes to what the need calls for (within
    max_count) while a scale-in and a resize stay inside the same budget."""
    policy = make_policy(max_resources_changed=3, budget_scale_outs=False)
    members = [
        Member(resource_id=f"i-{i}", instance_type="m6i.large", region="r1", asg_name="a")
        for i in range(4)
    ]
    grows = PlanGroup(group_id="g", region="r1", members=members, group_class="default")
    shrinks = PlanGroup(
        group_id="s",
        region="r1",
        members=[
            Member(resource_id=f"j-{i}", instance_type="m6i.large", region="r1", asg_name="b")
            for i in range(9)
        ],
        group_class="default",
    )
    out = plan(
        build(
            policy,
            catalog,
            [grows, shrinks],
            {"g": {CPU: fc(5, 20, 21)}, "s": {CPU: fc(0.5, 1, 1.2)}},
        )
    )
    scale_out = next(c for c in out.commands if c.target == "a")
    assert scale_out.after == {"desired": 10} and "clipped" not in scale_out.reason
    # the scale-in of b (9 -> 1) changes 8 resources: past the budget of 3, held back
    assert [c.target for c in out.commands] == ["a"]
    held = {s.command.target: s.reason for s in out.skipped}
    assert "per-cycle budget used up" in held["b"], held


def test_forecast_only_records(catalog):
    policy = make_policy(forecast_only=True)
    out = plan(build(policy, catalog, [standalone()], {"web": {NET: fc(0.5, 1.0, 1.4)}}))
    assert out.commands and all(c.status == CommandStatus.RECORDED for c in out.commands)


def test_edge_cache_and_routing(policy, catalog):
    groups = [
        standalone("a", "m6i.8xlarge", cls="default", region="r1"),
        standalone("b", "m6i.8xlarge", cls="default", region="r2"),
    ]
    forecasts = {"a": {NET: fc(5, 8, 9)}, "b": {NET: fc(10, 25, 30)}}
    inp = build(policy, catalog, groups, forecasts, routing_weights={"r1": 100, "r2": 100})
    out = plan(inp)
    (cache,) = out.of_kind(CommandKind.EDGE_CACHE)
    assert cache.target == "edge-cache/r1" and cache.after["nodes"] == 3  # (8 - 3) / 2 -> 3
    (route,) = out.of_kind(CommandKind.ROUTING)
    # r1 allocated 8 for 8 demanded; r2 allocated 20 (region cap) for 25 -> 20 * 0.8 = 16
    assert route.after == {"weights": {"r1": round(255 * 8 / 16), "r2": 255}}
    assert route.status == CommandStatus.NEEDS_APPROVAL


def test_preallocation_up_and_down(policy, catalog):
    group = standalone(tenant="acme")
    forecasts = {
        "web": {
            NET: fc(0.1, 0.2, 0.3),
            CPU: fc(1, 2, 3),
            PlanMetric.IO_MBPS: fc(10, 20, 30),
            PlanMetric.LATENCY_MS: fc(5, 9, 12),
        }
    }
    records = {"web": {CPU: 10.0, NET: 0.1, PlanMetric.IO_MBPS: 30.0, PlanMetric.LATENCY_MS: 12.0}}
    inp = build(policy, catalog, [group], forecasts, preallocations=records)
    (pre,) = plan(inp).of_kind(CommandKind.PREALLOCATE)
    assert pre.target == "web"
    assert pre.after == {"cpu_vcpu": 3.0, "network_gbps": 0.3, "io_mbps": 30.0, "latency_ms": 12.0}
    assert "up network_gbps" in pre.reason and "down cpu_vcpu" in pre.reason
    same = build(
        policy,
        catalog,
        [group],
        forecasts,
        preallocations={
            "web": {CPU: 3.0, NET: 0.3, PlanMetric.IO_MBPS: 30.0, PlanMetric.LATENCY_MS: 12.0}
        },
    )
    assert plan(same).of_kind(CommandKind.PREALLOCATE) == []


def test_no_forecast_no_commands(policy, catalog):
    out = plan(build(policy, catalog, [standalone()], {}))
    assert out.commands == [] and out.skipped == []
    with pytest.raises(ValueError):
        MetricForecast(quantiles={"p90": "lots"})


def test_recheck_before_apply(policy, catalog):
    from reconciler.planning import recheck

    peak = NOW + timedelta(hours=3)
    group = standalone()
    forecasts = {"web": {NET: fc(0.5, 1.0, 1.4, peak), CPU: fc(1, 2, 3)}}
    out = plan(build(policy, catalog, [group], forecasts))
    (resize,) = out.of_kind(CommandKind.RESIZE)
    (tier,) = out.of_kind(CommandKind.BANDWIDTH_TIER)
    safety = policy.safety
    assert "scheduled for" in recheck(resize, safety, [], NOW)
    assert recheck(resize, safety, [], peak) is None
    later = tier.model_copy(update={"issued_at": NOW + timedelta(minutes=1)})
    assert "cooling down" in recheck(tier, safety, [later], NOW + timedelta(minutes=2))
    assert recheck(tier, safety, [tier], NOW) is None
    recorded = tier.model_copy(update={"status": CommandStatus.RECORDED})
    assert "forecast-only" in recheck(recorded, safety, [], NOW)
