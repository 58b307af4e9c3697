"""Audit fixes: max_count, shrink timing, regional evidence, hysteresis, per-family size cap."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from providers.models import InstanceType
from reconciler.planning import (
    Command,
    CommandKind,
    Member,
    PlanGroup,
    PlanInput,
    cheapest_type,
    plan,
    propose,
)
from reconciler.planning.sizing import size_rank
from tests.planning.conftest import NOW, base_types, it, make_policy
from tests.planning.test_planner import CPU, MEM, NET, build, fc, standalone

PEAK = NOW + timedelta(hours=3)

SCALE_AT_MAX = """\
  - type: resize
    families: [m6i, c6i]
    largest_size: {largest}
    lead_time: 20m
  - type: scale
    min_count: 1
    max_count: {top}
    target_utilization: 0.5
"""


def _catalog(*extra: InstanceType) -> dict[str, InstanceType]:
    types = [*base_types(), it("c6i.8xlarge", 32, 64, 12.5, 12.5, 1.36), *extra]
    return {t.name: t for t in types}


def _asg_group(n: int = 2, standalone_members: int = 0, desired: int | None = None) -> PlanGroup:
    members = [
        Member(resource_id=f"i-{i}", instance_type="m6i.large", region="r1", asg_name="asg")
        for i in range(n)
    ] + [
        Member(resource_id=f"i-s{i}", instance_type="m6i.large", region="r1")
        for i in range(standalone_members)
    ]
    asg_desired = {"asg": desired} if desired is not None else {}
    return PlanGroup(
        group_id="g", region="r1", members=members, group_class="default", asg_desired=asg_desired
    )


def _kinds(cmds: list[Command], kind: CommandKind) -> list[Command]:
    return [c for c in cmds if c.kind == kind]


# 1. scale-out at max_count


def test_asg_at_max_count_leaves_a_note_instead_of_nothing() -> None:
    policy = make_policy(SCALE_AT_MAX.format(largest="2xlarge", top=2))
    out = plan(build(policy, _catalog(), [_asg_group()], {"g": {CPU: fc(5, 20, 21)}}))
    assert out.commands == []
    (note,) = out.skipped
    assert note.command.kind == CommandKind.SCALE
    assert note.command.before == {"desired": 2} and note.command.after == {"desired": 20}
    assert note.reason.startswith("unmet: asg needs 20 x m6i.large")
    assert "max_count is 2" in note.reason and "up to 2xlarge" in note.reason
    assert "18.000 vCPU stays unmet" in note.reason  # 20 - 2 x 2 vCPU x 50 %


def test_asg_below_max_count_scales_to_max_and_notes_the_rest() -> None:
    policy = make_policy(SCALE_AT_MAX.format(largest="2xlarge", top=2))
    inp = build(policy, _catalog(), [_asg_group(desired=1)], {"g": {CPU: fc(5, 20, 21)}})
    out = plan(inp)
    (scale,) = out.commands
    assert scale.after == {"desired": 2} and "capped at max_count=2" in scale.reason
    (note,) = out.skipped
    assert "18.000 vCPU stays unmet" in note.reason


def test_asg_at_max_count_resizes_its_type_when_one_serves() -> None:
    policy = make_policy(SCALE_AT_MAX.format(largest="8xlarge", top=2))
    forecasts = {"g": {CPU: fc(5, 20, 21, PEAK)}}
    out = plan(build(policy, _catalog(), [_asg_group()], forecasts))
    (resize,) = out.commands
    # 20 vCPU at 50 % over 2 instances: 20 vCPU each -> c6i.8xlarge (32 vCPU, cheaper than m6i)
    assert resize.kind == CommandKind.RESIZE and resize.target == "asg"
    assert resize.before == {"instance_type": "m6i.large"}
    assert resize.after == {"instance_type": "c6i.8xlarge"}
    assert resize.increase and resize.not_before == PEAK - timedelta(minutes=20)
    assert resize.resources_changed == 2 and out.skipped == []


def test_standalone_resized_when_the_asg_cannot_absorb_it() -> None:
    policy = make_policy(SCALE_AT_MAX.format(largest="2xlarge", top=5))
    # 7.5 vCPU over 3 members = 2.5 each: the ASG's own 5 vCPU needs 5 instances (= max);
    # moving the standalone share on top would need 8 > 5, so the standalone member is resized
    inp = build(policy, _catalog(), [_asg_group(standalone_members=1)], {"g": {CPU: fc(5, 7.5, 8)}})
    cmds = propose(inp)
    (resize,) = _kinds(cmds, CommandKind.RESIZE)
    assert resize.target == "i-s0" and resize.after == {"instance_type": "c6i.xlarge"}
    (scale,) = _kinds(cmds, CommandKind.SCALE)
    assert scale.after == {"desired": 5} and "instead of resizing" not in scale.reason
    assert not any(s.reason.startswith("unmet") for s in plan(inp).skipped)


def test_scale_out_still_preferred_when_it_fits() -> None:
    policy = make_policy(SCALE_AT_MAX.format(largest="2xlarge", top=10))
    inp = build(policy, _catalog(), [_asg_group(standalone_members=1)], {"g": {CPU: fc(5, 7.5, 8)}})
    cmds = propose(inp)
    assert _kinds(cmds, CommandKind.RESIZE) == []
    (scale,) = _kinds(cmds, CommandKind.SCALE)
    assert scale.after == {"desired": 8} and "instead of resizing" in scale.reason


def test_standalone_nothing_fits_and_no_asg_is_noted() -> None:
    policy = make_policy(SCALE_AT_MAX.format(largest="large", top=10))
    inp = build(policy, _catalog(), [standalone(cls="default")], {"web": {CPU: fc(1, 3, 4)}})
    out = plan(inp)
    assert out.of_kind(CommandKind.RESIZE) == []
    (note,) = out.skipped
    assert note.reason == (
        "unmet: i-web0 (m6i.large) cannot carry 12.500 Gbps (peak), 3.00 vCPU, 8.00 GiB and is "
        "not resized: no type of ['m6i', 'c6i'] up to large fits"
    )


# 2. shrink timing and 4. minimum saving / hysteresis for cost-saving resizes


def _shrink_input(
    mem: float, peak_at: datetime | None = PEAK, min_change: float = 0.1
) -> PlanInput:
    policy = make_policy(min_change_fraction=min_change)
    forecasts = {
        "web": {
            NET: fc(0.1, 0.2, 0.3, peak_at),
            CPU: fc(0.5, 1, 1, peak_at),
            MEM: fc(1, mem, mem, peak_at),
        }
    }
    return build(policy, _catalog(), [standalone(itype="m6i.large", cls="default")], forecasts)


def test_shrink_is_scheduled_after_the_peak() -> None:
    out = plan(_shrink_input(mem=2))
    (resize,) = out.of_kind(CommandKind.RESIZE)
    assert resize.after == {"instance_type": "c6i.large"}  # saves 11.5 % of m6i.large
    assert not resize.increase and "cost saving" in resize.reason
    assert resize.not_before == PEAK + timedelta(minutes=20)  # not PEAK - 20m
    past = plan(_shrink_input(mem=2, peak_at=NOW - timedelta(hours=1)))
    (now,) = past.of_kind(CommandKind.RESIZE)
    assert now.not_before == NOW


def test_shrink_needs_a_minimum_saving() -> None:
    out = plan(_shrink_input(mem=2, min_change=0.2))
    assert out.of_kind(CommandKind.RESIZE) == []
    (note,) = [s for s in out.skipped if s.command.kind == CommandKind.RESIZE]
    assert note.command.after == {"instance_type": "c6i.large"}
    assert note.reason == "saving of 11% ($0.0110/h) is below the minimum 20%"


def test_shrink_needs_hysteresis_to_spare() -> None:
    # 3.8 GiB fits c6i.large's 4 GiB, but not with 10 % to spare (3.8 / 0.9 = 4.2): no shrink
    out = plan(_shrink_input(mem=3.8))
    assert out.of_kind(CommandKind.RESIZE) == [] and out.skipped == []
    (resize,) = plan(_shrink_input(mem=3.5)).of_kind(CommandKind.RESIZE)  # 3.9 <= 4
    assert resize.after == {"instance_type": "c6i.large"}


# 3. evidence on cache, routing and pre-allocation commands


def _regional(**kw: Any) -> PlanInput:
    groups = [
        standalone("a", "m6i.8xlarge", cls="default", region="r1"),
        standalone("a2", "m6i.8xlarge", cls="default", region="r1"),
        standalone("b", "m6i.8xlarge", cls="default", region="r2"),
    ]
    forecasts = {
        "a": {NET: fc(2, 4, 5, PEAK)},
        "a2": {NET: fc(1, 2, 3, PEAK + timedelta(hours=1))},
        "b": {NET: fc(5, 10, 12)},
    }
    return build(make_policy(), _catalog(), groups, forecasts, **kw)


def test_edge_cache_evidence_has_interval_quantile_peak_and_ledger() -> None:
    (cache,) = plan(_regional()).of_kind(CommandKind.EDGE_CACHE)
    assert cache.after["nodes"] == 2  # (6 - 3) / 2 -> 2
    ev = cache.evidence
    assert ev.forecast == {"region_demand_gbps": 6.0, "p50": 3.0, "p90": 6.0, "p99": 8.0}
    assert ev.interval == (3.0, 8.0) and ev.quantile == 0.9
    assert ev.peak_at == PEAK  # the larger group's peak
    assert "a: allocated 4.000 Gbps = 0.000 guarantee + 4.000 pool share + 0.000 borrowed" in (
        ev.ledger
    )
    assert "a2: q0.9 2.000 Gbps with headroom, peak 2026-01-05T16:00:00+00:00" in ev.ledger
    assert "pool r1: 6.000 of 30 Gbps allocated for 6.000 Gbps demanded" in ev.ledger
    assert not any(line.startswith("b:") for line in ev.ledger)


def test_routing_evidence_covers_every_region() -> None:
    (route,) = plan(_regional(routing_weights={"r1": 200, "r2": 100})).of_kind(CommandKind.ROUTING)
    ev = route.evidence
    assert ev.forecast["r1_demand_gbps"] == 6.0 and ev.forecast["r2_p99"] == 12.0
    assert ev.forecast["r1_p50"] == 3.0 and ev.forecast["r2_demand_gbps"] == 10.0
    assert ev.interval == (8.0, 20.0) and ev.quantile == 0.9 and ev.peak_at is None
    assert "b: allocated 10.000 Gbps = 0.000 guarantee + 10.000 pool share + 0.000 borrowed" in (
        ev.ledger
    )
    assert "pool r2: 10.000 of 20 Gbps allocated for 10.000 Gbps demanded" in ev.ledger
    assert "min change 25.5" in ev.policy_rule


def test_preallocation_evidence_has_the_ledger() -> None:
    group = standalone(tenant="acme")
    forecasts = {"web": {NET: fc(0.1, 0.2, 0.3, PEAK), CPU: fc(1, 2, 3)}}
    (pre,) = plan(build(make_policy(), _catalog(), [group], forecasts)).of_kind(
        CommandKind.PREALLOCATE
    )
    ev = pre.evidence
    assert ev.quantile == 0.99 and ev.interval == (0.1, 0.3) and ev.peak_at == PEAK
    assert ev.ledger and ev.ledger[0].startswith("demand 0.300 Gbps (forecast q0.99")
    assert ev.ledger[-1] == (
        "allocated 0.300 Gbps = 0.300 guarantee + 0.000 pool share + 0.000 borrowed"
    )


# 4. hysteresis on tiers, cache nodes and routing weights


def _tier_plan(p90: float, tier: str) -> list[Command]:
    group = standalone(itype="m6i.8xlarge", cls="default", bandwidth_tier=tier)
    inp = build(make_policy(), _catalog(), [group], {"web": {NET: fc(0.1, p90, p90)}})
    return plan(inp).of_kind(CommandKind.BANDWIDTH_TIER)


def test_tier_steps_down_only_below_the_lower_tier_by_the_hysteresis() -> None:
    assert _tier_plan(0.95, "fast") == []  # basic (1 Gbps) would fit, not with 10 % to spare
    (down,) = _tier_plan(0.85, "fast")
    assert down.after == {"tier": "basic"} and not down.increase
    (up,) = _tier_plan(1.05, "basic")  # stepping up is never held back
    assert up.after == {"tier": "fast"} and up.increase


def test_tier_left_alone_for_a_group_without_a_pool() -> None:
    """The allocator grants 0 to a region with no pool: that is no reason to drop its tier."""
    group = standalone(itype="m6i.8xlarge", cls="default", region="mars", bandwidth_tier="fast")
    inp = build(make_policy(), _catalog(), [group], {"web": {NET: fc(0.1, 0.5, 0.5)}})
    assert inp.allocations is not None
    assert inp.allocations.by_group()["web"].allocated_gbps == 0.0
    assert plan(inp).of_kind(CommandKind.BANDWIDTH_TIER) == []


def test_group_without_a_pool_is_sized_by_its_forecast() -> None:
    """Granted 0 for want of a pool is not a need of 0: the ASG is not scaled in."""
    members = [
        Member(resource_id=f"i-{i}", instance_type="m6i.large", region="mars", asg_name="asg-m")
        for i in range(4)
    ]
    group = PlanGroup(
        group_id="web",
        region="mars",
        members=members,
        group_class="default",
        asg_desired={"asg-m": 4},
    )
    forecasts = {"web": {NET: fc(1, 2.0, 2.0), CPU: fc(4, 6, 6)}}
    (scale,) = propose(build(make_policy(), _catalog(), [group], forecasts))
    # 6 vCPU at 50 % of 2 vCPU = 6 instances (not 1, as a 0 Gbps allocation would say)
    assert scale.kind == CommandKind.SCALE and scale.after == {"desired": 6}


def _cache_nodes(p90: float, nodes: int) -> list[Command]:
    group = standalone("a", "m6i.8xlarge", cls="default", region="r1")
    inp = build(
        make_policy(), _catalog(), [group], {"a": {NET: fc(1, p90, p90)}}, edge_nodes={"r1": nodes}
    )
    return plan(inp).of_kind(CommandKind.EDGE_CACHE)


def test_cache_nodes_step_down_only_with_hysteresis() -> None:
    # 6.9 Gbps: 2 nodes carry 3 + 4 = 7, but not with 10 % to spare (6.3): 3 stay
    assert _cache_nodes(6.9, 3) == []
    (down,) = _cache_nodes(6.0, 3)
    assert down.after["nodes"] == 2
    (gone,) = _cache_nodes(2.5, 1)  # threshold 3 x 0.9 = 2.7 carries it without caches
    assert gone.after["nodes"] == 0
    assert _cache_nodes(2.8, 1) == []
    (up,) = _cache_nodes(7.5, 2)
    assert up.after["nodes"] == 3 and up.increase


def test_routing_weights_move_only_by_the_minimum_change() -> None:
    # computed: r1 round(255 * 6 / 10) = 153, r2 255; the step is 10 % of 255 = 25.5
    (route,) = plan(_regional(routing_weights={"r1": 140, "r2": 100})).of_kind(CommandKind.ROUTING)
    assert route.after == {"weights": {"r1": 140, "r2": 255}}  # r1 moves 13 < 25.5: kept
    assert (
        plan(_regional(routing_weights={"r1": 140, "r2": 240})).of_kind(CommandKind.ROUTING) == []
    )
    (fresh,) = plan(_regional()).of_kind(CommandKind.ROUTING)  # no weights yet: all set
    assert fresh.after == {"weights": {"r1": 153, "r2": 255}}


# 5. largest_size per family


def test_size_order() -> None:
    order = ["nano", "micro", "small", "medium", "large", "xlarge", "2xlarge", "8xlarge"]
    order += ["24xlarge", "metal-24xl", "48xlarge", "metal"]
    ranks = [r for s in order if (r := size_rank(s)) is not None]
    assert len(ranks) == len(order) and ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    assert size_rank("standard-8") is None


def test_largest_size_caps_a_family_lacking_that_size() -> None:
    cat = _catalog(it("c6i.metal", 128, 256, 50, 50, 5.0))
    # c6i has no 2xlarge: its 8xlarge and metal are still above the cap
    assert (
        cheapest_type(cat, ["m6i", "c6i"], gbps=5, vcpu=1, memory_gib=1, largest_size="2xlarge")
        is None
    )
    t = cheapest_type(cat, ["m6i", "c6i"], gbps=3, vcpu=1, memory_gib=1, largest_size="2xlarge")
    assert t is not None and t.name == "m6i.2xlarge"
    t = cheapest_type(cat, ["m6i", "c6i"], gbps=5, vcpu=1, memory_gib=1, largest_size="8xlarge")
    assert t is not None and t.name == "c6i.8xlarge"
    t = cheapest_type(cat, ["c6i"], gbps=20, vcpu=1, memory_gib=1, largest_size="metal")
    assert t is not None and t.name == "c6i.metal"
    # a size outside the naming scheme falls back to the vCPUs of <family>.<largest>
    odd = {"x.big": it("x.big", 64, 64, 25, 25, 1.0), "x.huge": it("x.huge", 96, 96, 25, 25, 2.0)}
    t = cheapest_type(odd, ["x"], gbps=1, vcpu=70, memory_gib=1, largest_size="huge")
    assert t is not None and t.name == "x.huge"
    assert cheapest_type(odd, ["x"], gbps=1, vcpu=70, memory_gib=1, largest_size="big") is None
