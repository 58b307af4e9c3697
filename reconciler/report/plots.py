"""The report's still plots, drawn with matplotlib's object API (no pyplot state) as PNG.

Each function takes plain data and returns PNG bytes; the HTML writer embeds them in
``<noscript>`` beside the interactive Plotly figure (``figures.py``), for mail clients and
viewers that run no scripts.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from matplotlib.figure import Figure

__all__ = ["busiest_nodes", "comparison_png", "forecast_png", "pool_png", "traffic_graph_png"]

_SHARED = "#9e9e9e"


def busiest_nodes(edges: pl.DataFrame, max_nodes: int) -> pl.DataFrame:
    """The ``max_nodes`` nodes carrying the most bytes (sent + received): ``n, bytes``; the
    traffic graph draws these (the PNG still and the interactive figure alike)."""
    return (
        pl.concat(
            [
                edges.select(pl.col("src").alias("n"), "bytes"),
                edges.select(pl.col("dst").alias("n"), "bytes"),
            ]
        )
        .group_by("n")
        .agg(pl.col("bytes").sum())
        .sort("bytes", descending=True)
        .head(max_nodes)
    )


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return buf.getvalue()


def traffic_graph_png(
    edges: pl.DataFrame,
    group_of: Mapping[str, str],
    *,
    max_nodes: int = 300,
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """Who talks to whom (``src, dst, bytes``), nodes coloured by group; shared/hub nodes grey.

    Only the ``max_nodes`` busiest nodes are drawn so large fleets stay readable."""
    import igraph as ig

    fig = Figure(figsize=(8, 6))
    ax = fig.add_subplot()
    ax.set_axis_off()
    if edges.height == 0:
        ax.set_title("traffic graph: no flows in the window")
        return _png(fig)
    strength = busiest_nodes(edges, max_nodes)
    keep = set(strength["n"].to_list())
    sub = edges.filter(pl.col("src").is_in(keep) & pl.col("dst").is_in(keep))
    names = sorted(keep)
    index = {n: i for i, n in enumerate(names)}
    pairs = [(index[s], index[d]) for s, d in zip(sub["src"], sub["dst"], strict=True)]
    graph = ig.Graph(n=len(names), edges=pairs)
    seed = graph.layout_circle().coords
    coords = graph.layout_fruchterman_reingold(niter=300, seed=seed).coords
    groups = sorted({group_of[n] for n in names if n in group_of})

    from reconciler.report.figures import colour_of

    colour = colour_of(groups)
    label = labels or {}
    for s, d in pairs:
        (x1, y1), (x2, y2) = coords[s], coords[d]
        ax.plot([x1, x2], [y1, y2], color="#cccccc", linewidth=0.4, zorder=1)
    xs = [c[0] for c in coords]
    ys = [c[1] for c in coords]
    cols = [colour.get(group_of.get(n, ""), _SHARED) for n in names]
    ax.scatter(xs, ys, c=cols, s=28, zorder=2, edgecolors="white", linewidths=0.3)
    for g in groups[:48]:
        ax.scatter([], [], color=colour[g], label=label.get(g, g))
    ax.scatter([], [], color=_SHARED, label="in no group")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title(f"traffic graph: {len(names)} nodes, {len(pairs)} edges, {len(groups)} groups")
    return _png(fig)


def forecast_png(
    name: str,
    forecast: pl.DataFrame,
    actual: pl.DataFrame,
    *,
    unit: str = "Gbps",
    allocated: Sequence[tuple[datetime, float]] = (),
) -> bytes:
    """Forecast p50 with p90 and p99 bands (``ts, p50, p90, p99``) against actual (``ts, y``)."""
    fig = Figure(figsize=(8, 2.6))
    ax = fig.add_subplot()
    if forecast.height:
        f = forecast.sort("ts")
        ts = f["ts"].to_list()
        ax.fill_between(ts, f["p50"].to_list(), f["p99"].to_list(), alpha=0.18, label="p50-p99")
        ax.fill_between(ts, f["p50"].to_list(), f["p90"].to_list(), alpha=0.3, label="p50-p90")
        ax.plot(ts, f["p50"].to_list(), linewidth=1, label="p50")
    if actual.height:
        a = actual.sort("ts")
        ax.plot(a["ts"].to_list(), a["y"].to_list(), color="black", linewidth=0.9, label="actual")
    if allocated:
        xs: Any = [t for t, _ in allocated]
        ax.step(
            xs,
            [v for _, v in allocated],
            where="post",
            color="#d62728",
            linestyle="--",
            linewidth=1,
            label="allocated",
        )
    ax.set_title(f"{name}: forecast bands vs actual")
    ax.set_ylabel(f"bandwidth ({unit})")
    ax.set_xlabel("time (UTC)")
    ax.legend(fontsize=7, loc="upper left")
    fig.autofmt_xdate()
    return _png(fig)


def pool_png(
    series: Sequence[tuple[datetime, str, float, float]],
) -> bytes:
    """Pool allocation over cycles: ``(at, pool_id, allocated_gbps, capacity_gbps)`` rows."""
    fig = Figure(figsize=(8, 2.8))
    ax = fig.add_subplot()
    pools = sorted({p for _, p, _, _ in series})
    for pool in pools:
        rows = sorted((at, a, c) for at, p, a, c in series if p == pool)
        xs: Any = [r[0] for r in rows]
        line = ax.plot(xs, [r[1] for r in rows], marker="o", label=pool)[0]
        ax.plot(xs, [r[2] for r in rows], linestyle="--", color=line.get_color())
    times = sorted({at for at, _, _, _ in series})
    if times:
        gaps = [b - a for a, b in itertools.pairwise(times)]
        pad = max(min(gaps) / 2 if gaps else timedelta(0), timedelta(minutes=15))
        lim: Any = (times[0] - pad, times[-1] + pad)
        ax.set_xlim(*lim)
    ax.set_title("pool allocation per cycle (dashed: capacity)")
    ax.set_ylabel("bandwidth (Gbps)")
    ax.set_xlabel("cycle time (UTC)")
    if pools:
        ax.legend(fontsize=7, loc="upper left")
    fig.autofmt_xdate()
    return _png(fig)


def comparison_png(
    labels: Sequence[str], headroom: Sequence[float], reactive: Sequence[float], title: str
) -> bytes:
    """Headroom against the reactive policy, one panel per measure (each its own unit)."""
    fig = Figure(figsize=(3 * max(len(labels), 1), 2.8))
    axes = fig.subplots(1, max(len(labels), 1), squeeze=False)[0]
    for ax, label, ours, theirs in zip(axes, labels, headroom, reactive, strict=False):
        ax.bar(["Headroom", "reactive"], [ours, theirs], color=["#1f77b4", "#ff7f0e"])
        ax.set_title(label, fontsize=9)
    fig.suptitle(title)
    return _png(fig)
