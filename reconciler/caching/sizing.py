"""Cache sizing: the fewest cache shards whose memory reaches the target hit ratio on a curve.

How the forecast request rate enters, honestly: a miss-ratio curve is a per-request quantity.
Whether an LRU cache of ``S`` bytes hits a request depends on the order of requests (the bytes of
distinct objects touched since the object's last request), not on how fast they come, so for a
stationary mix the hit ratio read off the curve holds at any rate; pick_cache does not stretch
the curve by the rate. The rate sets (1) a throughput floor: the nodes must serve the forecast
hit traffic, ``rate x hit ratio x bytes per request``, at ``node_gbps`` each (when the bytes per
request are known), and (2) the origin load the reason reports (requests/s that still miss).
What the curve cannot see (new content ahead of a peak) is what ``hot_objects`` and pre-warming
are for.

A node's usable memory is ``node_memory_gib x USABLE_FRACTION`` (ElastiCache reserves 25 % by
default, ``reserved-memory-percent``). A pick's nodes are shards: the fold
(``reconciler.actuate.from_commands``) deploys a curve-sized command as a cluster-mode
replication group (``EdgeCacheSpec.shards``), so the memory deployed is ``nodes x usable memory
per node``, the size the expected hit ratio is read at (read replicas would add none). When even
``max_nodes`` misses the target, the pick is the fewest nodes reaching the best hit ratio
``max_nodes`` can give (more would cost without hitting more), and the reason says so.
Scale-in is held back by ``hysteresis``: a count is removed only when the smaller cache, shrunk
by the hysteresis, still reaches the goal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from policies.actions import EdgeCacheAction
from reconciler.users.models import CachePick, HotPrefix, MissRatioCurve

__all__ = ["PREFIX_SHARE", "USABLE_FRACTION", "node_bytes", "pick_cache", "prefixes_at"]

#: Share of a node's memory that holds data (ElastiCache default reserved-memory-percent 25).
USABLE_FRACTION = 0.75
#: Hot prefixes named by a pick: the fewest that hold this share of the hits at its size.
PREFIX_SHARE = 0.8
_GIB = 2.0**30


def node_bytes(action: EdgeCacheAction) -> float:
    """Usable cache bytes of one node of ``action``."""
    return float(action.node_memory_gib) * _GIB * USABLE_FRACTION


def _hit(curve: MissRatioCurve, nodes: int, per_node: float, shrink: float = 1.0) -> float:
    return 1.0 - curve.miss_at(nodes * per_node * shrink) if nodes > 0 else 0.0


def _fewest(curve: MissRatioCurve, goal: float, per: float, cap: int, shrink: float = 1.0) -> int:
    """Fewest nodes (1..cap) whose (shrunk) size reaches hit ratio ``goal``; ``cap`` if none."""
    return next((n for n in range(1, cap + 1) if _hit(curve, n, per, shrink) >= goal), cap)


def prefixes_at(
    prefixes: Sequence[HotPrefix], curve: MissRatioCurve, size_bytes: float, share: float
) -> list[HotPrefix]:
    """The fewest prefixes holding ``share`` of the prefixed hits at ``size_bytes``."""
    sizes = np.asarray(curve.sizes_bytes)
    i = int(np.searchsorted(sizes, size_bytes, side="right")) - 1
    if i < 0 or not prefixes:
        return []
    ranked = sorted(
        (p for p in prefixes if len(p.hits) == len(sizes) and p.hits[i] > 0),
        key=lambda p: (-p.hits[i], p.prefix),
    )
    total = sum(p.hits[i] for p in ranked)
    out: list[HotPrefix] = []
    held = 0.0
    for p in ranked:
        if held >= share * total:
            break
        out.append(p)
        held += p.hits[i]
    return out


def pick_cache(
    curve: MissRatioCurve,
    forecast_requests_per_s: float,
    action: EdgeCacheAction,
    current_nodes: int,
    hysteresis: float,
    *,
    prefixes: Sequence[HotPrefix] = (),
    prewarm: Sequence[str] = (),
    bytes_per_request: float | None = None,
) -> CachePick:
    """The cache ``curve``'s region should run to reach ``action.target_hit_ratio`` at least
    cost (see the module docstring for how the rate enters); raises ValueError when the action
    has no target.

    ``CachePick.nodes`` are cluster-mode shards, one primary each, and ``size_bytes`` is the
    memory they deploy, ``nodes x node_bytes(action)``; the expected hit ratio and the reason
    are read at that size."""
    target = action.target_hit_ratio
    if target is None:
        raise ValueError(f"edge_cache for {curve.region}: pick_cache needs target_hit_ratio")
    if forecast_requests_per_s < 0:
        raise ValueError(f"{curve.region}: forecast request rate {forecast_requests_per_s} < 0")
    per, cap = node_bytes(action), int(action.max_nodes)
    best = _hit(curve, cap, per)
    goal = target if best >= target else best
    nodes = _fewest(curve, goal, per, cap)
    floor = 0
    if bytes_per_request and action.node_gbps > 0:
        gbps = forecast_requests_per_s * goal * bytes_per_request * 8 / 1e9
        floor = min(cap, math.ceil(gbps / float(action.node_gbps) - 1e-9))
        nodes = max(nodes, floor)
    if 0 < nodes < current_nodes:
        nodes = min(current_nodes, max(nodes, _fewest(curve, goal, per, cap, 1 - hysteresis)))
    hit = _hit(curve, nodes, per)
    size = nodes * per
    hourly = nodes * float(action.node_hourly_usd)
    kept = prefixes_at(prefixes, curve, size, PREFIX_SHARE)
    names = tuple(p.prefix for p in kept)
    misses = forecast_requests_per_s * (1 - hit)
    parts = [
        f"{curve.region}: {nodes} shards x {action.node_type} in cluster mode, "
        f"{size / _GIB:.1f} GiB usable ({nodes} x {per / _GIB:.2f} GiB: "
        f"{float(action.node_memory_gib):g} GiB less {1 - USABLE_FRACTION:.0%} reserved), "
        f"expected hit ratio {hit:.1%} (target {target:.1%}) at "
        f"{forecast_requests_per_s:.1f} req/s forecast, {misses:.1f} req/s to origin; "
        f"${hourly:.3f}/h"
    ]
    if best < target:
        parts.append(
            f"even max_nodes={cap} reaches only {best:.1%} < target {target:.1%}: "
            f"the fewest shards reaching that"
        )
    if floor and floor >= nodes:
        parts.append(f"{floor} nodes to serve the forecast hits at {action.node_gbps:g} Gbps each")
    if names:
        parts.append(f"hot prefixes {', '.join(names)} hold {PREFIX_SHARE:.0%} of the hits")
    if prewarm:
        parts.append(f"pre-warm {len(prewarm)} objects predicted hot")
    parts.append(
        f"curve: {curve.requests:.0f} requests, {curve.unique_bytes / _GIB:.2f} GiB unique over "
        f"{curve.window_s:.0f} s, sampled at {curve.sample_rate:g}"
    )
    return CachePick(
        region=curve.region,
        nodes=nodes,
        size_bytes=size,
        expected_hit_ratio=hit,
        hourly_usd=hourly,
        hot_prefixes=names,
        prewarm=tuple(prewarm),
        reason="; ".join(parts),
    )
