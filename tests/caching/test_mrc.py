"""Miss-ratio curves against a brute-force LRU; hot objects and hot prefixes."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from reconciler.caching.mrc import (
    hot_objects,
    hot_prefixes,
    path_prefix,
    region_curves,
    stack_distances,
)
from tests.caching.helpers import T0, frame, lru_hit_ratio, zipf_stream


def _brute_distances(objs: list[int], sizes: np.ndarray) -> list[float]:
    stack: list[int] = []
    out: list[float] = []
    for o in objs:
        if o in stack:
            i = stack.index(o)
            out.append(float(sum(sizes[x] for x in stack[i:])))
            stack.pop(i)
        else:
            out.append(float("inf"))
        stack.append(o)
    return out


def test_stack_distances_match_brute_force() -> None:
    rng = np.random.default_rng(7)
    for _ in range(40):
        n, k = int(rng.integers(1, 200)), int(rng.integers(1, 30))
        objs = rng.integers(0, k, n)
        size = rng.integers(1, 50, k).astype(float)
        dist, prev = stack_distances(objs, size[objs])
        assert dist.tolist() == _brute_distances(objs.tolist(), size)
        assert all(p == -1 or objs[p] == objs[i] for i, p in enumerate(prev.tolist()))


def test_curve_is_exact_at_sample_rate_1() -> None:
    objs, sizes = zipf_stream(3000, 400, 0.9, seed=1)
    (curve,) = region_curves(frame(objs, sizes), 1.0, 3000.0).values()
    assert curve.requests == 3000 and curve.unique_bytes == sum(sizes[o] for o in set(objs))
    assert list(curve.miss_ratio) == sorted(curve.miss_ratio, reverse=True)
    for s in curve.sizes_bytes[:: len(curve.sizes_bytes) // 12]:
        assert curve.miss_at(s) == pytest.approx(1 - lru_hit_ratio(objs, sizes, s), abs=1e-12)


def _kept(obj: str, rate: float) -> bool:
    digest = hashlib.blake2b(obj.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64 < rate


def test_sampled_curve_within_tolerance_at_0_1() -> None:
    """SHARDS at 0.1 on a Zipf(0.9) stream of 60,000 requests over 6,000 objects, with the
    full request count (SHARDS-adj): the miss ratio at sizes from 2 % to 60 % of the unique
    bytes is within 0.04 of the exact LRU's. Without the count the error is larger (the
    sample missed some of the hottest objects), as the docstring of region_curves says."""
    objs, sizes = zipf_stream(60_000, 6000, 0.9, seed=3)
    sampled = frame([o for o in objs if _kept(o, 0.1)], sizes)
    (curve,) = region_curves(sampled, 0.1, 600.0, total_requests={"us-east-1": 60_000}).values()
    (plain,) = region_curves(sampled, 0.1, 600.0).values()
    assert curve.requests == 60_000 and plain.requests == pytest.approx(60_000, rel=0.25)
    unique = sum(sizes[o] for o in set(objs))
    assert curve.unique_bytes == pytest.approx(unique, rel=0.25)
    exact = {f: 1 - lru_hit_ratio(objs, sizes, f * unique) for f in (0.02, 0.1, 0.2, 0.4, 0.6)}
    errors = [abs(curve.miss_at(f * unique) - m) for f, m in exact.items()]
    assert max(errors) < 0.04, errors
    assert max(abs(plain.miss_at(f * unique) - m) for f, m in exact.items()) > 0.1


def test_edge_rows_preferred_and_regions_apart() -> None:
    a, sa = zipf_stream(200, 20, 1.0, seed=4)
    edge = frame(a, sa, hit=True)
    origin = frame(a[:50], sa, hit=None)  # the ALB sees the misses again: not counted twice
    other = frame(a[:30], sa, region="eu-west-1", hit=None)
    curves = region_curves(pl.concat([edge, origin, other]), 1.0, 600.0)
    assert curves["us-east-1"].requests == 200 and curves["eu-west-1"].requests == 30


def test_bad_input_is_named() -> None:
    objs, sizes = zipf_stream(10, 5, 1.0, seed=5)
    with pytest.raises(ValueError, match="lacks column.*object"):
        region_curves(frame(objs, sizes).drop("object"), 1.0, 60.0)
    with pytest.raises(ValueError, match="sample_rate"):
        region_curves(frame(objs, sizes), 0.0, 60.0)
    rows = frame(objs, sizes).with_columns(pl.lit(None, pl.String).alias("object"))
    assert region_curves(rows, 1.0, 60.0) == {}


def test_hot_objects_catch_a_popularity_shift() -> None:
    """``old`` is hot for 50 minutes, then ``new`` for 10: at the end ``new`` leads."""
    old = [f"h/v/old{i % 2}.js" for i in range(3000)]
    new = [f"h/v/new{i % 2}.js" for i in range(600)]
    sizes = {o: 100 for o in {*old, *new}}
    rows = pl.concat(
        [
            frame(old, sizes, step=timedelta(seconds=1)),
            frame(new, sizes, step=timedelta(seconds=1), start=T0 + timedelta(seconds=3000)),
        ]
    )
    now = T0 + timedelta(seconds=3600)
    ranked = hot_objects(rows, now, timedelta(minutes=5), top=3)["us-east-1"]
    assert {o for o, _ in ranked[:2]} == {"h/v/new0.js", "h/v/new1.js"}
    assert ranked[2][0].startswith("h/v/old")
    # exponentially weighted rates: 0.5 req/s for the last two half-lives -> 0.5 x (1 - 1/4);
    # the old ones, stopped two half-lives ago -> 0.5 x 1/4 (a steady rate stays itself)
    assert ranked[0][1] == pytest.approx(0.375, rel=0.02)
    assert ranked[2][1] == pytest.approx(0.125, rel=0.02)


def test_path_prefix() -> None:
    assert path_prefix("cdn.example.com/static/img/a.png") == "/static/"
    assert path_prefix("cdn.example.com/static/img/a.png", depth=2) == "/static/img/"
    assert path_prefix("h/{tenant}/api/x") == "/*/api/"
    assert path_prefix("h/index.html") is None
    assert path_prefix("h/{tenant}/x") is None


def test_hot_prefixes_hits_by_size_and_ttl() -> None:
    """``/img/`` objects come back every 10 s, ``/doc/`` ones every 100 s."""
    img = [f"h/img/{i % 5}.png" for i in range(500)]
    docs = [f"h/doc/{i % 50}.pdf" for i in range(500)]
    mixed = [x for pair in zip(img, docs, strict=True) for x in pair]
    sizes = {o: 1000 for o in mixed}
    rows = frame(mixed, sizes)
    curves = region_curves(rows, 1.0, 1000.0)
    (img_p, doc_p) = hot_prefixes(rows, curves)["us-east-1"]
    assert (img_p.prefix, doc_p.prefix) == ("/img/", "/doc/")
    assert img_p.ttl_s == 60 and doc_p.ttl_s == 120  # 10 s -> a minute; 100 s -> 2 minutes
    sizes_b = curves["us-east-1"].sizes_bytes
    i = max(j for j, s in enumerate(sizes_b) if s <= 10_000)  # 10 objects fit: img hits only
    assert img_p.hits[i] == 495 and doc_p.hits[i] == 0
    assert img_p.hits[-1] == 495 and doc_p.hits[-1] == 450


def test_count_from_only_warms_the_stack() -> None:
    """``a`` last seen before ``count_from`` is a hit for a cache holding a, b, c (not cold)."""
    sizes = {"h/x/a": 10, "h/x/b": 20, "h/x/c": 30}
    rows = frame(["h/x/a", "h/x/b", "h/x/c", "h/x/a", "h/x/b"], sizes)
    (warm,) = region_curves(rows, 1.0, 2.0, count_from=T0 + timedelta(seconds=3)).values()
    assert warm.requests == 2 and warm.unique_bytes == 30
    assert warm.sizes_bytes == (60.0,) and warm.miss_ratio == (0.0,)  # both reuses need 60 bytes
    (cold,) = region_curves(rows, 1.0, 5.0).values()
    assert cold.miss_at(60) == pytest.approx(0.6)  # three first accesses miss at any size
