"""pick_cache: fewest nodes reaching the target, the unreachable case, hysteresis, throughput."""

from __future__ import annotations

import pytest

from policies.actions import EdgeCacheAction
from reconciler.caching.sizing import USABLE_FRACTION, pick_cache, prefixes_at
from reconciler.users.models import HotPrefix, MissRatioCurve

GIB = 2.0**30


def action(**kw: object) -> EdgeCacheAction:
    base: dict[str, object] = {
        "type": "edge_cache",
        "regions": ["r1"],
        "node_type": "cache.r6g.large",
        "node_gbps": 2,
        "threshold_gbps": 3,
        "max_nodes": 4,
        "target_hit_ratio": 0.8,
        "node_memory_gib": 1 / USABLE_FRACTION,  # 1 GiB usable per node
        "node_hourly_usd": 0.5,
    }
    return EdgeCacheAction.model_validate({**base, **kw})


def curve(miss: tuple[float, ...] = (0.5, 0.3, 0.15, 0.1, 0.05)) -> MissRatioCurve:
    return MissRatioCurve(
        region="r1",
        sizes_bytes=tuple(g * GIB for g in range(1, len(miss) + 1)),
        miss_ratio=miss,
        requests=36_000,
        unique_bytes=8 * GIB,
        window_s=3600,
        sample_rate=0.05,
    )


def test_fewest_nodes_reaching_the_target() -> None:
    pick = pick_cache(curve(), 10.0, action(), current_nodes=0, hysteresis=0.1)
    assert (pick.nodes, pick.expected_hit_ratio) == (3, pytest.approx(0.85))
    assert pick.hourly_usd == pytest.approx(1.5) and pick.size_bytes == pytest.approx(3 * GIB)
    assert "expected hit ratio 85.0% (target 80.0%)" in pick.reason and "$1.500/h" in pick.reason
    assert "1.5 req/s to origin" in pick.reason


def test_unreachable_target_takes_the_fewest_nodes_of_the_plateau() -> None:
    flat = curve((0.5, 0.3, 0.1, 0.1, 0.1))
    pick = pick_cache(flat, 10.0, action(target_hit_ratio=0.97), current_nodes=1, hysteresis=0.1)
    assert pick.nodes == 3 and pick.expected_hit_ratio == pytest.approx(0.9)
    assert "even max_nodes=4 reaches only 90.0% < target 97.0%" in pick.reason


def test_scale_in_is_held_by_hysteresis() -> None:
    held = pick_cache(curve(), 10.0, action(), current_nodes=4, hysteresis=0.2)
    assert held.nodes == 4  # 3 nodes shrunk by 20 % (2.4 GiB) hit only 70 %
    assert pick_cache(curve(), 10.0, action(), current_nodes=4, hysteresis=0.0).nodes == 3
    up = pick_cache(curve(), 10.0, action(), current_nodes=1, hysteresis=0.5)
    assert up.nodes == 3  # stepping up is never held back


def test_throughput_floor_from_the_forecast_rate() -> None:
    # 1000 req/s x 85 % hits x 1 MB x 8 = 6.8 Gbps over 2 Gbps nodes -> 4 nodes
    pick = pick_cache(curve(), 1000.0, action(), 0, 0.1, bytes_per_request=1e6)
    assert pick.nodes == 4 and "4 nodes to serve the forecast hits" in pick.reason


def test_no_target_is_an_error() -> None:
    with pytest.raises(ValueError, match="r1: pick_cache needs target_hit_ratio"):
        pick_cache(curve(), 1.0, action(target_hit_ratio=None), 0, 0.1)


def test_prefixes_holding_the_hits_at_the_size() -> None:
    img = HotPrefix("/img/", (900.0, 900.0, 900.0, 900.0, 900.0), 60)
    doc = HotPrefix("/doc/", (0.0, 100.0, 300.0, 500.0, 600.0), 600)
    css = HotPrefix("/css/", (10.0, 20.0, 30.0, 40.0, 50.0), 60)
    assert [p.prefix for p in prefixes_at([img, doc, css], curve(), 1.5 * GIB, 0.8)] == ["/img/"]
    at_4 = prefixes_at([img, doc, css], curve(), 4 * GIB, 0.8)
    assert [p.prefix for p in at_4] == ["/img/", "/doc/"]
    pick = pick_cache(curve(), 10.0, action(), 0, 0.1, prefixes=[img, doc, css], prewarm=["a"])
    assert pick.hot_prefixes == ("/img/", "/doc/") and pick.prewarm == ("a",)
    assert "hot prefixes /img/, /doc/ hold 80% of the hits" in pick.reason
