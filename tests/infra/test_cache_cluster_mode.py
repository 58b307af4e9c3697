"""Edge caches whose memory scales out: EdgeCacheSpec's cluster mode (shards, replicas per
shard) validated, and declared by the program under Pulumi mocks next to the replica path."""

from __future__ import annotations

from typing import Any

import pytest

from infra.desired_state import DesiredStateError, EdgeCacheSpec, parse_desired_state
from tests.infra.harness import run_program
from tests.infra.samples import web_state

GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"


def cache(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "region": "eu-west-1",
        "replication_group_id": "edge-euw1",
        "node_type": "cache.r7g.large",
        "num_nodes": 4,
        "shards": 4,
    }
    return {**base, **kw}


def state_with(*caches: dict[str, Any]) -> dict[str, Any]:
    doc = web_state()
    doc["edge_caches"] = [*doc["edge_caches"], *caches]
    return doc


def test_cluster_mode_declares_shards_with_a_cluster_parameter_group() -> None:
    run = run_program(state_with(cache()))
    inputs = run.named("edge-euw1").inputs
    assert inputs["clusterMode"] == "enabled"
    assert (inputs["numNodeGroups"], inputs["replicasPerNodeGroup"]) == (4, 0)
    assert inputs["parameterGroupName"] == "default.valkey8.cluster.on"
    assert inputs["engineVersion"] == "8.0"
    assert inputs["automaticFailoverEnabled"] is True  # AWS wants it on in cluster mode
    assert inputs["multiAzEnabled"] is False  # Multi-AZ needs a replica
    assert "numCacheClusters" not in inputs
    assert run.outputs["edgeCaches"]["edge-euw1"] == {"region": "eu-west-1", "nodes": 4}


def test_without_shards_the_replica_path_is_unchanged() -> None:
    run = run_program(state_with(cache(num_nodes=3, shards=None)))
    inputs = run.named("edge-euw1").inputs
    assert inputs["numCacheClusters"] == 3
    assert (inputs["automaticFailoverEnabled"], inputs["multiAzEnabled"]) == (True, True)
    for key in ("clusterMode", "numNodeGroups", "replicasPerNodeGroup", "parameterGroupName"):
        assert key not in inputs
    one = run_program(state_with(cache(num_nodes=1, shards=None))).named("edge-euw1").inputs
    assert (one["numCacheClusters"], one["automaticFailoverEnabled"]) == (1, False)


def test_replicas_per_shard_and_a_named_engine() -> None:
    spec = cache(
        num_nodes=6,
        shards=3,
        replicas_per_shard=1,
        engine="redis",
        engine_version="7.1",
    )
    inputs = run_program(state_with(spec)).named("edge-euw1").inputs
    assert (inputs["numNodeGroups"], inputs["replicasPerNodeGroup"]) == (3, 1)
    assert inputs["parameterGroupName"] == "default.redis7.cluster.on"
    assert (inputs["engine"], inputs["engineVersion"]) == ("redis", "7.1")
    assert inputs["multiAzEnabled"] is True


def test_the_policy_minimum_raises_shards_in_whole_shards() -> None:
    spec = cache(num_nodes=4, shards=2, replicas_per_shard=1, min_nodes=7)
    run = run_program(state_with(spec))
    inputs = run.named("edge-euw1").inputs
    assert inputs["numNodeGroups"] == 4  # 7 nodes at 2 per shard: 4 shards, 8 nodes
    assert run.outputs["edgeCaches"]["edge-euw1"]["nodes"] == 8
    rails = [g for g in run.outputs["guardRails"] if g["resource"] == "edge-euw1"]
    assert [(g["requested"], g["applied"]) for g in rails] == [("4", "7")]


def test_prewarm_lists_are_a_stack_output() -> None:
    spec = cache(prewarm=["cdn.example.com/img/a.png", "cdn.example.com/img/b.png"])
    run = run_program(state_with(spec))
    assert run.outputs["edgeCachePrewarm"] == {
        "edge-euw1": ["cdn.example.com/img/a.png", "cdn.example.com/img/b.png"]
    }
    assert run_program(web_state()).outputs["edgeCachePrewarm"] == {}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (cache(num_nodes=3), "num_nodes 3 is not shards x \\(1 \\+ replicas_per_shard\\) = 4"),
        (cache(num_nodes=7, shards=None), "num_nodes 7 > 6, the most a group without cluster"),
        (cache(num_nodes=2, shards=None, min_nodes=8), "min_nodes 8 > 6"),
        (cache(num_nodes=2, shards=None, replicas_per_shard=1), "replicas_per_shard needs shards"),
        (
            cache(num_nodes=500, shards=84, replicas_per_shard=5),
            "84 shards x \\(1 \\+ 5 replicas\\) = 504 nodes > 500",
        ),
        (cache(engine_version="5.0.6", engine="redis"), "set parameter_group_name"),
        (cache(num_nodes=501, shards=501), "less than or equal to 500"),
        (cache(replicas_per_shard=6, num_nodes=28), "less than or equal to 5"),
    ],
)
def test_sizes_outside_elasticache_limits_are_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(DesiredStateError, match=message):
        parse_desired_state(state_with(spec), source="test")


def test_cluster_engine_defaults_and_a_named_group() -> None:
    assert EdgeCacheSpec.model_validate(cache()).cluster_engine == (
        "8.0",
        "default.valkey8.cluster.on",
    )
    named = cache(engine="redis", engine_version="5.0.6", parameter_group_name="my.cluster.on")
    spec = EdgeCacheSpec.model_validate(named)
    assert spec.cluster_engine == ("5.0.6", "my.cluster.on") and spec.cluster_mode
    assert not EdgeCacheSpec.model_validate(cache(shards=None)).cluster_mode
