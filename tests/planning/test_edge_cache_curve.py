"""plan_edge_cache sized from a miss-ratio curve (policy target_hit_ratio + request logs)."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.planning.models import CommandKind, PlanInput
from reconciler.planning.network import plan_edge_cache
from reconciler.planning.payloads import CachePayload, payload_of
from reconciler.users.models import HotPrefix, MissRatioCurve, UserSignals
from tests.planning.conftest import NOW, make_policy

GIB = 2.0**30
ACTIONS = """\
  - type: edge_cache
    regions: [r1, r2]
    node_type: cache.r6g.large
    node_gbps: 2
    threshold_gbps: 3
    max_nodes: 4
    target_hit_ratio: 0.8
    node_memory_gib: 2
    node_hourly_usd: 0.206
    prewarm_objects: 2
"""


def _curve(region: str) -> MissRatioCurve:
    # 1.5 GiB usable per node (2 GiB x 0.75): 1 node misses 50 %, 2 nodes 25 %, 3 nodes 15 %
    return MissRatioCurve(
        region=region,
        sizes_bytes=(1.5 * GIB, 3.0 * GIB, 4.5 * GIB),
        miss_ratio=(0.5, 0.25, 0.15),
        requests=360_000,
        unique_bytes=20 * GIB,
        window_s=3600,
        sample_rate=0.05,
    )


def _inp(edge_nodes: dict[str, int], users: UserSignals | None) -> PlanInput:
    policy = make_policy(ACTIONS, scale_in_hysteresis=0.1)
    return PlanInput(
        policy=policy,
        groups=[],
        forecasts={},
        catalog={},
        now=NOW,
        edge_nodes=edge_nodes,
        users=users,
    )


def _signals() -> UserSignals:
    return UserSignals(
        at=datetime(2026, 1, 5, 12, tzinfo=UTC),
        region_requests={"r1": 150.0},
        curves={"r1": _curve("r1")},
        hot_objects={"r1": [("cdn/img/a.png", 3.0), ("cdn/img/b.png", 2.0), ("cdn/x", 1.0)]},
        hot_prefixes={
            "r1": [
                HotPrefix("/img/", (900.0, 1000.0, 1000.0), 300),
                HotPrefix("/doc/", (10.0, 200.0, 400.0), 3600),
            ]
        },
    )


def test_curve_sizes_the_cache_and_names_what_it_keeps() -> None:
    (cmd,) = plan_edge_cache(_inp({"r1": 1}, _signals()), _policy_action())
    assert cmd.kind == CommandKind.EDGE_CACHE and cmd.target == "edge-cache/r1"
    p = payload_of(cmd)
    assert isinstance(p, CachePayload)
    assert (p.nodes, p.expected_hit_ratio, p.hourly_usd) == (3, 0.85, 0.618)
    assert p.hot_prefixes == ("/img/", "/doc/") and p.ttl_s == {"/img/": 300, "/doc/": 3600}
    assert p.prewarm == ("cdn/img/a.png", "cdn/img/b.png")
    assert "expected hit ratio 85.0%" in cmd.reason and "$0.618/h" in cmd.reason
    assert "hot prefixes /img/, /doc/" in cmd.reason and "150.0 req/s" in cmd.reason
    assert cmd.increase and cmd.evidence.forecast["requests_per_s"] == 150.0
    assert "target_hit_ratio=0.8" in cmd.evidence.policy_rule


def test_same_count_is_no_command_and_regions_without_curve_keep_the_threshold_rule() -> None:
    # r1 already at 3 nodes: nothing; r2 has no curve and no network forecast: threshold rule
    # with no demand -> 0 nodes wanted, currently 2 -> scale in to 0.
    cmds = plan_edge_cache(_inp({"r1": 3, "r2": 2}, _signals()), _policy_action())
    (cmd,) = cmds
    assert cmd.target == "edge-cache/r2" and cmd.after == {
        "node_type": "cache.r6g.large",
        "nodes": 0,
    }


def test_without_users_the_threshold_rule_is_unchanged() -> None:
    assert plan_edge_cache(_inp({"r1": 0}, None), _policy_action()) == []


def _policy_action():  # type: ignore[no-untyped-def]
    (action,) = make_policy(ACTIONS).actions
    return action
