from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from providers.models import ProviderName, Resource, ResourceKind

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def resource(rid: str, kind: ResourceKind = ResourceKind.INSTANCE, **tags: str) -> Resource:
    return Resource(
        id=rid, provider=ProviderName.FAKE, account="1", region="us-east-1", kind=kind, tags=tags
    )


def edges(rows: list[tuple[str, str, int]], *, age: timedelta = timedelta(minutes=5)):
    """An edges frame: every row in one window ``age`` before NOW."""
    ts = NOW - age
    return pl.DataFrame(
        {
            "window_start": [ts] * len(rows),
            "src": [r[0] for r in rows],
            "dst": [r[1] for r in rows],
            "bytes": [r[2] for r in rows],
            "packets": [max(r[2] // 1000, 1) for r in rows],
            "flows": [1] * len(rows),
        },
        schema={
            "window_start": pl.Datetime("us", "UTC"),
            "src": pl.String,
            "dst": pl.String,
            "bytes": pl.Int64,
            "packets": pl.Int64,
            "flows": pl.Int64,
        },
    )


def clique(prefix: str, n: int, weight: int = 1_000_000) -> list[tuple[str, str, int]]:
    names = [f"{prefix}{i}" for i in range(n)]
    return [(a, b, weight) for i, a in enumerate(names) for b in names[i + 1 :]]


@pytest.fixture
def now() -> datetime:
    return NOW
