"""Identified request records -> the history's ``requests`` buckets and sampled ``accesses``.

``request_buckets`` sums requests per (5-minute bucket, log kind, user, client region, serving
region, serving resource, request class): counts, bytes, latency sum and histogram
(``LATENCY_EDGES_MS``: a latency falls in the first bucket whose upper edge is at or above it,
beyond the last edge in the open bucket), ALB target time, CloudFront hits (``Hit`` and
``RefreshHit``) and errors (status 500 and above). An ALB record's ``target_ip`` is resolved to
the resource holding that private address now (``address_map``); CloudFront rows have none.

``sample_accesses`` keeps the per-object access stream for cache analysis with SHARDS spatial
sampling: an object (host + redacted path) is kept when ``object_hash(object) < sample_rate``,
so every access of a kept object is kept and about ``sample_rate`` of the objects are. The hash
is unkeyed BLAKE2b of the object's UTF-8 text (first 8 bytes, big-endian, over 2**64): stable
across processes, machines and library versions, unlike Polars' or Python's own hashes. Only
``GET``/``HEAD`` requests are accesses (the others are not cacheable).

``buckets_by_source`` and ``accesses_by_source`` do the same for many log objects in one query
(the collect step's batches), each object's rows as the single-object functions give them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import polars as pl

from providers.models import Resource
from reconciler.users.models import ACCESS_SCHEMA, LATENCY_EDGES_MS, REQUEST_BUCKET_SCHEMA

__all__ = [
    "BUCKET",
    "accesses_by_source",
    "address_map",
    "buckets_by_source",
    "object_hash",
    "request_buckets",
    "sample_accesses",
]

#: The history's request bucket.
BUCKET = "5m"
_HIT_RESULTS = ("Hit", "RefreshHit")
_CACHEABLE = ("GET", "HEAD")
_KEYS = (
    "log_kind",
    "user",
    "client_region",
    "serving_region",
    "resource_id",
    "request_class",
)


def address_map(inventory: Sequence[Resource]) -> dict[str, str]:
    """Private IP -> resource id, over every interface of every resource (the first resource
    listing an address wins, so a stale duplicate cannot take it over mid-list)."""
    out: dict[str, str] = {}
    for resource in inventory:
        for eni in resource.interfaces:
            for ip in eni.private_ips:
                out.setdefault(ip, resource.id)
    return out


def _latency_bucket() -> pl.Expr:
    """Index of the histogram bucket each row's latency falls in (None: latency unknown)."""
    latency = pl.col("latency_ms")
    index = pl.sum_horizontal([(latency > edge).cast(pl.Int64) for edge in LATENCY_EDGES_MS])
    return pl.when(latency.is_null()).then(None).otherwise(index)


def request_buckets(identified: pl.DataFrame, addresses: Mapping[str, str]) -> pl.DataFrame:
    """``REQUEST_BUCKET_SCHEMA`` rows from ``identity.identify``'s output (rows need a ``ts``)."""
    if identified.height == 0:
        return pl.DataFrame(schema=REQUEST_BUCKET_SCHEMA)
    return _buckets(identified, addresses, ()).collect()


def buckets_by_source(
    identified: pl.DataFrame, addresses: Mapping[str, str]
) -> dict[str, pl.DataFrame]:
    """``request_buckets`` of each log object (``source``) in ``identified``, in one query:
    each frame is the rows ``request_buckets`` gives for that object's records alone."""
    if identified.height == 0:
        return {}
    frame = _buckets(identified, addresses, ("source",)).collect()
    return _by_source(frame)


def _by_source(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    parts = frame.partition_by("source", maintain_order=True, include_key=False, as_dict=True)
    return {str(key[0]): part for key, part in parts.items()}


def _buckets(
    identified: pl.DataFrame, addresses: Mapping[str, str], by: tuple[str, ...]
) -> pl.LazyFrame:
    """The buckets grouped by ``by`` first (sorted by it, then as ``request_buckets``)."""
    ips, owners = list(addresses), list(addresses.values())
    resource = pl.col("target_ip").replace_strict(ips, owners, default=None, return_dtype=pl.String)
    n_buckets = len(LATENCY_EDGES_MS) + 1
    # the bucket index once per row, counted per bucket in the aggregation (an indicator column
    # per bucket, each recomputing the index, cost four times the rest of the query)
    rows = identified.lazy().with_columns(
        pl.col("ts").dt.truncate(BUCKET),
        resource.alias("resource_id"),
        _latency_bucket().alias("__bucket"),
    )
    histogram = [(pl.col("__bucket") == i).sum() for i in range(n_buckets)]
    frame = rows.group_by(*by, "ts", *_KEYS).agg(
        pl.len().alias("requests"),
        pl.col("bytes_in").sum(),
        pl.col("bytes_out").sum(),
        pl.col("latency_ms").sum().alias("latency_sum_ms"),
        pl.col("latency_ms").count().alias("latency_count"),
        pl.concat_list(histogram).alias("latency_hist"),
        pl.col("origin_ms").sum().alias("origin_ms_sum"),
        pl.col("cache_result").is_in(_HIT_RESULTS).sum().alias("hits"),
        (pl.col("status") >= 500).sum().alias("errors"),
    )
    return (
        frame.select(*by, *REQUEST_BUCKET_SCHEMA)
        .cast(REQUEST_BUCKET_SCHEMA)  # type: ignore[arg-type]
        .sort(*by, "ts", *_KEYS, nulls_last=True)
    )


def object_hash(obj: str) -> float:
    """Where ``obj`` falls in [0, 1): unkeyed BLAKE2b, stable everywhere (see the module)."""
    digest = hashlib.blake2b(obj.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _kept(objects: pl.Series, sample_rate: float) -> pl.Series:
    """The distinct ``objects`` whose hash falls under ``sample_rate``."""
    distinct = objects.unique().drop_nulls()
    return distinct.filter(
        distinct.map_elements(object_hash, return_dtype=pl.Float64) < sample_rate
    )


def sample_accesses(identified: pl.DataFrame, sample_rate: float) -> pl.DataFrame:
    """``ACCESS_SCHEMA`` rows: every ``GET``/``HEAD`` access of the sampled objects, by time."""
    if not 0 < sample_rate <= 1:
        raise ValueError(f"users.sample_rate must be in (0, 1], got {sample_rate}")
    if identified.height == 0:
        return pl.DataFrame(schema=ACCESS_SCHEMA)
    return _accesses(identified, sample_rate, ())


def accesses_by_source(identified: pl.DataFrame, sample_rate: float) -> dict[str, pl.DataFrame]:
    """``sample_accesses`` of each log object (``source``) in ``identified``, in one pass (a
    log object without sampled accesses is absent)."""
    if not 0 < sample_rate <= 1:
        raise ValueError(f"users.sample_rate must be in (0, 1], got {sample_rate}")
    if identified.height == 0:
        return {}
    return _by_source(_accesses(identified, sample_rate, ("source",)))


def _accesses(identified: pl.DataFrame, sample_rate: float, by: tuple[str, ...]) -> pl.DataFrame:
    host = pl.col("host").fill_null("").str.to_lowercase()
    cacheable = identified.filter(pl.col("method").str.to_uppercase().is_in(_CACHEABLE))
    with_object = cacheable.with_columns(
        pl.concat_str(host, pl.col("path").fill_null("/")).alias("object")
    )
    kept = _kept(with_object.get_column("object"), sample_rate)
    is_hit = pl.col("cache_result").fill_null("").is_in(_HIT_RESULTS)
    hit = pl.when(pl.col("log_kind") == "alb").then(None).otherwise(is_hit)
    return (
        with_object.filter(pl.col("object").is_in(kept.implode()))
        .with_columns(hit.alias("hit"))
        .select(*by, *ACCESS_SCHEMA)
        .cast(ACCESS_SCHEMA)  # type: ignore[arg-type]
        .sort(*by, "ts", "object", maintain_order=True)
    )
