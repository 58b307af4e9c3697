"""Folding planner commands into the next desired state."""

from __future__ import annotations

from typing import Any

from infra.desired_state import BandwidthTierSpec, DesiredState
from reconciler.actuate.from_commands import desired_state_from
from reconciler.planning.models import Command, CommandKind, CommandStatus
from tests.actuate.fakes import T0
from tests.infra.samples import minimal_state, web_state


def cmd(kind: CommandKind, target: str, after: dict[str, Any], **kw: Any) -> Command:
    return Command(
        kind=kind, target=target, before={}, after=after, reason="test", issued_at=T0, **kw
    )


def test_commands_fold_into_the_state() -> None:
    previous = DesiredState.model_validate(web_state())
    gold_plus = BandwidthTierSpec(tier="platinum", guaranteed_mbps=2000, ceiling_mbps=4000)
    commands = [
        cmd(CommandKind.RESIZE, "i-0aaa", {"instance_type": "m6in.xlarge"}),
        cmd(CommandKind.SCALE, "web-asg-prod", {"desired": 10}),
        cmd(CommandKind.BANDWIDTH_TIER, "web", {"tier": "platinum"}),
        cmd(
            CommandKind.EDGE_CACHE,
            "edge-cache/us-east-1",
            {"node_type": "cache.r7g.xlarge", "nodes": 4},
        ),
        cmd(
            CommandKind.EDGE_CACHE,
            "edge-cache/eu-west-1",
            {"node_type": "cache.r7g.large", "nodes": 2},
        ),
        cmd(
            CommandKind.ROUTING,
            "route53/api.example.com",
            {"weights": {"us-east-1": 200, "eu-west-1": 55}},
        ),
        cmd(CommandKind.ROUTING, "global_accelerator/api", {"weights": {"eu-west-1": 80}}),
    ]
    folded = desired_state_from(previous, commands, generated_at=T0, tiers={"platinum": gold_plus})
    state = folded.state
    assert folded.not_applied == [] and len(folded.applied) == 7
    assert state.generated_at == T0
    web = state.groups[0]
    assert web.instances[0].instance_type == "m6in.xlarge"
    asg = web.scaling_groups[0]
    assert (asg.desired, asg.min_size, asg.max_size) == (10, 2, 10)
    assert web.bandwidth_tier == gold_plus
    caches = {c.region: c for c in state.edge_caches}
    assert (caches["us-east-1"].num_nodes, caches["us-east-1"].node_type) == (4, "cache.r7g.xlarge")
    assert caches["eu-west-1"].replication_group_id == "headroom-edge-eu-west-1"
    regions = {r.region: r for r in state.routing[0].regions}
    assert (regions["us-east-1"].share, regions["eu-west-1"].share) == (200, 55)
    assert regions["eu-west-1"].traffic_dial == 80
    assert regions["ap-southeast-2"].share == 0.01  # untouched


def test_unmatched_and_held_back_commands_are_returned_with_reasons() -> None:
    previous = DesiredState.model_validate(minimal_state())
    commands = [
        cmd(CommandKind.RESIZE, "i-unknown", {"instance_type": "m5.large"}),
        cmd(CommandKind.SCALE, "api-asg", {"desired": 5}, status=CommandStatus.NEEDS_APPROVAL),
        cmd(CommandKind.BANDWIDTH_TIER, "api", {"tier": "gold"}),
        cmd(
            CommandKind.EDGE_CACHE,
            "edge-cache/us-west-2",
            {"node_type": "cache.t4g.small", "nodes": 9},
        ),
        cmd(CommandKind.ROUTING, "route53/www.example.com", {"weights": {"sa-east-1": 10}}),
        cmd(CommandKind.PREALLOCATE, "api", {"network_gbps": 2.0}),
    ]
    folded = desired_state_from(previous, commands, generated_at=T0)
    reasons = [why for _, why in folded.not_applied]
    assert folded.applied == []
    assert reasons == [
        "no instance or scaling group i-unknown in the desired state",
        "status needs_approval: not applied",
        "tier gold: no rates known (pass tiers=) and group api has none yet",
        "9 nodes: a replication group holds at most 6",
        "regions sa-east-1 have no target in routing www",
        "no capacity reservations in the command: the record is the state store's",
    ]
    assert folded.state.groups == previous.groups


def test_preallocation_holds_capacity_reservations_and_releases_them() -> None:
    previous = DesiredState.model_validate(minimal_state())
    held = [
        {"zone": "us-east-1a", "instance_type": "m6i.large", "count": 2},
        {"zone": "us-east-1b", "instance_type": "m6i.large", "count": 1},
    ]
    up = cmd(CommandKind.PREALLOCATE, "tenant=acme", {"cpu_vcpu": 5.0, "reservations": held})
    folded = desired_state_from(previous, [up], generated_at=T0)
    assert folded.applied == [up]
    group = next(g for g in folded.state.groups if g.capacity_reservations)
    assert group.id.startswith("tenant-acme-")  # the group id made valid, stable
    got = {
        (r.availability_zone, r.region, r.instance_type, r.count)
        for r in group.capacity_reservations
    }
    assert got == {
        ("us-east-1a", "us-east-1", "m6i.large", 2),
        ("us-east-1b", "us-east-1", "m6i.large", 1),
    }
    down = cmd(CommandKind.PREALLOCATE, "tenant=acme", {"cpu_vcpu": 0.1, "reservations": []})
    released = desired_state_from(folded.state, [down], generated_at=T0)
    assert all(not g.capacity_reservations for g in released.state.groups)


def test_a_malformed_command_is_refused_naming_the_field() -> None:
    previous = DesiredState.model_validate(minimal_state())
    bad = [
        cmd(CommandKind.SCALE, "api-asg", {"desired": -2}),
        cmd(CommandKind.RESIZE, "api-asg", {"type": "m5.large"}),
    ]
    folded = desired_state_from(previous, bad, generated_at=T0)
    assert folded.applied == []
    reasons = [why for _, why in folded.not_applied]
    assert reasons[0].startswith("malformed command: scale api-asg: desired:")
    assert "instance_type: Field required" in reasons[1]
    assert "type: Extra inputs are not permitted" in reasons[1]
    assert folded.state.groups == previous.groups
