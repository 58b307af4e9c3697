"""Small request frames for the users tests: raw ``REQUEST_SCHEMA`` records and history
``REQUEST_BUCKET_SCHEMA`` rows, with defaults for everything a test does not care about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from providers.models import REQUEST_SCHEMA
from reconciler.users.models import LATENCY_EDGES_MS, REQUEST_BUCKET_SCHEMA

__all__ = ["T0", "at", "bucket", "buckets", "record", "records"]

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def record(**kw: Any) -> dict[str, Any]:
    """One ALB request record at ``T0`` (override any field)."""
    row: dict[str, Any] = {
        "ts": T0,
        "log_kind": "alb",
        "source": "s3://logs/k",
        "serving_region": "us-east-1",
        "client_region": "us-east-1",
        "edge_location": None,
        "method": "GET",
        "host": "app.example.com",
        "path": "/acme/api/items",
        "query": None,
        "status": 200,
        "bytes_in": 100,
        "bytes_out": 1000,
        "latency_ms": 12.0,
        "origin_ms": 10.0,
        "target_ip": "10.0.0.1",
        "cache_result": None,
        "tenant_raw": None,
    }
    row.update(kw)
    return row


def records(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=REQUEST_SCHEMA)


def bucket(**kw: Any) -> dict[str, Any]:
    """One history bucket row: one request of 1 KB by user ``u1`` at ``T0`` through an ALB."""
    hist = [0] * (len(LATENCY_EDGES_MS) + 1)
    hist[5] = 1  # 7 < latency <= 10 ms
    row: dict[str, Any] = {
        "ts": T0,
        "log_kind": "alb",
        "user": "u1",
        "client_region": "us-east-1",
        "serving_region": "us-east-1",
        "resource_id": "i-a",
        "request_class": "GET /api",
        "requests": 1,
        "bytes_in": 100,
        "bytes_out": 1024,
        "latency_sum_ms": 10.0,
        "latency_count": 1,
        "latency_hist": hist,
        "origin_ms_sum": 8.0,
        "hits": 0,
        "errors": 0,
    }
    row.update(kw)
    return row


def buckets(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=REQUEST_BUCKET_SCHEMA)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)
