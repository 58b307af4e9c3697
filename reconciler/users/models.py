"""Typed data the user-behaviour modules pass each other (``reconciler.users``).

History tables (hive-partitioned Parquet in the history store, like flows):

- ``requests``: ``REQUEST_BUCKET_SCHEMA``, one row per (5-minute bucket, user, client region,
  serving region, serving resource, request class): counts, bytes, latency histogram.
- ``accesses``: ``ACCESS_SCHEMA``, the spatially sampled per-object access stream (SHARDS: an
  object is kept when its hash falls under the policy's ``sample_rate``, so every access of a
  kept object is kept and reuse distances scale by ``1 / sample_rate``).

A user is the keyed hash of a tenant key (``reconciler.users.identity``); nothing else about a
user is stored. Paths are stored with the tenant key segment replaced by ``{tenant}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import polars as pl

__all__ = [
    "ACCESS_SCHEMA",
    "ANONYMOUS",
    "LATENCY_EDGES_MS",
    "REQUEST_BUCKET_SCHEMA",
    "USER_METRICS",
    "CachePick",
    "HotPrefix",
    "MissRatioCurve",
    "UserGroup",
    "UserGroupKind",
    "UserLoad",
    "UserMetric",
    "UserSignals",
    "user_series_id",
]

_TS = pl.Datetime("us", "UTC")

#: The user of requests that carry no tenant key.
ANONYMOUS = "anonymous"

#: Upper edges (ms) of the latency histogram buckets kept per row; the last bucket is open.
#: Log-spaced so quantiles stay within ~25 % anywhere from 1 ms to 30 s; histograms add up
#: across rows, so group quantiles are exact to the bucket.
LATENCY_EDGES_MS: tuple[float, ...] = (
    1, 2, 3, 5, 7, 10, 15, 20, 30, 40, 50, 70, 100, 150, 200, 300, 400, 500, 700, 1000,
    1500, 2000, 3000, 5000, 10000, 30000,
)  # fmt: skip

REQUEST_BUCKET_SCHEMA: dict[str, pl.DataType] = {
    "ts": _TS,  # start of the 5-minute bucket
    "log_kind": pl.String(),  # RequestLogKind: "cloudfront" (edge) or "alb" (origin)
    "user": pl.String(),  # keyed hash of the tenant key, or ANONYMOUS
    "client_region": pl.String(),
    "serving_region": pl.String(),
    "resource_id": pl.String(),  # the ALB target's resource (None: not resolved / CloudFront)
    "request_class": pl.String(),  # "GET /api" style: method and first path segment
    "requests": pl.Int64(),
    "bytes_in": pl.Int64(),
    "bytes_out": pl.Int64(),
    "latency_sum_ms": pl.Float64(),
    "latency_count": pl.Int64(),  # requests whose latency was known
    "latency_hist": pl.List(pl.Int64()),  # counts per LATENCY_EDGES_MS bucket (+1 open bucket)
    "origin_ms_sum": pl.Float64(),  # ALB target processing time, summed
    "hits": pl.Int64(),  # CloudFront Hit / RefreshHit
    "errors": pl.Int64(),  # status >= 500
}

ACCESS_SCHEMA: dict[str, pl.DataType] = {
    "ts": _TS,
    "user": pl.String(),
    "client_region": pl.String(),
    "serving_region": pl.String(),
    "object": pl.String(),  # host + path, tenant segment redacted
    "bytes_out": pl.Int64(),
    "hit": pl.Boolean(),  # None: not a cache (ALB)
}


class UserMetric(StrEnum):
    """What is forecast per user group and client region."""

    REQUESTS_PER_S = "requests_per_s"
    BYTES_OUT_GBPS = "bytes_out_gbps"
    LATENCY_MS = "user_latency_ms"


USER_METRICS: tuple[UserMetric, ...] = tuple(UserMetric)


def user_series_id(group_id: str, client_region: str) -> str:
    """The forecast series id of a user group in a client region: ``users/<id>@<region>``."""
    return f"users/{group_id}@{client_region}"


class UserGroupKind(StrEnum):
    NAMED = "named"  # the policy's users.groups
    COHORT = "cohort"  # users clustered by behaviour
    USER = "user"  # cohorts: 0, one group per user


@dataclass(frozen=True)
class UserGroup:
    """A user group: stable ``id`` (``ug-...``), a human ``name``, its users (hashes) and the
    profile it was formed on (feature name -> value, e.g. ``hour_share_09``, ``mean_object_kb``)."""

    id: str
    name: str
    kind: UserGroupKind
    users: tuple[str, ...]
    profile: dict[str, float] = field(default_factory=dict)
    regions: tuple[str, ...] = ()


@dataclass(frozen=True)
class MissRatioCurve:
    """Miss ratio by cache size (bytes) for one region's access stream, from sampled reuse
    distances. ``requests`` and ``unique_bytes`` are estimates for the whole (unsampled) stream
    over ``window_s`` seconds."""

    region: str
    sizes_bytes: tuple[float, ...]
    miss_ratio: tuple[float, ...]
    requests: float
    unique_bytes: float
    window_s: float
    sample_rate: float

    def miss_at(self, size_bytes: float) -> float:
        """Miss ratio at ``size_bytes`` (step-wise: the largest measured size not above it)."""
        best = 1.0
        for s, m in zip(self.sizes_bytes, self.miss_ratio, strict=True):
            if s <= size_bytes:
                best = m
        return best


@dataclass(frozen=True)
class HotPrefix:
    """A path prefix of one region's accesses (``/static/``; a redacted tenant segment is
    ``*``): the requests it would hit at each of the region curve's ``sizes_bytes`` (full-stream
    estimate over the curve's window) and a cache TTL (s) covering its observed reuse intervals."""

    prefix: str
    hits: tuple[float, ...]
    ttl_s: int


@dataclass(frozen=True)
class CachePick:
    """The cache a region should run, and why: nodes, expected hit ratio, cost, what to keep."""

    region: str
    nodes: int
    size_bytes: float
    expected_hit_ratio: float
    hourly_usd: float
    hot_prefixes: tuple[str, ...] = ()
    prewarm: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class UserLoad:
    """What a user group's pre-allocation was sized from, to explain and watch it: the forecast
    request rate (req/s, provisioning quantile, summed over client regions), the last step's
    measured rate (None: not known), the cost of one req/s per planner metric (from the load ->
    resource models) and those models' held-out R^2 per serving application group and metric."""

    requests_per_s: float
    measured_per_s: float | None = None
    per_request: dict[str, float] = field(default_factory=dict)
    r2: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class UserSignals:
    """What the user-behaviour analysis hands the planner (``PlanInput.users``).

    - ``region_requests``: predicted request rate (req/s, provisioning quantile) per client region
      over the provisioning window;
    - ``region_gbps``: the same for response bytes (Gbps);
    - ``latency_ms``: measured median latency per (client region, serving region);
    - ``curves``: miss-ratio curves per client region (edge caches);
    - ``hot_objects``: per client region, objects ranked by predicted requests (object, req/s);
    - ``hot_prefixes``: per client region, path prefixes with their hits by the curve's sizes
      (so the planner names the prefixes that hold the hits at the size it picks) and TTLs;
    - ``needs``: per user group, the resources its forecast load needs (planner metric -> value),
      from the load -> resource models of the application groups that serve it;
    - ``serving``: per user group, the application groups serving it and each one's share;
    - ``load``: per user group, the request rates and per-request costs behind ``needs``.
    """

    at: datetime
    region_requests: dict[str, float] = field(default_factory=dict)
    region_gbps: dict[str, float] = field(default_factory=dict)
    #: the same at p99: what a region must keep room for (the routing LP's surprise budget)
    region_gbps_high: dict[str, float] = field(default_factory=dict)
    latency_ms: dict[tuple[str, str], float] = field(default_factory=dict)
    curves: dict[str, MissRatioCurve] = field(default_factory=dict)
    hot_objects: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    hot_prefixes: dict[str, list[HotPrefix]] = field(default_factory=dict)
    needs: dict[str, dict[str, float]] = field(default_factory=dict)
    serving: dict[str, dict[str, float]] = field(default_factory=dict)
    load: dict[str, UserLoad] = field(default_factory=dict)
