"""Who made a request: the tenant key's keyed hash, the redacted path and the request class.

A request's tenant key is read where the policy says (``policies.users.TenantKey``): a path
segment, a query parameter, the host name, or a log field the provider has already put in
``tenant_raw``; the optional ``pattern`` (one group) cuts the key out of that value. The key is
kept only as its keyed BLAKE2b hash (8 bytes, 16 hex characters), keyed with the value of the
environment variable the policy names (``UsersPolicy.salt_env``). Without it the fixed
``DEFAULT_KEY`` is used and one warning is logged: hashes are then stable but guessable by
anyone who knows a tenant's key, so set the variable in production. Requests without a key
belong to ``ANONYMOUS``.

Nothing raw is kept: when the key is a path segment that segment becomes ``{tenant}`` in the
stored path (the host likewise when the key is the host name), query strings are dropped, and
``tenant_raw`` is dropped after hashing. The request class is ``"<METHOD> /<first path
segment>"`` of the path with the tenant segment removed (``GET /acme/api/x`` -> ``GET /api``);
each log object (``source``) keeps its ``MAX_CLASSES`` most frequent classes and calls the
rest ``other``, so the history's cardinality stays bounded (the same whether objects are
identified one at a time or many together).

Everything runs as Polars expressions; Python touches only each *distinct* key (to hash it).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping

import polars as pl

from policies.users import TenantKey, UsersPolicy
from reconciler.logs import get_logger
from reconciler.users.models import ANONYMOUS

__all__ = [
    "DEFAULT_KEY",
    "MAX_CLASSES",
    "OTHER_CLASS",
    "TENANT_SEGMENT",
    "hash_tenant",
    "hash_tenants",
    "identify",
    "user_key",
]

log = get_logger(__name__)

#: The hashing key used when the policy's ``salt_env`` variable is not set (documented, so
#: hashes stay comparable across runs; not secret: set the variable in production).
DEFAULT_KEY = b"headroom-users-default-key-v1"
#: Distinct request classes kept per log object; the rest are ``OTHER_CLASS``.
MAX_CLASSES = 32
OTHER_CLASS = "other"
#: What replaces the tenant key's path segment in stored paths.
TENANT_SEGMENT = "{tenant}"

_warned: set[str] = set()


def user_key(policy: UsersPolicy, environ: Mapping[str, str] | None = None) -> bytes:
    """The BLAKE2b key for tenant hashes: the ``salt_env`` variable of ``environ`` (the process
    environment by default), or ``DEFAULT_KEY`` with one warning per variable name when unset.
    A value longer than BLAKE2b's 64-byte key limit is first hashed down to 64 bytes."""
    env = os.environ if environ is None else environ
    value = env.get(policy.salt_env, "")
    if not value:
        if policy.salt_env not in _warned:
            _warned.add(policy.salt_env)
            log.warning("users_salt_unset", env=policy.salt_env, hashed_with="default key")
        return DEFAULT_KEY
    raw = value.encode()
    return raw if len(raw) <= 64 else hashlib.blake2b(raw).digest()


def hash_tenant(tenant: str, key: bytes) -> str:
    """The stored identity of tenant key ``tenant``: keyed BLAKE2b, 16 hex characters."""
    return hashlib.blake2b(tenant.encode(), key=key, digest_size=8).hexdigest()


def _normalise(value: str, source: str) -> str:
    value = value.strip()
    return value.lower() if source == "host" else value


def hash_tenants(tenants: Iterable[str], tenant_key: TenantKey, key: bytes) -> dict[str, str]:
    """Raw tenant keys (as a policy names them, e.g. a named group's ``tenants``) -> user hash,
    normalised the way ``identify`` normalises keys read from logs (host names lower-cased)."""
    return {t: hash_tenant(_normalise(t, tenant_key.source), key) for t in tenants}


def _segments() -> pl.Expr:
    return pl.col("path").fill_null("/").str.strip_chars_start("/").str.split("/")


def _raw_value(tenant_key: TenantKey) -> pl.Expr:
    """The value the key is taken from, per row (None when the request has none)."""
    if tenant_key.source == "path_segment":
        value = _segments().list.get(tenant_key.index, null_on_oob=True)
    elif tenant_key.source == "query":
        name = re.escape(tenant_key.name or "")
        value = pl.col("query").str.extract(rf"(?:^|&){name}=([^&]*)", 1)
    elif tenant_key.source == "host":
        value = pl.col("host").str.to_lowercase()
    else:
        value = pl.col("tenant_raw")
    value = value.str.strip_chars()
    return pl.when(value.is_in(["", "-"])).then(None).otherwise(value)


def _hashes(values: pl.Series, tenant_key: TenantKey, key: bytes) -> pl.Expr:
    """``__raw`` -> user hash, hashing each distinct raw value once (None where the pattern
    does not match or there is no value)."""
    pattern = re.compile(tenant_key.pattern) if tenant_key.pattern else None
    raws = [v for v in values.unique().to_list() if v is not None]
    users: list[str | None] = []
    for raw in raws:
        tenant: str | None = raw
        if pattern is not None:
            found = pattern.search(raw)
            tenant = found.group(1) if found and found.group(1) else None
        users.append(hash_tenant(tenant, key) if tenant is not None else None)
    return pl.col("__raw").replace_strict(raws, users, default=None, return_dtype=pl.String)


def _redacted_path(index: int, keyed: pl.Expr) -> pl.Expr:
    """The path with segment ``index`` replaced by ``TENANT_SEGMENT`` where ``keyed``."""
    seg = _segments()
    head = seg.list.head(index).list.join("/")
    tail = seg.list.slice(index + 1).list.join("/")
    has_tail = seg.list.len() > index + 1
    lead = pl.when(pl.lit(index) > 0).then(pl.concat_str(pl.lit("/"), head)).otherwise(pl.lit(""))
    rest = pl.when(has_tail).then(pl.concat_str(pl.lit("/"), tail)).otherwise(pl.lit(""))
    redacted = pl.concat_str(lead, pl.lit("/" + TENANT_SEGMENT), rest)
    return pl.when(keyed).then(redacted).otherwise(pl.col("path"))


def _request_class(tenant_key: TenantKey) -> pl.Expr:
    """``METHOD /first-segment`` of the path without the tenant segment."""
    seg = _segments()
    if tenant_key.source == "path_segment":
        i = tenant_key.index
        keyed = pl.col("user") != ANONYMOUS
        without = pl.concat_list(seg.list.head(i), seg.list.slice(i + 1))
        seg = pl.when(keyed).then(without).otherwise(seg)
    first = seg.list.first().fill_null("")
    method = pl.col("method").fill_null("-").str.to_uppercase()
    return pl.concat_str(method, pl.lit(" /"), first)


def _bounded(framed: pl.DataFrame) -> pl.DataFrame:
    """``framed`` with all but each log object's (``source``'s) ``MAX_CLASSES`` most frequent
    request classes set to ``other`` (ties: the class name's order); a frame without a
    ``source`` is one object."""
    by = pl.col("source") if "source" in framed.columns else pl.lit("").alias("source")
    keyed = framed.select(by, "request_class")
    top = (
        keyed.group_by("source", "request_class")
        .len("n")
        .sort(["source", "n", "request_class"], descending=[False, True, False])
        .group_by("source", maintain_order=True)
        .head(MAX_CLASSES)
        .select("source", "request_class", pl.lit(True).alias("__top"))
    )
    kept = keyed.join(
        top, on=["source", "request_class"], how="left", maintain_order="left"
    ).get_column("__top")
    return framed.with_columns(
        pl.when(kept.is_not_null()).then(pl.col("request_class")).otherwise(pl.lit(OTHER_CLASS))
    )


def identify(records: pl.DataFrame, tenant_key: TenantKey, key: bytes) -> pl.DataFrame:
    """``REQUEST_SCHEMA`` records -> the same rows with ``user`` (hash or ``ANONYMOUS``) and
    ``request_class`` added, ``path`` redacted, and ``query`` and ``tenant_raw`` dropped."""
    raw = records.select(_raw_value(tenant_key).alias("__raw")).get_column("__raw")
    framed = records.with_columns(raw)
    framed = framed.with_columns(_hashes(raw, tenant_key, key).fill_null(ANONYMOUS).alias("user"))
    if tenant_key.source == "path_segment":
        keyed = pl.col("user") != ANONYMOUS
        framed = framed.with_columns(
            _request_class(tenant_key).alias("request_class"),
            _redacted_path(tenant_key.index, keyed).alias("path"),
        )
    else:
        framed = framed.with_columns(_request_class(tenant_key).alias("request_class"))
    if tenant_key.source == "host":  # the host is the key: keep it only as the hash
        keyed = pl.col("user") != ANONYMOUS
        host = pl.when(keyed).then(pl.lit(TENANT_SEGMENT)).otherwise(pl.col("host"))
        framed = framed.with_columns(host.alias("host"))
    framed = _bounded(framed)
    return framed.drop("__raw", "query", "tenant_raw", strict=False)
