"""A self-contained HTML report of one or more cycles: interactive Plotly plots (hover, zoom)
with plotly.js inlined once, so the file works offline; each plot also carries a static PNG in
``<noscript>`` for mail clients and viewers that run no scripts."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
from plotly.offline import get_plotlyjs

from infra.desired_state import DesiredState
from reconciler.actuate.observed import spec_id
from reconciler.loop import RunReport
from reconciler.remediation.types import Action
from reconciler.report.compare import CongestionComparison
from reconciler.report.desired import DESIRED_HEADER, desired_rows, group_flow
from reconciler.report.figures import (
    colour_of,
    comparison_fig,
    forecast_fig,
    pool_fig,
    traffic_graph_fig,
)
from reconciler.report.groups import (
    change_text,
    commands_of,
    group_label,
    group_outcomes,
    group_regions,
)
from reconciler.report.plots import comparison_png, forecast_png, pool_png, traffic_graph_png
from reconciler.report.users import user_group_sections
from reconciler.steps.types import Allocation, CommandView, Group, GroupSet
from reconciler.users.recorded import UserGroupView

__all__ = ["ReportData", "render_html", "write_report"]


@dataclass
class ReportData:
    """What the report shows; every part is optional except the title."""

    title: str
    runs: list[RunReport] = field(default_factory=list)
    groups: GroupSet | None = None
    edges: pl.DataFrame | None = None  # src, dst, bytes
    forecasts: pl.DataFrame | None = None  # group_id, ts, p50, p90, p99 (one metric)
    actual: pl.DataFrame | None = None  # group_id, ts, y
    allocations: list[Allocation] = field(default_factory=list)
    commands: list[CommandView] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    comparison: CongestionComparison | None = None
    notes: list[str] = field(default_factory=list)
    forecast_groups: int = 12
    #: the last desired state produced, and each group's forecast peak it was sized from
    desired: DesiredState | None = None
    forecast_peaks: dict[str, float] = field(default_factory=dict)
    #: demand with the allocation in force (group_id, ts, demand_gbps, allocated_gbps): the
    #: per-group outcome; ``step_seconds`` is its interval
    in_force: pl.DataFrame | None = None
    step_seconds: float = 300.0
    #: known events drawn on the forecast plots, e.g. a surge's start
    markers: list[tuple[datetime, str]] = field(default_factory=list)
    #: the user groups the newest cycle recorded (``reconciler.users.recorded.user_group_views``)
    users: list[UserGroupView] = field(default_factory=list)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt_time(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%d %H:%M") if ts else "-"


def _runs(runs: list[RunReport]) -> str:
    rows = []
    for r in runs:
        timings = ", ".join(f"{s.name} {s.seconds:.2f}s" for s in r.steps if s.seconds)
        rows.append(
            [_fmt_time(r.started_at), str(r.status), f"{r.seconds:.1f}", timings, r.error or ""]
        )
    return _table(["cycle at", "status", "seconds", "steps", "error"], rows)


def _plotly_js() -> str:
    """plotly.js, inlined once in the head. Its one PNG data-URI string literal is written
    with an escaped comma (the same string to JavaScript), so the page's own embedded images
    are the only ``data:image/png;base64,`` in the file; ``</script>`` never occurs in it."""
    js = get_plotlyjs().replace('"data:image/png;base64,', '"data:image/png;base64\\x2c')
    if "</script" in js.lower():
        raise ValueError("plotly.js contains </script>: it cannot be inlined as is")
    return js


def _plot(fig: go.Figure, key: str, png: bytes | None, alt: str) -> str:
    """The figure's div (plotly.js is in the page head) and its PNG for no-script viewers."""
    div = pio.to_html(
        fig,
        include_plotlyjs=False,
        full_html=False,
        div_id=f"plot-{key}",
        config={"displaylogo": False, "responsive": True},
    )
    still = f"<noscript>{_img(png, alt)}</noscript>" if png is not None else ""
    return f"<div class='plot'>{div}{still}</div>"


def _anchor(gid: str) -> str:
    return "group-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in gid)


def _groups(data: ReportData, regions: dict[str, list[str]]) -> str:
    assert data.groups is not None
    latest = data.allocations[-1].groups if data.allocations else {}
    rows = []
    for g in sorted(data.groups.groups, key=lambda g: -latest.get(g.id, 0.0)):
        rows.append(
            "<tr>"
            f"<td><a href='#{_anchor(g.id)}'>{html.escape(g.name or g.id)}</a></td>"
            + "".join(
                f"<td>{html.escape(str(c))}</td>"
                for c in (
                    g.id,
                    g.kind,
                    len(g.members),
                    ", ".join(regions.get(g.id, [g.region])),
                    f"{g.confidence:.2f}",
                    f"{latest[g.id]:.3f}" if g.id in latest else "-",
                )
            )
            + "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("group", "id", "kind", "members", "regions", "confidence", "allocated Gbps")
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _regions(data: ReportData, regions: dict[str, list[str]]) -> str:
    """Per region: its pool and every group with resources there (a group spanning two
    regions is listed in both)."""
    assert data.groups is not None
    alloc = data.allocations[-1] if data.allocations else None
    pools = {p.pool_id: p for p in alloc.pools} if alloc is not None else {}
    names = sorted({r for rs in regions.values() for r in rs} | set(pools) - {"global"})
    rows = []
    for region in names:
        inside = [g for g in data.groups.groups if region in regions.get(g.id, [g.region])]
        pool = pools.get(region)
        rows.append(
            [
                region,
                f"{pool.allocated_gbps:.3f} / {pool.capacity_gbps:.3f}" if pool else "-",
                ", ".join(
                    (g.name or g.id)
                    + (
                        " (spans " + ", ".join(regions[g.id]) + ")"
                        if len(regions.get(g.id, [])) > 1
                        else ""
                    )
                    for g in inside
                )
                or "-",
            ]
        )
    return _table(["region", "pool allocated / capacity Gbps", "groups with resources here"], rows)


def _traffic(data: ReportData, names: dict[str, str], colours: dict[str, str]) -> str:
    assert data.edges is not None
    group_of: dict[str, str] = {}
    for g in data.groups.groups if data.groups else ():
        for m in g.members:
            # a member of an application group is shown there; shared-services hubs otherwise
            if g.kind != "shared" or m not in group_of:
                group_of[m] = g.id
    fig = traffic_graph_fig(data.edges, group_of, names, colours)
    png = traffic_graph_png(data.edges, group_of, labels=names)
    return _plot(fig, "traffic", png, "traffic graph")


def _comparison(c: CongestionComparison) -> list[str]:
    less_unmet = c.reactive_unmet_gb - c.headroom_unmet_gb
    unmet = (
        f"{less_unmet:.1f} GB less demand unmet"
        if less_unmet >= 0
        else f"but {-less_unmet:.1f} GB MORE demand unmet"
    )
    slack = (
        f"slack (allocated but unused, share of demand) {c.headroom_slack:.0%} against "
        f"{c.reactive_slack:.0%}"
    )
    headline = (
        f"<p class='headline'>Over {c.intervals} group-intervals Headroom was congested in "
        f"{c.headroom_congested}, the reactive policy in {c.reactive_congested} "
        f"({c.avoided} congested intervals avoided); {unmet} ({c.headroom_unmet_gb:.1f} vs "
        f"{c.reactive_unmet_gb:.1f} GB); {slack}.</p>"
    )
    measures = [
        (
            "congested intervals",
            float(c.headroom_congested),
            float(c.reactive_congested),
            "intervals",
        ),
        ("unmet demand", c.headroom_unmet_gb, c.reactive_unmet_gb, "GB"),
        ("slack (cost)", c.headroom_slack, c.reactive_slack, "% of demand"),
    ]
    return [
        headline,
        _table(
            [
                "policy",
                "congested intervals",
                "unmet demand GB",
                "slack % of demand",
                "at a surprise's start",
            ],
            [
                [
                    "Headroom",
                    c.headroom_congested,
                    f"{c.headroom_unmet_gb:.1f}",
                    f"{c.headroom_slack:.0%}",
                    c.headroom_surprise,
                ],
                [
                    "reactive (70 % target, 1 interval delay)",
                    c.reactive_congested,
                    f"{c.reactive_unmet_gb:.1f}",
                    f"{c.reactive_slack:.0%}",
                    c.reactive_surprise,
                ],
            ],
        ),
        "<p class='note'>An interval is congested when demand exceeds the capacity in force; "
        "unmet demand is what passed it; slack is capacity allocated but not used, the cost "
        'of headroom. "At a surprise\'s start": congested intervals before any cycle could '
        "have seen the change.</p>",
        _plot(
            comparison_fig(measures),
            "comparison",
            comparison_png(
                [m[0] + f" ({m[3]})" for m in measures],
                [m[1] for m in measures],
                [m[2] for m in measures],
                "Headroom vs reactive",
            ),
            "comparison",
        ),
    ]


def _group_sections(
    data: ReportData, regions: dict[str, list[str]], colours: dict[str, str]
) -> list[str]:
    """Per group: forecast against actual and the allocation in force, then the chain
    forecast -> allocation -> desired state -> change -> outcome."""
    assert data.groups is not None
    latest = data.allocations[-1] if data.allocations else None
    outcomes = group_outcomes(data.in_force, data.step_seconds)
    forecasts = data.forecasts if data.forecasts is not None else None
    actual = data.actual
    plotted = (
        set(
            forecasts.group_by("group_id")
            .agg(pl.col("p90").max())
            .sort("p90", descending=True)
            .head(data.forecast_groups)["group_id"]
            .to_list()
        )
        if forecasts is not None and forecasts.height
        else set()
    )
    cycles = [r.started_at for r in data.runs if r.started_at is not None]
    order = sorted(
        data.groups.groups, key=lambda g: -(latest.groups.get(g.id, 0.0) if latest else 0.0)
    )
    parts: list[str] = []
    for i, g in enumerate(order):
        parts.append(f"<section id='{_anchor(g.id)}'><h3>{html.escape(group_label(g))}</h3>")
        parts.append(
            f"<p class='note'>{html.escape(g.kind)}, {len(g.members)} members, regions "
            f"{html.escape(', '.join(regions.get(g.id, [g.region])))}, confidence "
            f"{g.confidence:.2f}</p>"
        )
        if g.id in plotted and forecasts is not None:
            f = forecasts.filter(pl.col("group_id") == g.id)
            a = (
                actual.filter(pl.col("group_id") == g.id)
                if actual is not None
                else pl.DataFrame(schema={"ts": pl.Datetime("us", "UTC"), "y": pl.Float64})
            )
            allocated = [(al.at, al.groups[g.id]) for al in data.allocations if g.id in al.groups]
            title = f"{g.name or g.id}: forecast bands, actual and allocation (Gbps)"
            fig = forecast_fig(
                title,
                f,
                a,
                allocated=allocated,
                cycles=cycles,
                markers=data.markers,
                colour=colours.get(g.id, "#1f77b4"),
            )
            png = forecast_png(g.name or g.id, f, a, allocated=allocated)
            parts.append(_plot(fig, f"forecast-{i}", png, f"forecast {g.id}"))
        changes = [
            f"{c.kind} {c.target}: {change_text(c.before, c.after)} ({c.status})"
            for c in commands_of(g, data.commands)
        ]
        changes += [
            f"{a.kind} {a.before_gbps:.3f} -> {a.after_gbps:.3f} Gbps"
            if a.before_gbps is not None and a.after_gbps is not None
            else f"{a.kind}: {a.reason}"
            for a in data.actions
            if a.group_id == g.id
        ]
        o = outcomes.get(g.id)
        outcome = (
            f"congested in {o.congested} of {o.intervals} intervals under the allocation in "
            f"force, {o.unmet_gb:.1f} GB unmet, peak utilisation {o.peak_utilisation:.0%}"
            if o is not None
            else "no measured demand to score"
        )
        flow = group_flow(g, data.desired, latest, data.forecast_peaks, changes, outcome)
        parts += [_table(["step", "this group"], flow), "</section>"]
    return parts


def _commands(commands: list[CommandView], groups: GroupSet | None) -> str:
    owner: dict[str, Group] = {}
    for g in groups.groups if groups else ():
        for t in (g.id, spec_id(g.id), *g.members):
            owner.setdefault(t, g)

    def target(t: str) -> str:
        g = owner.get(t)
        label = (g.name or g.id) if g is not None else t
        return t if label == t else f"{t} ({label})"

    rows = [
        [
            c.kind,
            target(c.target),
            change_text(c.before, c.after),
            c.status,
            c.reason,
        ]
        for c in commands
    ]
    return _table(["kind", "target (group)", "change", "status", "reason"], rows)


def _actions(actions: list[Action], names: dict[str, str]) -> str:
    rows = []
    for a in actions:
        lenders = ", ".join(f"{k}: {v:.3f}" for k, v in a.lenders.items())
        rows.append(
            [
                str(a.kind),
                names.get(a.group_id, a.group_id)
                + (f" ({a.group_id})" if names.get(a.group_id, a.group_id) != a.group_id else ""),
                a.pool_id or "-",
                f"{a.before_gbps:.3f} -> {a.after_gbps:.3f}"
                if a.before_gbps is not None and a.after_gbps is not None
                else "-",
                lenders or "-",
                a.reason,
            ]
        )
    return _table(
        ["action", "group", "pool", "Gbps before -> after", "lenders Gbps", "reason"], rows
    )


def render_html(data: ReportData) -> str:
    """The whole report as one HTML string."""
    groups = data.groups.groups if data.groups is not None else ()
    names = {g.id: g.name or g.id for g in groups}
    colours = colour_of([g.id for g in groups])
    regions = group_regions(groups, data.desired)
    toc: list[tuple[str, str]] = []
    body: list[str] = []

    def section(anchor: str, title: str, *parts: str) -> None:
        toc.append((anchor, title))
        body.extend([f"<h2 id='{anchor}'>{html.escape(title)}</h2>", *parts])

    if data.runs:
        section("cycles", "Cycles", _runs(data.runs))
    if data.comparison is not None:
        section(
            "congestion",
            "Congestion avoided versus a reactive policy: congestion, unmet demand and cost",
            *_comparison(data.comparison),
        )
    if data.groups is not None:
        section("groups", "Groups", _groups(data, regions))
        section("regions", "Regions", _regions(data, regions))
    if data.edges is not None:
        section("traffic", "Traffic graph", _traffic(data, names, colours))
    if data.allocations:
        series = [
            (a.at, p.pool_id, p.allocated_gbps, p.capacity_gbps)
            for a in data.allocations
            for p in a.pools
        ]
        section(
            "pools",
            "Pool allocations over the cycles",
            _plot(pool_fig(series), "pools", pool_png(series), "pools"),
        )
    if data.groups is not None and groups:
        section(
            "per-group",
            "Per group: forecast, allocation, desired change, outcome",
            "<p class='note'>Forecasts are each cycle's near-term rows (what the allocation "
            "used) up to the next cycle; dotted lines are cycles, the dashed red step the "
            "allocation in force.</p>",
            *_group_sections(data, regions, colours),
        )
    if data.users:
        section(
            "user-groups",
            "User groups: profile, forecast, accuracy, pre-allocation",
            *user_group_sections(data.users, _plot, names),
        )
    if data.desired is not None:
        allocation = data.allocations[-1] if data.allocations else None
        section(
            "stack",
            "What reaches the stack",
            "<p class='note'>Per group: the forecast peak over the provisioning window, the "
            "allocation, and the bandwidth tier, instance types and counts in the desired state "
            "the last cycle produced (<code>desired-state.json</code>, what <code>pulumi up"
            "</code> applies).</p>",
            _table(
                DESIRED_HEADER,
                desired_rows(data.desired, data.groups, allocation, data.forecast_peaks),
            ),
        )
    if data.commands:
        section("commands", "Commands planned", _commands(data.commands, data.groups))
    if data.actions:
        section("remediation", "Remediation", _actions(data.actions, names))
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:13px;margin:0.5em 0}"
        "td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}"
        "th{background:#f4f4f4}img{display:block;max-width:100%;margin:0.5em 0}"
        ".note{color:#555}.headline{font-size:15px;background:#f7f7f0;padding:0.6em;"
        "border-left:4px solid #1f77b4}.plot{margin:0.5em 0 1.5em}"
        "section{border-top:1px solid #eee;padding-top:0.5em}nav a{margin-right:1em}"
    )
    nav = (
        "<nav>"
        + "".join(f"<a href='#{a}'>{html.escape(t.split(':')[0])}</a>" for a, t in toc)
        + "</nav>"
    )
    head = [f"<h1>{html.escape(data.title)}</h1>"]
    head += [f"<p class=note>{html.escape(n)}</p>" for n in data.notes]
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(data.title)}</title><style>{style}</style>"
        f"<script>{_plotly_js()}</script></head><body>"
        + "\n".join([*head, nav, *body])
        + "</body></html>"
    )


def write_report(data: ReportData, path: Path) -> Path:
    """Write the report to ``path`` (folders created) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(data), encoding="utf-8")
    return path
