"""The report's interactive plots (Plotly): hover values, zoom, a legend that hides a series.

Each function takes plain data and returns a ``plotly.graph_objects.Figure``; ``html.py`` embeds
it with plotly.js inlined once in the page, so the file works offline. Every axis has a unit,
every group is shown by its name and keeps one colour in every plot (``colour_of``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import plotly.graph_objects as go
import polars as pl
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from reconciler.report.plots import busiest_nodes

__all__ = [
    "EXTERNAL_COLOUR",
    "colour_of",
    "comparison_fig",
    "forecast_fig",
    "pool_fig",
    "traffic_graph_fig",
]

EXTERNAL_COLOUR = "#9e9e9e"
_PALETTE = qualitative.Dark24 + qualitative.Light24  # 48 distinct hues before any repeats
_LAYOUT = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
    "font": {"size": 12},
}
_HEADROOM = "#1f77b4"
_REACTIVE = "#ff7f0e"


def colour_of(group_ids: Sequence[str]) -> dict[str, str]:
    """One colour per group, stable for a given set of ids (sorted), distinct up to 48."""
    return {g: _PALETTE[i % len(_PALETTE)] for i, g in enumerate(sorted(group_ids))}


def traffic_graph_fig(
    edges: pl.DataFrame,
    group_of: Mapping[str, str],
    names: Mapping[str, str],
    colours: Mapping[str, str],
    *,
    max_nodes: int = 300,
) -> go.Figure:
    """Who talks to whom (``src, dst, bytes``): one trace per group in its colour (legend and
    a label at the group's centre), nodes in no group grey; hover gives node, group and GB."""
    import igraph as ig

    fig = go.Figure(layout=_LAYOUT)
    if edges.height == 0:
        fig.update_layout(title="traffic graph: no flows in the window")
        return fig
    strength = busiest_nodes(edges, max_nodes)
    total = dict(zip(strength["n"].to_list(), strength["bytes"].to_list(), strict=True))
    nodes = sorted(total)
    index = {n: i for i, n in enumerate(nodes)}
    sub = edges.filter(pl.col("src").is_in(nodes) & pl.col("dst").is_in(nodes))
    pairs = [(index[s], index[d]) for s, d in zip(sub["src"], sub["dst"], strict=True)]
    graph = ig.Graph(n=len(nodes), edges=pairs)
    seed = graph.layout_circle().coords  # a fixed start: the same data draws the same graph
    coords = graph.layout_fruchterman_reingold(niter=300, seed=seed).coords
    ex: list[float | None] = []
    ey: list[float | None] = []
    for s, d in pairs:
        ex += [coords[s][0], coords[d][0], None]
        ey += [coords[s][1], coords[d][1], None]
    fig.add_trace(
        go.Scatter(
            x=ex,
            y=ey,
            mode="lines",
            line={"color": "#d0d0d0", "width": 0.6},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    members: dict[str, list[str]] = {}
    for n in nodes:
        members.setdefault(group_of.get(n, ""), []).append(n)
    for gid in sorted(members, key=lambda g: (g == "", names.get(g, g))):
        ns = members[gid]
        label = names.get(gid, gid) if gid else "in no group (external)"
        xs = [coords[index[n]][0] for n in ns]
        ys = [coords[index[n]][1] for n in ns]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                name=label,
                marker={
                    "size": 11,
                    "color": colours.get(gid, EXTERNAL_COLOUR),
                    "line": {"color": "white", "width": 1},
                },
                customdata=[[n, label, total[n] / 1e9] for n in ns],
                hovertemplate="%{customdata[0]}<br>group: %{customdata[1]}"
                "<br>traffic: %{customdata[2]:.3f} GB<extra></extra>",
            )
        )
        if gid:
            fig.add_annotation(
                x=sum(xs) / len(xs),
                y=sum(ys) / len(ys),
                text=f"<b>{label}</b>",
                showarrow=False,
                font={"color": colours.get(gid, "#333"), "size": 12},
                bgcolor="rgba(255,255,255,0.7)",
            )
    hidden = {"showgrid": False, "zeroline": False, "showticklabels": False, "title": None}
    fig.update_layout(
        title=f"traffic graph: {len(nodes)} resources, {len(pairs)} flows, "
        f"{sum(1 for g in members if g)} groups (node size fixed; hover for GB)",
        height=560,
        xaxis=hidden,
        yaxis=hidden,
        legend={"title": "group"},
    )
    return fig


def forecast_fig(
    title: str,
    forecast: pl.DataFrame,
    actual: pl.DataFrame,
    *,
    allocated: Sequence[tuple[datetime, float]] = (),
    cycles: Sequence[datetime] = (),
    markers: Sequence[tuple[datetime, str]] = (),
    colour: str = _HEADROOM,
    unit: str = "Gbps",
) -> go.Figure:
    """Forecast p50 with p90 and p99 bands (``ts, p50, p90, p99``) against actual (``ts, y``),
    the allocation in force (a step at each cycle), cycle times and known events (a surge).
    Where the forecast runs past the last actual point the span is shaded: no data yet."""
    fig = go.Figure(layout=_LAYOUT)
    f = forecast.sort("ts")
    a = actual.sort("ts")
    f_end: datetime | None = f["ts"].max() if f.height else None  # type: ignore[assignment]
    a_end: datetime | None = a["ts"].max() if a.height else None  # type: ignore[assignment]
    if f.height:
        ts = f["ts"].to_list()
        for upper, name, alpha in (("p99", "p99 band (p50-p99)", 0.12), ("p90", "p90 band", 0.25)):
            fig.add_trace(
                go.Scatter(
                    x=ts,
                    y=f["p50"].to_list(),
                    mode="lines",
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=upper,
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=ts,
                    y=f[upper].to_list(),
                    mode="lines",
                    fill="tonexty",
                    name=name,
                    line={"width": 0.5, "color": colour},
                    legendgroup=upper,
                    fillcolor=_rgba(colour, alpha),
                    hovertemplate=f"{upper}: %{{y:.3f}} {unit}<extra></extra>",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=ts,
                y=f["p50"].to_list(),
                mode="lines",
                name="forecast p50",
                line={"color": colour, "width": 1.5},
                hovertemplate=f"p50: %{{y:.3f}} {unit}<extra></extra>",
            )
        )
    if a.height:
        fig.add_trace(
            go.Scatter(
                x=a["ts"].to_list(),
                y=a["y"].to_list(),
                mode="lines",
                name="actual",
                line={"color": "black", "width": 1.3},
                hovertemplate=f"actual: %{{y:.3f}} {unit}<extra></extra>",
            )
        )
    if allocated:
        ends = [allocated[-1][0]]
        ends += [t for t in (f_end, a_end) if t is not None]
        end = max(ends)
        xs = [t for t, _ in allocated] + [end]
        ys = [v for _, v in allocated] + [allocated[-1][1]]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name="allocated (in force)",
                line_shape="hv",
                line={"color": "#d62728", "width": 1.5, "dash": "dash"},
                hovertemplate=f"allocated: %{{y:.3f}} {unit}<extra></extra>",
            )
        )
    for t in cycles:
        fig.add_vline(x=t, line={"color": "#bbbbbb", "width": 1, "dash": "dot"})
    for t, text in markers:
        fig.add_vline(x=t, line={"color": "#9467bd", "width": 2})
        fig.add_annotation(
            x=t,
            y=1,
            yref="paper",
            text=text,
            showarrow=False,
            xanchor="left",
            yanchor="bottom",
            font={"color": "#9467bd"},
        )
    if f_end is not None and a_end is not None and a_end < f_end:
        fig.add_vrect(
            x0=a_end,
            x1=f_end,
            fillcolor="#eeeeee",
            opacity=0.6,
            line_width=0,
            layer="below",
        )
        fig.add_annotation(
            x=a_end,
            y=0.02,
            yref="paper",
            text="no actual yet",
            showarrow=False,
            xanchor="left",
            font={"color": "#777"},
        )
    fig.update_layout(
        title=title,
        height=400,
        hovermode="x unified",
        xaxis={"title": "time (UTC)"},
        yaxis={"title": f"bandwidth ({unit})", "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.32},
        margin={"l": 60, "r": 20, "t": 50, "b": 90},
    )
    return fig


def pool_fig(series: Sequence[tuple[datetime, str, float, float]]) -> go.Figure:
    """Pool allocation per cycle: ``(at, pool_id, allocated_gbps, capacity_gbps)`` rows; the
    time axis spans the cycles (with half a cycle either side, at least 15 minutes)."""
    fig = go.Figure(layout=_LAYOUT)
    pools = sorted({p for _, p, _, _ in series})
    colours = colour_of(pools)
    for pool in pools:
        rows = sorted((at, a, c) for at, p, a, c in series if p == pool)
        xs = [r[0] for r in rows]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[r[1] for r in rows],
                mode="lines+markers",
                name=f"{pool} allocated",
                line={"color": colours[pool]},
                legendgroup=pool,
                hovertemplate=f"{pool} allocated: %{{y:.3f}} Gbps<extra></extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[r[2] for r in rows],
                mode="lines+markers",
                name=f"{pool} capacity",
                line={"color": colours[pool], "dash": "dash"},
                marker={"symbol": "line-ew-open"},
                legendgroup=pool,
                hovertemplate=f"{pool} capacity: %{{y:.3f}} Gbps<extra></extra>",
            )
        )
    times = sorted({at for at, _, _, _ in series})
    xaxis: dict[str, object] = {"title": "cycle time (UTC)"}
    if times:
        gaps = [b - a for a, b in itertools.pairwise(times)]
        pad = max(min(gaps) / 2 if gaps else timedelta(0), timedelta(minutes=15))
        xaxis["range"] = [times[0] - pad, times[-1] + pad]
    fig.update_layout(
        title=f"pool allocation per cycle ({len(times)} cycles; dashed: capacity)",
        height=340,
        hovermode="x unified",
        xaxis=xaxis,
        yaxis={"title": "bandwidth (Gbps)", "rangemode": "tozero"},
    )
    return fig


def comparison_fig(
    measures: Sequence[tuple[str, float, float, str]],
) -> go.Figure:
    """Headroom against the reactive policy, one panel per measure: ``(title, headroom,
    reactive, unit)``; each panel keeps its own axis and unit."""
    fig = make_subplots(rows=1, cols=len(measures), subplot_titles=[m[0] for m in measures])
    for i, (title, ours, theirs, unit) in enumerate(measures, start=1):
        fig.add_trace(
            go.Bar(
                x=["Headroom", "reactive"],
                y=[ours, theirs],
                marker_color=[_HEADROOM, _REACTIVE],
                showlegend=False,
                text=[_fmt(ours, unit), _fmt(theirs, unit)],
                textposition="outside",
                hovertemplate=f"{title}: %{{y:.3f}} {unit}<extra>%{{x}}</extra>",
            ),
            row=1,
            col=i,
        )
        fig.update_yaxes(title_text=unit, rangemode="tozero", row=1, col=i)
        fig.update_xaxes(title_text="policy", row=1, col=i)
    fig.update_layout(**_LAYOUT, height=340, title="Headroom vs the reactive policy")
    return fig


def _fmt(v: float, unit: str) -> str:
    return f"{v:.0%}" if unit.startswith("%") else f"{v:,.1f}" if unit == "GB" else f"{v:g}"


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"
