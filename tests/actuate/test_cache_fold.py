"""Folding edge cache commands: curve-sized nodes become cluster-mode shards (memory), threshold
nodes stay cache clusters (bandwidth); and a curve-sized plan deploys the memory it expects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from infra.desired_state import DesiredState, EdgeCacheSpec
from reconciler.actuate.from_commands import MAX_CACHE_NODES, desired_state_from
from reconciler.caching.sizing import USABLE_FRACTION
from reconciler.planning.models import Command, CommandKind, PlanInput
from reconciler.planning.network import plan_edge_cache
from reconciler.users.models import MissRatioCurve, UserSignals
from tests.actuate.fakes import T0
from tests.infra.harness import run_program
from tests.infra.samples import minimal_state, web_state
from tests.planning.conftest import NOW, make_policy

GIB = 2.0**30
GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"


def cache_cmd(region: str, nodes: int, curve: bool) -> Command:
    after: dict[str, Any] = {"node_type": "cache.r7g.large", "nodes": nodes}
    if curve:
        after |= {"expected_hit_ratio": 0.9, "hourly_usd": 0.2 * nodes}
    return Command(
        kind=CommandKind.EDGE_CACHE,
        target=f"edge-cache/{region}",
        before={},
        after=after,
        reason="test",
        issued_at=T0,
    )


def fold(state: dict[str, Any], *commands: Command) -> tuple[dict[str, EdgeCacheSpec], list[str]]:
    out = desired_state_from(DesiredState.model_validate(state), commands, generated_at=T0)
    return {c.region: c for c in out.state.edge_caches}, [why for _, why in out.not_applied]


def test_a_curve_sized_command_creates_a_cluster_mode_cache_past_six_nodes() -> None:
    caches, refused = fold(minimal_state(), cache_cmd("us-west-2", 12, curve=True))
    new = caches["us-west-2"]
    assert refused == [] and new.replication_group_id == "headroom-edge-us-west-2"
    assert (new.shards, new.replicas_per_shard, new.num_nodes) == (12, 0, 12)


def test_a_threshold_command_creates_replicas_and_keeps_the_six_node_cap() -> None:
    caches, refused = fold(minimal_state(), cache_cmd("us-west-2", 4, curve=False))
    assert (caches["us-west-2"].shards, caches["us-west-2"].num_nodes) == (None, 4)
    _, refused = fold(minimal_state(), cache_cmd("us-west-2", MAX_CACHE_NODES + 1, curve=False))
    assert refused == ["7 nodes: a replication group holds at most 6"]


def test_a_curve_sized_command_does_not_convert_a_replica_cache() -> None:
    # web_state: ap-southeast-2 runs without cluster mode; AWS converts in two steps
    caches, refused = fold(web_state(), cache_cmd("ap-southeast-2", 3, curve=True))
    apse2 = caches["ap-southeast-2"]
    assert len(refused) == 1 and "runs without cluster mode" in refused[0]
    assert "convert it by hand" in refused[0]
    assert apse2.shards is None and apse2.num_nodes == web_state()["edge_caches"][1]["num_nodes"]


def test_a_curve_sized_command_on_a_cluster_cache_keeps_its_minimum() -> None:
    # ap-southeast-2 has a policy minimum of 2 nodes
    doc = web_state()
    doc["edge_caches"][1] |= {"shards": 1, "replicas_per_shard": 0, "num_nodes": 1}
    caches, refused = fold(doc, cache_cmd("ap-southeast-2", 1, curve=True))
    apse2 = caches["ap-southeast-2"]
    assert refused == [] and (apse2.shards, apse2.num_nodes) == (2, 2)


def test_a_threshold_command_on_a_cluster_mode_cache_sets_its_nodes_in_whole_shards() -> None:
    doc = web_state()
    doc["edge_caches"][1] |= {"shards": 3, "replicas_per_shard": 1, "num_nodes": 6}
    caches, refused = fold(doc, cache_cmd("ap-southeast-2", 5, curve=False))
    apse2 = caches["ap-southeast-2"]
    assert refused == []  # cluster mode is one-way in AWS: it stays on
    assert (apse2.shards, apse2.replicas_per_shard, apse2.num_nodes) == (3, 1, 6)  # ceil(5 / 2)
    caches, _ = fold(doc, cache_cmd("ap-southeast-2", 1, curve=False))
    assert (caches["ap-southeast-2"].shards, caches["ap-southeast-2"].num_nodes) == (1, 2)
    caches, _ = fold(doc, cache_cmd("ap-southeast-2", 7, curve=True))
    assert (caches["ap-southeast-2"].shards, caches["ap-southeast-2"].num_nodes) == (7, 14)


def test_shards_past_the_cluster_mode_limit_are_refused() -> None:
    doc = web_state()
    doc["edge_caches"][1] |= {"shards": 3, "replicas_per_shard": 1, "num_nodes": 6}
    caches, refused = fold(doc, cache_cmd("ap-southeast-2", 251, curve=True))
    assert refused == [
        "251 shards x 2 nodes: a cluster-mode replication group holds at most 500 nodes"
    ]
    assert caches["ap-southeast-2"].shards == 3  # unchanged
    caches, refused = fold(minimal_state(), cache_cmd("us-west-2", 500, curve=True))
    assert refused == [] and caches["us-west-2"].num_nodes == 500


ACTIONS = """\
  - type: edge_cache
    regions: [eu-west-1]
    node_type: cache.r7g.large
    node_gbps: 2
    threshold_gbps: 3
    max_nodes: 12
    target_hit_ratio: 0.9
    node_memory_gib: 2
    node_hourly_usd: 0.206
"""


def test_a_curve_sized_plan_deploys_the_memory_its_hit_ratio_is_read_at() -> None:
    usable = 2 * USABLE_FRACTION * GIB  # 1.5 GiB per node
    curve = MissRatioCurve(
        region="eu-west-1",
        sizes_bytes=tuple(n * usable for n in range(1, 13)),
        miss_ratio=(0.6, 0.45, 0.35, 0.28, 0.22, 0.17, 0.13, 0.095, 0.07, 0.05, 0.04, 0.035),
        requests=360_000,
        unique_bytes=30 * GIB,
        window_s=3600,
        sample_rate=0.05,
    )
    signals = UserSignals(
        at=datetime(2026, 1, 5, 12, tzinfo=UTC),
        region_requests={"eu-west-1": 100.0},
        curves={"eu-west-1": curve},
    )
    policy = make_policy(ACTIONS, scale_in_hysteresis=0.1)
    inp = PlanInput(policy=policy, groups=[], forecasts={}, catalog={}, now=NOW, users=signals)
    (cmd,) = plan_edge_cache(inp, policy.actions[0])
    assert cmd.after["nodes"] == 8 and cmd.after["expected_hit_ratio"] == pytest.approx(0.905)
    assert "8 shards x cache.r7g.large in cluster mode, 12.0 GiB usable" in cmd.reason
    out = desired_state_from(DesiredState.model_validate(minimal_state()), [cmd], generated_at=T0)
    run = run_program(out.state.model_dump(mode="json"))
    (group,) = run.of_type(GROUP)
    deployed = group.inputs["numNodeGroups"] * usable
    assert group.inputs["clusterMode"] == "enabled"
    assert 1 - curve.miss_at(deployed) == pytest.approx(cmd.after["expected_hit_ratio"], abs=1e-4)
    assert deployed / GIB == pytest.approx(cmd.evidence.forecast["cache_gib"])
