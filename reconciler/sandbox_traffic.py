"""The sandbox's request traffic: who asked for what, where it was served, how long it took.

Requests per tenant follow the sandbox's demand shape (day tenants as it is, night tenants
half a day off, flat ones neither; the surge raises everything). Static objects are Zipf-popular
and go through CloudFront; at the shift, new objects take the hottest ranks. Each edge location
keeps an LRU cache with a TTL, so Hit / RefreshHit / Miss follow from the access order; misses
and refreshes become requests to the origin ALB. API calls go straight to the nearest ALB (or,
for a share of them, a farther one). Times grow with client-to-server distance and with the
serving app's load. ``reconciler.sandbox_requests`` renders and stores the result.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from reconciler.sandbox_requests import RequestSpec

__all__ = ["CLIENT_NETS", "EDGE_LOCATIONS", "AlbSite", "Shape", "Traffic", "simulate"]

#: client region -> the CloudFront edge location that serves it (codes in A1's edge table)
EDGE_LOCATIONS: dict[str, str] = {
    "us-east-1": "IAD89-C1",
    "us-west-2": "SEA19-C2",
    "eu-west-1": "DUB56-P1",
    "eu-central-1": "FRA56-C2",
}
#: the last octet's /26 of 198.51.100.0/24 each client region's viewers come from
CLIENT_NETS: dict[str, int] = {
    "us-east-1": 0,
    "us-west-2": 64,
    "eu-west-1": 128,
    "eu-central-1": 192,
}
_COORDS = {  # rough (lat, lon) of each region, for round-trip times
    "us-east-1": (38.9, -77.4),
    "us-west-2": (45.8, -119.7),
    "eu-west-1": (53.3, -6.3),
    "eu-central-1": (50.1, 8.7),
}
_API_CALLS = ("orders", "search", "cart", "items", "reports", "events")
_CALL_P = (0.3, 0.25, 0.15, 0.15, 0.05, 0.1)

#: ``shape(ts, app)``: the sandbox's demand shape of ``app`` at epoch seconds ``ts``
Shape = Callable[[np.ndarray, str], np.ndarray]


@dataclass(frozen=True)
class AlbSite:
    """One (log-only) ALB: its app, region, ``app/<lb-name>/<id>`` name, node address and
    targets (the app's first-tier private addresses)."""

    app: str
    region: str
    name: str
    node_ip: str
    targets: tuple[str, ...]

    @property
    def dns(self) -> str:
        _, lb, lb_id = self.name.split("/")
        return f"{lb}-{int(lb_id, 16) % 10**10}.{self.region}.elb.amazonaws.com"


@dataclass(frozen=True)
class Traffic:
    """What happened: ALB rows (direct API calls, CloudFront misses and refreshes) and
    CloudFront rows, one per request, times in epoch seconds."""

    alb: pl.DataFrame
    cloudfront: pl.DataFrame


def simulate(
    spec: RequestSpec,
    start: float,
    end: float,
    albs: list[AlbSite],
    origin: AlbSite,
    shape: Shape,
    rng: np.random.Generator,
) -> Traffic:
    """Every request in ``[start, end)`` (epoch seconds), from ``rng``."""
    reqs = _requests(spec, start, end, shape, origin.app, rng)
    cdn, misses = _cloudfront(spec, reqs.filter(~pl.col("api")), origin, shape, rng)
    api = _api(spec, reqs.filter(pl.col("api")), albs, shape, rng)
    return Traffic(pl.concat([api, misses]).sort("ts"), cdn.sort("ts"))


def _requests(
    spec: RequestSpec, start: float, end: float, shape: Shape, app: str, rng: np.random.Generator
) -> pl.DataFrame:
    """Every request: time, tenant, client region, API or static, path, sizes."""
    minutes = np.arange(int(start) // 60 * 60, int(end), 60, dtype=np.int64)
    half_day = 12 * 3600
    base = shape(minutes, "")
    surge = shape(minutes, app) / base
    forms = {
        "day": base,
        "night": shape(minutes + half_day, "") ** 2,
        "flat": (base + shape(minutes + half_day, "")) / 2,
    }
    shift = start + (
        spec.shift_hours * 3600 if spec.shift_hours is not None else 0.75 * (end - start)
    )
    total = sum(t.weight for t in spec.tenants)
    k = spec.new_hot_objects
    frames = []
    for t in spec.tenants:
        rate = spec.requests_per_minute * t.weight / total * forms[t.pattern] * surge
        ts = np.repeat(minutes, rng.poisson(rate)).astype(np.float64)
        n = len(ts)
        ts += rng.uniform(0, 60, n)
        regions = list(t.clients)
        p = np.array([t.clients[r] for r in regions])
        api = rng.random(n) < t.api_share
        ranks = np.searchsorted(_zipf_cdf(t.catalog, t.zipf), rng.random(n))
        # after the shift the k hottest ranks are new objects; the old ones move down
        obj = np.where(ts < shift, ranks, np.where(ranks < k, t.catalog + ranks, ranks - k))
        sizes = np.exp(  # an object's size is fixed: drawn from the tenant's own stream
            np.random.default_rng([zlib.crc32(t.name.encode()), 1]).normal(
                np.log(t.object_kb * 1024), 0.6, t.catalog + k
            )
        ).astype(np.int64)
        call = rng.choice(len(_API_CALLS), n, p=_CALL_P)
        post = api & (rng.random(n) < t.post_share)
        api_out = np.exp(rng.normal(np.log(3000), 0.8, n)).astype(np.int64)
        upload = np.exp(rng.normal(np.log(t.upload_kb * 1024), 0.5, n)).astype(np.int64)
        ext = "zip" if t.object_kb >= 2000 else "mp4" if t.object_kb >= 500 else "jpg"
        frames.append(
            pl.DataFrame(
                {
                    "ts": ts,
                    "client_region": np.array(regions)[rng.choice(len(regions), n, p=p / p.sum())],
                    "api": api,
                    "post": post,
                    "call": call,
                    "obj": obj,
                    "term": ranks % 97,
                    "bytes_in": np.where(post, upload, 0) + 420,
                    "body": np.where(api, api_out, sizes[obj]),
                }
            )
            .with_columns(
                path=pl.when("api")
                .then(
                    pl.format(
                        f"/{t.name}/api/{{}}",
                        pl.col("call").replace_strict(
                            dict(enumerate(_API_CALLS)), return_dtype=pl.String
                        ),
                    )
                )
                .otherwise(
                    pl.format(
                        f"/{t.name}/static/obj{{}}.{ext}",
                        pl.col("obj").cast(pl.String).str.zfill(5),
                    )
                ),
                query=pl.when(pl.col("api") & (pl.col("call") == 1))
                .then(pl.format("q=term{}", "term"))
                .otherwise(pl.lit("-")),
                browser=~pl.col("api") | (pl.col("call") == 1),
            )
            .drop("call", "obj", "term")
        )
    return pl.concat(frames).sort("ts")


def _zipf_cdf(n: int, alpha: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** alpha
    return np.cumsum(w) / w.sum()


def _rtt_ms(regions: np.ndarray, to: str) -> np.ndarray:
    """Round trip from each region to ``to``: ~1 ms per 100 km of great circle, plus 2 ms."""
    names, inverse = np.unique(regions, return_inverse=True)
    lat = np.radians([_COORDS[str(x)][0] for x in names])
    lon = np.radians([_COORDS[str(x)][1] for x in names])
    lat2, lon2 = np.radians(_COORDS[to])
    cos = np.sin(lat) * np.sin(lat2) + np.cos(lat) * np.cos(lat2) * np.cos(lon - lon2)
    return (2.0 + 6371.0 * np.arccos(np.clip(cos, -1, 1)) / 100.0)[inverse]


def _load_ms(base_ms: np.ndarray, ts: np.ndarray, app: str, shape: Shape) -> np.ndarray:
    """Origin time grows with the serving app's load (its shape; the surge shows)."""
    load = shape(ts.astype(np.int64), app)
    return base_ms * (1.0 + 0.15 * load + 0.6 * np.maximum(0.0, load - 1.0))


def _api(
    spec: RequestSpec,
    reqs: pl.DataFrame,
    albs: list[AlbSite],
    shape: Shape,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Direct API calls: the nearest ALB, or with ``cross_region_share`` the next nearest."""
    n = reqs.height
    client = reqs["client_region"].to_numpy()
    rtts = np.stack([_rtt_ms(client, a.region) for a in albs])  # (albs, n)
    order = np.argsort(rtts, axis=0, kind="stable")
    far = (rng.random(n) < spec.cross_region_share) & (len(albs) > 1)
    pick = np.where(far, order[min(1, len(albs) - 1)], order[0])
    rtt = rtts[pick, np.arange(n)]
    ts = reqs["ts"].to_numpy()
    target_ms = np.exp(rng.normal(np.log(25.0), 0.4, n))
    for i, a in enumerate(albs):
        m = pick == i
        target_ms[m] = _load_ms(target_ms[m], ts[m], a.app, shape)
    flat = np.array([t for a in albs for t in a.targets])
    count = np.array([len(a.targets) for a in albs])
    first = np.cumsum(count) - count
    target = flat[first[pick] + rng.integers(0, count[pick])]
    bytes_in = reqs["bytes_in"].to_numpy()
    # a POST body arrives over about one client round trip per 64 KB window
    request_ms = 0.4 + np.where(reqs["post"].to_numpy(), rtt * np.ceil(bytes_in / 65536), 0.0)
    return _alb_rows(
        reqs.with_columns(method=pl.when("post").then(pl.lit("POST")).otherwise(pl.lit("GET"))),
        names=np.array([a.name for a in albs])[pick],
        hosts=np.array([f"api.{a.region}.headroom.example" for a in albs])[pick],
        client_ip=_client_ips(client, rng),
        target=target,
        request_ms=request_ms,
        target_ms=target_ms,
        sent=reqs["body"].to_numpy() + 310,
        rng=rng,
    )


def _client_ips(client: np.ndarray, rng: np.random.Generator) -> pl.Series:
    """Viewers of a client region come from its own /26 of 198.51.100.0/24."""
    low = np.array([CLIENT_NETS[c] for c in client], dtype=np.int64)
    low += rng.integers(1, 63, len(client))
    return "198.51.100." + pl.Series(low).cast(pl.String)


def _hex(rng: np.random.Generator, n: int, chars: int) -> np.ndarray:
    """``n`` random lower-case hex strings of ``chars`` characters."""
    text = rng.bytes(n * ((chars + 1) // 2)).hex()[: n * chars] if n else ""
    return np.frombuffer(text.encode(), dtype=f"S{chars}").astype(f"U{chars}")


def _alb_rows(
    reqs: pl.DataFrame,
    *,
    names: np.ndarray,
    hosts: np.ndarray,
    client_ip: pl.Series,
    target: np.ndarray,
    request_ms: np.ndarray,
    target_ms: np.ndarray,
    sent: np.ndarray,
    rng: np.random.Generator,
    status: np.ndarray | None = None,
) -> pl.DataFrame:
    n = reqs.height
    if status is None:  # errors grow with origin time
        status = np.where(rng.random(n) < 0.002 * (target_ms / 25.0) ** 2, 500, 200)
    created = reqs["ts"].to_numpy()
    return pl.DataFrame(
        {
            "alb": names,
            "ts": created + (request_ms + target_ms) / 1000.0,
            "created": created,
            "trace": _hex(rng, n, 24),
            "client_ip": client_ip,
            "client_port": rng.integers(1024, 65535, n),
            "target_ip": target,
            "request_s": request_ms / 1000.0,
            "target_s": target_ms / 1000.0,
            "response_s": rng.uniform(0.0, 0.0004, n),
            "status": status,
            "received": reqs["bytes_in"].to_numpy(),
            "sent": np.where(status == 200, sent, 180),
            "method": reqs["method"].to_numpy(),
            "host": hosts,
            "path": reqs["path"].to_numpy(),
            "query": reqs["query"].to_numpy(),
            "browser": reqs["browser"].to_numpy(),
        }
    )


def _cloudfront(
    spec: RequestSpec,
    static: pl.DataFrame,
    origin: AlbSite,
    shape: Shape,
    rng: np.random.Generator,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Static requests through the edge caches: CloudFront rows, and the origin ALB's rows for
    misses and refreshes."""
    ts = static["ts"].to_numpy()
    client = static["client_region"].to_numpy()
    size = static["body"].to_numpy()
    edges = static["client_region"].replace_strict(EDGE_LOCATIONS, return_dtype=pl.String)
    result = _cache(
        edges.to_list(),
        static["path"].to_list(),
        ts,
        size,
        spec.edge_cache_mb * 2**20,
        spec.ttl_hours * 3600,
        rng,
    )
    n = static.height
    to_origin = result != "Hit"
    refreshed = result == "RefreshHit"
    status = np.where(static["path"].str.contains(r"99\.jpg$").to_numpy(), 404, 200)
    origin_ms = _load_ms(3.0 + size / 2**20 * 8.0, ts, origin.app, shape)
    origin_ms *= np.exp(rng.normal(0, 0.2, n))
    fetch_ms = np.where(to_origin, _rtt_ms(client, origin.region) + origin_ms, 0.0)
    fetch_ms += np.where(to_origin & ~refreshed, size / 25e6 * 1000.0, 0.0)  # origin -> edge
    viewer_rtt = 8.0 + rng.exponential(6.0, n)
    sent = np.where(status == 200, size, 0) + 410
    # slow start: about one viewer round trip per doubling of 14 KB windows, then 6 MB/s
    transfer_ms = viewer_rtt * np.ceil(np.log2(sent / 14600 + 1)) + sent / 6e6 * 1000.0
    edge_ms = 0.5 + rng.exponential(1.5, n)
    first_ms = edge_ms + fetch_ms
    cdn = static.with_columns(
        edge=edges,
        result=pl.Series(result),
        ts=pl.Series(ts + (first_ms + transfer_ms) / 1000.0),
        client_ip=_client_ips(client, rng),
        client_port=pl.Series(rng.integers(1024, 65535, n)),
        taken_s=pl.Series((first_ms + transfer_ms) / 1000.0),
        first_s=pl.Series(first_ms / 1000.0),
        status=pl.Series(status),
        request_id=pl.Series(_hex(rng, n, 48)),
    )
    m = int(to_origin.sum())
    misses = _alb_rows(
        static.filter(pl.Series(to_origin)).with_columns(
            method=pl.lit("GET"), ts=pl.Series(ts[to_origin] + edge_ms[to_origin] / 1000.0)
        ),
        names=np.full(m, origin.name),
        hosts=np.full(m, origin.dns),
        # CloudFront's origin-facing addresses (130.176.0.0/16 is one of its ranges)
        client_ip="130.176." + pl.Series(rng.integers(0, 255, m)).cast(pl.String) + ".17",
        target=np.array(origin.targets)[rng.integers(0, len(origin.targets), m)],
        request_ms=np.full(m, 0.3),
        target_ms=origin_ms[to_origin],
        sent=np.where(refreshed[to_origin], 180, size[to_origin] + 290),
        rng=rng,
        status=np.where(refreshed[to_origin], 304, status[to_origin]),
    )
    return cdn, misses


def _cache(
    edges: list[str],
    objects: list[str],
    ts: np.ndarray,
    size: np.ndarray,
    capacity: float,
    ttl: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Hit / RefreshHit / Miss per request from an LRU cache of ``capacity`` bytes per edge
    location, with a TTL: an expired object is revalidated (unchanged four times in five:
    RefreshHit, else Miss)."""
    caches: dict[str, OrderedDict[str, tuple[float, int]]] = {}
    used: dict[str, float] = {}
    unchanged = rng.random(len(ts)) < 0.8
    out: list[str] = []
    for i, (edge, obj) in enumerate(zip(edges, objects, strict=True)):
        cache = caches.setdefault(edge, OrderedDict())
        held = cache.get(obj)
        if held is not None and ts[i] - held[0] < ttl:
            cache.move_to_end(obj)
            out.append("Hit")
            continue
        out.append("RefreshHit" if held is not None and unchanged[i] else "Miss")
        if held is not None:
            del cache[obj]
            used[edge] -= held[1]
        cache[obj] = (float(ts[i]), int(size[i]))
        used[edge] = used.get(edge, 0.0) + int(size[i])
        while used[edge] > capacity and len(cache) > 1:
            _, (_, gone) = cache.popitem(last=False)
            used[edge] -= gone
    return np.array(out, dtype=str)
