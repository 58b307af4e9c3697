"""The directed, time-decayed traffic graph of one cycle, built from history-store edges.

Input is the frame ``HistoryStore.edges`` returns (``window_start, src, dst, bytes, packets,
flows``) plus the inventory; nothing here reads a store, so tests pass frames in directly.
Rows that cannot be used (self-loops, null ends, negative counters, windows in the future) are
kept aside in ``TrafficGraph.set_aside`` with a ``reason`` column, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from providers.models import Resource
from reconciler.analysis.config import AnalysisConfig

__all__ = [
    "EDGE_COLUMNS",
    "EXTERNAL_PREFIX",
    "TrafficGraph",
    "build_traffic_graph",
    "is_external",
]

EXTERNAL_PREFIX = "external:"
EDGE_COLUMNS: tuple[str, ...] = ("window_start", "src", "dst", "bytes", "packets", "flows")


def is_external(node: str) -> bool:
    """True for the ``external:*`` nodes the history store makes of unknown addresses."""
    return node.startswith(EXTERNAL_PREFIX)


@dataclass(frozen=True)
class TrafficGraph:
    """Directed weighted edges (one row per ordered pair) and what is known about each node.

    ``edges`` columns: ``src, dst, weight`` (decayed, by ``config.weight_by``), ``bytes``,
    ``packets``, ``flows`` (decayed too). ``idle`` are inventory resources without traffic,
    ``unknown`` nodes seen in traffic but absent from the inventory (and not external).
    """

    edges: pl.DataFrame
    nodes: tuple[str, ...]
    tags: dict[str, dict[str, str]]
    kinds: dict[str, str]
    idle: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    set_aside: pl.DataFrame = field(default_factory=pl.DataFrame)
    rows_in_window: int = 0
    rows_outside_lookback: int = 0

    @property
    def external(self) -> tuple[str, ...]:
        return tuple(n for n in self.nodes if is_external(n))

    @property
    def is_empty(self) -> bool:
        return self.edges.height == 0

    def strength(self) -> dict[str, float]:
        """Total decayed weight in + out of every node (how much traffic it carries)."""
        out = self.edges.group_by("src").agg(pl.col("weight").sum()).rename({"src": "node"})
        inn = self.edges.group_by("dst").agg(pl.col("weight").sum()).rename({"dst": "node"})
        both = pl.concat([out, inn]).group_by("node").agg(pl.col("weight").sum())
        return dict(zip(both["node"].to_list(), both["weight"].to_list(), strict=True))


def _check_columns(edges: pl.DataFrame) -> None:
    missing = [c for c in EDGE_COLUMNS if c not in edges.columns]
    if missing:
        raise ValueError(
            f"edges frame is missing column(s) {missing}; expected {list(EDGE_COLUMNS)}, "
            f"got {edges.columns}"
        )
    dtype = edges.schema["window_start"]
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
        raise ValueError(f"edges.window_start must be a timezone-aware Datetime, got {dtype}")


def build_traffic_graph(
    edges: pl.DataFrame,
    inventory: Sequence[Resource],
    *,
    now: datetime,
    config: AnalysisConfig,
) -> TrafficGraph:
    """Aggregate edges over ``[now - lookback, now)`` with exponential decay by age.

    A row ``age`` old counts ``0.5 ** (age / half_life)`` of its bytes/packets/flows.
    """
    if now.tzinfo is None:
        raise ValueError(f"now={now.isoformat()} has no timezone; pass UTC")
    _check_columns(edges)
    frame = edges.select(EDGE_COLUMNS).with_columns(
        pl.col("window_start").dt.convert_time_zone("UTC"),
        pl.col("src", "dst").cast(pl.String),
        pl.col("bytes", "packets", "flows").cast(pl.Float64),
    )
    start = now - config.lookback
    reason = (
        pl.when(pl.col("src").is_null() | pl.col("dst").is_null())
        .then(pl.lit("src or dst is null"))
        .when(pl.col("src") == pl.col("dst"))
        .then(pl.lit("self-loop: src == dst"))
        .when(
            (pl.col("bytes") < 0)
            | (pl.col("packets") < 0)
            | (pl.col("flows") < 0)
            | pl.col("bytes").is_null()
            | pl.col("packets").is_null()
            | pl.col("flows").is_null()
        )
        .then(pl.lit("negative or null counter"))
        .when(pl.col("window_start") >= pl.lit(now))
        .then(pl.lit("window_start is not before now"))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("reason")
    )
    frame = frame.with_columns(reason)
    set_aside = frame.filter(pl.col("reason").is_not_null())
    usable = frame.filter(pl.col("reason").is_null()).drop("reason")
    in_window = usable.filter(pl.col("window_start") >= pl.lit(start))
    outside = usable.height - in_window.height
    half = config.half_life.total_seconds()
    age = (pl.lit(now) - pl.col("window_start")).dt.total_microseconds() / 1e6
    decay = (0.5 ** (age / half)).alias("decay")
    agg = (
        in_window.with_columns(decay)
        .group_by("src", "dst")
        .agg(
            (pl.col("bytes") * pl.col("decay")).sum().alias("bytes"),
            (pl.col("packets") * pl.col("decay")).sum().alias("packets"),
            (pl.col("flows") * pl.col("decay")).sum().alias("flows"),
        )
        .with_columns(pl.col(config.weight_by).alias("weight"))
        .filter(pl.col("weight") > 0)
        .sort("src", "dst")
        .select("src", "dst", "weight", "bytes", "packets", "flows")
    )
    known = {r.id: r for r in inventory}
    seen = pl.concat([agg["src"], agg["dst"]]).unique().sort().to_list()
    seen_set = set(seen)
    idle = tuple(sorted(rid for rid in known if rid not in seen_set))
    unknown = tuple(n for n in seen if n not in known and not is_external(n))
    tags = {n: dict(known[n].tags) for n in seen if n in known}
    kinds = {n: str(known[n].kind) for n in seen if n in known}
    for n in seen:
        if is_external(n):
            kinds[n] = "external"
    return TrafficGraph(
        edges=agg,
        nodes=tuple(seen),
        tags=tags,
        kinds=kinds,
        idle=idle,
        unknown=unknown,
        set_aside=set_aside,
        rows_in_window=in_window.height,
        rows_outside_lookback=outside,
    )
