"""Hot path prefixes from curve-sized edge cache commands: folded into the desired state and
declared as CloudFront cache behaviours (one cache policy per TTL) under Pulumi mocks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from infra.desired_state import DesiredState, DesiredStateError, parse_desired_state
from reconciler.actuate.from_commands import desired_state_from
from reconciler.planning.models import Command, CommandKind
from tests.infra.harness import run_program
from tests.infra.samples import web_state

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
POLICY = "aws:cloudfront/cachePolicy:CachePolicy"


def cache_cmd(region: str, after: dict[str, Any]) -> Command:
    return Command(
        kind=CommandKind.EDGE_CACHE,
        target=f"edge-cache/{region}",
        before={},
        after={"node_type": "cache.r6g.large", **after},
        reason="test",
        issued_at=T0,
    )


def folded() -> DesiredState:
    commands = [
        cache_cmd(
            "us-east-1",
            {
                "nodes": 3,
                "expected_hit_ratio": 0.85,
                "hourly_usd": 0.618,
                "hot_prefixes": ["/img/", "/*/api/", "/bad prefix/"],
                "ttl_s": {"/img/": 300, "/*/api/": 60, "/bad prefix/": 60},
                "prewarm": ["cdn.example.com/img/launch.png"],
            },
        ),
        cache_cmd(
            "ap-southeast-2",
            {
                "nodes": 2,
                "expected_hit_ratio": 0.8,
                "hot_prefixes": ["/img/"],
                "ttl_s": {"/img/": 600},
            },
        ),
    ]
    doc = web_state()
    for cache in doc["edge_caches"]:  # curve sizing resizes caches already in cluster mode
        cache |= {"shards": cache["num_nodes"], "replicas_per_shard": 0}
    out = desired_state_from(DesiredState.model_validate(doc), commands, generated_at=T0)
    assert out.not_applied == []
    return out.state


def test_curve_commands_carry_prefixes_ttls_and_prewarm_into_the_state() -> None:
    caches = {c.region: c for c in folded().edge_caches}
    use1 = caches["us-east-1"]
    assert [(b.path_pattern, b.ttl_s) for b in use1.cache_behaviors] == [
        ("/img/*", 300),
        ("/*/api/*", 60),
    ]  # "/bad prefix/" has a character CloudFront refuses: left out, the fold goes on
    assert use1.prewarm == ("cdn.example.com/img/launch.png",) and use1.num_nodes == 3
    assert [b.path_pattern for b in caches["ap-southeast-2"].cache_behaviors] == ["/img/*"]


def test_a_threshold_command_keeps_the_previous_behaviours() -> None:
    state = folded()
    again = desired_state_from(state, [cache_cmd("us-east-1", {"nodes": 4})], generated_at=T0).state
    use1 = next(c for c in again.edge_caches if c.region == "us-east-1")
    assert use1.num_nodes == 4 and len(use1.cache_behaviors) == 2 and use1.prewarm


def test_program_declares_behaviours_with_a_policy_per_ttl() -> None:
    run = run_program(folded().model_dump(mode="json"))
    (dist,) = run.of_type(DISTRIBUTION)
    ordered = dist.inputs["orderedCacheBehaviors"]
    assert [b["pathPattern"] for b in ordered] == ["/*/api/*", "/img/*"]  # longer first
    assert {b["targetOriginId"] for b in ordered} == {"origin-us-east-1"}
    policies = {p.name: p.inputs for p in run.of_type(POLICY)}
    assert set(policies) == {"site-ttl-60", "site-ttl-600"}  # /img/*: the longest TTL, 600
    assert (policies["site-ttl-600"]["defaultTtl"], policies["site-ttl-600"]["maxTtl"]) == (
        600,
        600,
    )
    params = policies["site-ttl-60"]["parametersInCacheKeyAndForwardedToOrigin"]
    assert params["queryStringsConfig"] == {"queryStringBehavior": "none"}
    assert [b["cachePolicyId"] for b in ordered] == ["site-ttl-60-id", "site-ttl-600-id"]


def test_no_behaviours_no_policies() -> None:
    run = run_program(web_state())
    (dist,) = run.of_type(DISTRIBUTION)
    assert "orderedCacheBehaviors" not in dist.inputs or not dist.inputs["orderedCacheBehaviors"]
    assert run.of_type(POLICY) == []


def test_too_many_behaviours_for_one_distribution() -> None:
    doc = web_state()
    doc["edge_caches"][0]["cache_behaviors"] = [
        {"path_pattern": f"/p{i}/*", "ttl_s": 60} for i in range(26)
    ]
    with pytest.raises(DesiredStateError, match="26 cache behaviours exceed CloudFront's 25"):
        parse_desired_state(doc, source="test")
