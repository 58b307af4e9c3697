"""Miss-ratio curves, hot objects and hot path prefixes from the sampled access stream.

The access stream (``ACCESS_SCHEMA``) is spatially sampled SHARDS-style (Waldspurger et al.,
FAST '15): an object is kept when its hash falls under ``sample_rate``, so every access of a kept
object is present. An LRU cache of ``S`` bytes hits an access exactly when the access's byte
stack distance (its own size plus the bytes of the distinct objects touched since its previous
access) is at most ``S``; on the sample those bytes shrink by ``sample_rate``, so distances are
scaled by ``1 / sample_rate``. libcachesim 0.3.5 was evaluated: its Python API simulates caches
on trace files but gives no stack distances or MRC for an in-memory stream, so the distances are
computed here with numpy (an offline segment tree over positions, vectorised over all accesses
per level: O(n log^2 n)).

Which accesses count: a region whose stream holds CloudFront rows (``hit`` not null) is curved on
those only (the edge sees every client request; the ALB behind it sees the misses again); a
region with only ALB rows is curved on those. An object's size is its largest ``bytes_out``
(a 304 or a range request is smaller than the object), at least one byte.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from reconciler.users.models import HotPrefix, MissRatioCurve

__all__ = [
    "MAX_CURVE_POINTS",
    "hot_objects",
    "hot_prefixes",
    "path_prefix",
    "region_curves",
    "stack_distances",
]

log = logging.getLogger(__name__)

#: Points a curve keeps (sizes at quantiles of the finite distances, plus the largest).
MAX_CURVE_POINTS = 256
#: TTL suggestion bounds (s): at least a minute, at most a day.
TTL_MIN_S, TTL_MAX_S = 60, 86_400
#: The share of a prefix's reuse intervals its TTL covers.
TTL_QUANTILE = 0.9
_NEEDED = ("ts", "client_region", "object", "bytes_out", "hit")


def stack_distances(objects: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Byte LRU stack distance of each access (``inf`` for a first access) and the index of
    the object's previous access (-1 for none).

    ``objects``: integer object codes in access order; ``sizes``: each access's object size
    (bytes, constant per object). The distance of access ``t`` whose previous access is ``p`` is
    ``sizes[t]`` plus the sizes of the accesses ``j`` in ``(p, t)`` whose own previous access is
    at or before ``p`` (the first touch of each distinct object in between).
    """
    n = len(objects)
    pos = np.arange(n, dtype=np.int64)
    prev = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return np.zeros(0), prev
    order = np.lexsort((pos, objects))
    same = objects[order[1:]] == objects[order[:-1]]
    prev[order[1:][same]] = order[:-1][same]
    dist = np.full(n, np.inf)
    q = np.flatnonzero(prev >= 0)
    if len(q) == 0:
        return dist, prev
    size = sizes.astype(np.float64)
    val = prev + 1  # in [0, n]: "previous access at or before p" is val <= p + 1
    thr = prev[q] + 1
    lo, hi = prev[q] + 1, q.copy()  # the interval [lo, hi) of positions strictly between
    acc = size[q].copy()
    level = 0
    while True:
        active = lo < hi
        if not active.any():
            break
        block = pos >> level
        key = block * (n + 1) + val
        by_key = np.argsort(key, kind="stable")
        skey = key[by_key]
        csum = np.concatenate(([0.0], np.cumsum(size[by_key])))
        take_lo = active & ((lo & 1) == 1)
        if take_lo.any():
            b = lo[take_lo]
            acc[take_lo] += _block_sum(skey, csum, b, thr[take_lo], n)
            lo[take_lo] += 1
        take_hi = active & ((hi & 1) == 1)
        if take_hi.any():
            hi[take_hi] -= 1
            acc[take_hi] += _block_sum(skey, csum, hi[take_hi], thr[take_hi], n)
        lo >>= 1
        hi >>= 1
        level += 1
    dist[q] = acc
    return dist, prev


def _block_sum(
    skey: np.ndarray, csum: np.ndarray, block: np.ndarray, thr: np.ndarray, n: int
) -> np.ndarray:
    """Sum of sizes in ``block`` (at the current level) whose ``val`` is at most ``thr``."""
    base = block * (n + 1)
    start = np.searchsorted(skey, base, side="left")
    stop = np.searchsorted(skey, base + thr, side="right")
    return np.asarray(csum[stop] - csum[start])


def _checked(accesses: pl.DataFrame, where: str) -> pl.DataFrame:
    """The usable rows: needed columns present; rows without time, region or object set aside
    (counted in the log: this is an analysis, the ingest keeps bad lines)."""
    missing = [c for c in _NEEDED if c not in accesses.columns]
    if missing:
        raise ValueError(f"{where}: access stream lacks column(s) {', '.join(missing)}")
    bad = pl.col("ts").is_null() | pl.col("client_region").is_null() | pl.col("object").is_null()
    dropped = accesses.filter(bad).height
    if dropped:
        log.warning("%s: %d access rows without ts/client_region/object set aside", where, dropped)
    return accesses.filter(~bad)


def _check_rate(sample_rate: float) -> None:
    if not 0 < sample_rate <= 1:
        raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate}")


def _edge_view(rows: pl.DataFrame) -> pl.DataFrame:
    """One region's rows as the cache sees them: CloudFront rows if any, else ALB rows."""
    edge = rows.filter(pl.col("hit").is_not_null())
    return (edge if edge.height else rows).sort("ts", maintain_order=True)


@dataclass(frozen=True)
class _Region:
    """One region's accesses in time order with their distances (scaled to the full stream)."""

    rows: pl.DataFrame
    distance: np.ndarray
    prev: np.ndarray
    object_sizes: np.ndarray  # per distinct object code
    codes: np.ndarray  # object code per access
    counted: np.ndarray  # bool per access: at or after ``count_from`` (the rest warm the stack)


def _regions(
    accesses: pl.DataFrame, sample_rate: float, where: str, count_from: datetime | None = None
) -> dict[str, _Region]:
    _check_rate(sample_rate)
    ok = _checked(accesses, where)
    out: dict[str, _Region] = {}
    for (region,), rows in ok.partition_by("client_region", as_dict=True).items():
        view = _edge_view(rows)
        dense = (view["object"].rank("dense").cast(pl.Int64) - 1).to_numpy()
        by_obj = np.zeros(int(dense.max()) + 1 if len(dense) else 0)
        np.maximum.at(by_obj, dense, view["bytes_out"].fill_null(0).to_numpy().astype(float))
        by_obj = np.maximum(by_obj, 1.0)
        dist, prev = stack_distances(dense, by_obj[dense])
        out[str(region)] = _Region(
            rows=view.with_columns(pl.Series("_code", dense)),
            distance=dist / sample_rate,
            prev=prev,
            object_sizes=by_obj,
            codes=dense,
            counted=(
                np.ones(len(dense), dtype=bool)
                if count_from is None
                else (view["ts"] >= count_from).to_numpy()
            ),
        )
    return out


def region_curves(
    accesses: pl.DataFrame,
    sample_rate: float,
    window_s: float,
    *,
    total_requests: Mapping[str, float] | None = None,
    count_from: datetime | None = None,
) -> dict[str, MissRatioCurve]:
    """Per client region, the LRU miss ratio by cache size (bytes) of the full stream,
    estimated from the sampled accesses over the last ``window_s`` seconds.

    ``total_requests`` (optional): each region's full-stream request count over the same window
    (the request buckets). With it the curve is SHARDS-adj: the difference between the expected
    (``total x sample_rate``) and the sampled access count is counted as hits at the smallest
    size, which removes most of the bias of whether the few hottest objects were sampled (on a
    Zipf(0.9) stream of 6,000 objects at 0.1: errors of 0.15 fall to 0.03).

    ``count_from`` (optional): accesses before it only warm the LRU stack and are not counted,
    so an object last requested before it is not a cold miss (a running cache is warm); then
    ``window_s`` and ``total_requests`` are about the counted part.
    """
    if window_s <= 0:
        raise ValueError(f"window_s must be > 0, got {window_s}")
    out: dict[str, MissRatioCurve] = {}
    for region, r in _regions(accesses, sample_rate, "region_curves", count_from).items():
        dist = r.distance[r.counted]
        sampled = len(dist)
        if sampled == 0:
            continue
        known = (total_requests or {}).get(region)
        expected = known * sample_rate if known else float(sampled)
        finite = np.sort(dist[np.isfinite(dist)])
        if len(finite):
            idx = np.unique(np.linspace(0, len(finite) - 1, min(MAX_CURVE_POINTS, len(finite))))
            sizes = np.unique(finite[idx.astype(np.int64)])
            hits = np.searchsorted(finite, sizes, side="right") + (expected - sampled)
            miss = np.clip(1.0 - hits / expected, 0.0, 1.0)
        else:
            sizes, miss = np.zeros(0), np.zeros(0)
        out[region] = MissRatioCurve(
            region=region,
            sizes_bytes=tuple(float(s) for s in sizes),
            miss_ratio=tuple(float(m) for m in miss),
            requests=expected / sample_rate,
            unique_bytes=float(r.object_sizes[np.unique(r.codes[r.counted])].sum()) / sample_rate,
            window_s=float(window_s),
            sample_rate=float(sample_rate),
        )
    return out


def hot_objects(
    accesses: pl.DataFrame, now: datetime, half_life: timedelta, top: int
) -> dict[str, list[tuple[str, float]]]:
    """Per client region, the ``top`` objects by exponentially decayed request rate (req/s).

    Each access before ``now`` weighs ``2 ** (-age / half_life)``; the weights' sum over the
    decay's integral across the observed span is the object's recent rate (a steady rate is
    returned unchanged). A kept object has every access in the sample, so its rate is its
    full-stream rate; objects the sampling dropped are not seen at all. A shift in popularity
    shows within a half-life.
    """
    hl = half_life.total_seconds()
    if hl <= 0 or top < 0:
        raise ValueError(
            f"hot_objects: half_life must be > 0 and top >= 0 (got {half_life}, {top})"
        )
    ok = _checked(accesses, "hot_objects").filter(pl.col("ts") <= now)
    lam = math.log(2) / hl
    out: dict[str, list[tuple[str, float]]] = {}
    for (region,), rows in ok.partition_by("client_region", as_dict=True).items():
        view = _edge_view(rows)
        age = (pl.lit(now) - pl.col("ts")).dt.total_microseconds() / 1e6
        first: datetime = view["ts"].min()  # type: ignore[assignment]
        span = (now - first).total_seconds()
        norm = (1 - math.exp(-lam * span)) / lam if span > 0 else hl / math.log(2)
        ranked = (
            view.group_by("object")
            .agg((-lam * age).exp().sum().alias("w"))
            .with_columns((pl.col("w") / norm).alias("rate"))
            .sort(["rate", "object"], descending=[True, False])
            .head(top)
        )
        out[str(region)] = list(
            zip(ranked["object"].to_list(), ranked["rate"].to_list(), strict=True)
        )
    return out


def path_prefix(obj: str, depth: int = 1) -> str | None:
    """The CloudFront path prefix of an object (``host/static/a.png`` -> ``/static/``): its
    first ``depth`` path segments, a ``{tenant}`` segment as ``*`` (not counted); None for an
    object directly under the root (the default behaviour covers it)."""
    path = obj[obj.index("/") :] if "/" in obj else ""
    parts = [p for p in path.split("/")[1:]]
    if len(parts) < 2:
        return None
    kept: list[str] = []
    counted = 0
    for seg in parts[:-1]:
        kept.append("*" if seg == "{tenant}" else seg)
        if seg != "{tenant}":
            counted += 1
        if counted == depth:
            break
    if counted == 0:
        return None
    return "/" + "/".join(kept) + "/"


def hot_prefixes(
    accesses: pl.DataFrame,
    curves: Mapping[str, MissRatioCurve],
    *,
    depth: int = 1,
    top: int = 20,
    count_from: datetime | None = None,
) -> dict[str, list[HotPrefix]]:
    """Per client region with a curve, its ``top`` path prefixes by hits at the curve's largest
    size, each with its hits at every size of the curve (full-stream estimate) and a TTL: the
    ``TTL_QUANTILE`` of its observed reuse intervals, rounded up to a minute, within a minute
    and a day. ``curves`` are ``region_curves`` of the same accesses and ``count_from``."""
    out: dict[str, list[HotPrefix]] = {}
    if not curves:
        return out
    rate = next(iter(curves.values())).sample_rate
    for region, r in _regions(accesses, rate, "hot_prefixes", count_from).items():
        curve = curves.get(region)
        if curve is None or not curve.sizes_bytes:
            continue
        ts = r.rows["ts"].dt.epoch("us").to_numpy() / 1e6
        reuse = np.where(r.prev >= 0, ts - ts[np.maximum(r.prev, 0)], np.nan)
        prefixes = [path_prefix(o, depth) for o in r.rows["object"].to_list()]
        frame = pl.DataFrame(
            {"prefix": prefixes, "d": r.distance, "reuse": reuse, "counted": r.counted},
            schema={
                "prefix": pl.String,
                "d": pl.Float64,
                "reuse": pl.Float64,
                "counted": pl.Boolean,
            },
        ).filter(pl.col("prefix").is_not_null() & pl.col("counted"))
        sizes = np.asarray(curve.sizes_bytes)
        found: list[HotPrefix] = []
        for (prefix,), rows in frame.partition_by("prefix", as_dict=True).items():
            d = np.sort(rows["d"].to_numpy())
            hits = np.searchsorted(d, sizes, side="right") / rate
            intervals = rows["reuse"].drop_nans().drop_nulls()
            ttl = float(intervals.quantile(TTL_QUANTILE) or 0) if intervals.len() else 0.0
            ttl_s = int(min(TTL_MAX_S, max(TTL_MIN_S, math.ceil(ttl / 60) * 60)))
            found.append(HotPrefix(str(prefix), tuple(float(h) for h in hits), ttl_s))
        found.sort(key=lambda p: (-p.hits[-1], p.prefix))
        out[region] = found[:top]
    return out
