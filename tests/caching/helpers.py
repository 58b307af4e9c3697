"""Streams and a brute-force LRU the caching tests check the curves against."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from reconciler.users.models import ACCESS_SCHEMA

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def lru_hit_ratio(objects: list[str], sizes: dict[str, int], capacity: float) -> float:
    """Byte LRU: insert, then evict the least recent until the bytes fit (an object larger
    than the cache flushes it, itself included)."""
    cache: OrderedDict[str, int] = OrderedDict()
    used = hits = 0
    for o in objects:
        if o in cache:
            cache.move_to_end(o)
            hits += 1
            continue
        cache[o] = sizes[o]
        used += sizes[o]
        while used > capacity and cache:
            used -= cache.popitem(last=False)[1]
    return hits / len(objects)


def zipf_stream(
    n: int, objects: int, alpha: float, seed: int, prefix: str = "img"
) -> tuple[list[str], dict[str, int]]:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, objects + 1) ** alpha
    idx = rng.choice(objects, size=n, p=p / p.sum())
    sizes = rng.lognormal(9, 1, objects).astype(int) + 1
    names = [f"cdn.example.com/{prefix}/o{i}.bin" for i in range(objects)]
    return [names[i] for i in idx], {names[i]: int(sizes[i]) for i in range(objects)}


def frame(
    objects: list[str],
    sizes: dict[str, int],
    region: str = "us-east-1",
    step: timedelta = timedelta(seconds=1),
    start: datetime = T0,
    hit: bool | None = False,
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": [start + i * step for i in range(len(objects))],
            "user": ["u"] * len(objects),
            "client_region": [region] * len(objects),
            "serving_region": [region] * len(objects),
            "object": objects,
            "bytes_out": [sizes[o] for o in objects],
            "hit": [hit] * len(objects),
        },
        schema=ACCESS_SCHEMA,
    )
