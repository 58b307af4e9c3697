"""A self-contained HTML report of one or more cycles, plots embedded as PNG data URIs."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from infra.desired_state import DesiredState
from reconciler.loop import RunReport
from reconciler.remediation.types import Action
from reconciler.report.compare import CongestionComparison
from reconciler.report.desired import DESIRED_HEADER, desired_rows
from reconciler.report.plots import comparison_png, forecast_png, pool_png, traffic_graph_png
from reconciler.steps.types import Allocation, CommandView, GroupSet

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
    forecast_groups: int = 6
    #: the last desired state produced, and each group's forecast peak it was sized from
    desired: DesiredState | None = None
    forecast_peaks: dict[str, float] = field(default_factory=dict)


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


def _groups(data: ReportData) -> str:
    assert data.groups is not None
    latest = data.allocations[-1].groups if data.allocations else {}
    rows = [
        [
            g.id,
            g.name or "",
            g.kind,
            len(g.members),
            g.region,
            f"{g.confidence:.2f}",
            f"{latest.get(g.id, 0.0):.3f}",
        ]
        for g in sorted(data.groups.groups, key=lambda g: -latest.get(g.id, 0.0))
    ]
    return _table(["group", "name", "kind", "members", "region", "confidence", "alloc Gbps"], rows)


def _forecast_section(data: ReportData) -> str:
    assert data.forecasts is not None
    actual = (
        data.actual
        if data.actual is not None
        else pl.DataFrame(
            schema={"group_id": pl.String, "ts": pl.Datetime("us", "UTC"), "y": pl.Float64}
        )
    )
    top = (
        data.forecasts.group_by("group_id")
        .agg(pl.col("p90").max())
        .sort("p90", descending=True)
        .head(data.forecast_groups)["group_id"]
        .to_list()
    )
    parts = []
    for gid in top:
        f = data.forecasts.filter(pl.col("group_id") == gid)
        a = actual.filter(pl.col("group_id") == gid)
        parts.append(_img(forecast_png(gid, f, a), f"forecast {gid}"))
    return "".join(parts)


def render_html(data: ReportData) -> str:
    """The whole report as one HTML string."""
    sections: list[str] = [f"<h1>{html.escape(data.title)}</h1>"]
    sections += [f"<p class=note>{html.escape(n)}</p>" for n in data.notes]
    if data.runs:
        sections += ["<h2>Cycles</h2>", _runs(data.runs)]
    if data.groups is not None:
        sections += ["<h2>Groups</h2>", _groups(data)]
    if data.edges is not None:
        group_of = {
            m: g.id
            for g in (data.groups.groups if data.groups else ())
            for m in g.members
            if g.kind != "shared"
        }
        sections += [
            "<h2>Traffic graph</h2>",
            _img(traffic_graph_png(data.edges, group_of), "traffic graph"),
        ]
    if data.forecasts is not None and data.forecasts.height:
        sections += ["<h2>Forecasts against what happened</h2>", _forecast_section(data)]
    if data.allocations:
        series = [
            (a.at, p.pool_id, p.allocated_gbps, p.capacity_gbps)
            for a in data.allocations
            for p in a.pools
        ]
        sections += ["<h2>Pool allocations over time</h2>", _img(pool_png(series), "pools")]
    if data.comparison is not None:
        c = data.comparison
        sections += [
            "<h2>Congestion avoided versus a reactive policy</h2>",
            _table(
                ["policy", "congested intervals", "unmet GB", "slack"],
                [
                    [
                        "headroom",
                        c.headroom_congested,
                        f"{c.headroom_unmet_gb:.1f}",
                        f"{c.headroom_slack:.0%}",
                    ],
                    [
                        "reactive (70 % target, 1 interval delay)",
                        c.reactive_congested,
                        f"{c.reactive_unmet_gb:.1f}",
                        f"{c.reactive_slack:.0%}",
                    ],
                ],
            ),
            f"<p>{c.avoided} congested intervals avoided out of {c.intervals}; at the start of "
            f"a surprise no decision could have seen yet: headroom {c.headroom_surprise}, "
            f"reactive {c.reactive_surprise}.</p>",
            _img(
                comparison_png(
                    ["congested intervals"],
                    [c.headroom_congested],
                    [c.reactive_congested],
                    "congestion",
                ),
                "comparison",
            ),
        ]
    if data.desired is not None:
        allocation = data.allocations[-1] if data.allocations else None
        sections += [
            "<h2>What reaches the stack</h2>",
            "<p class='note'>Per group: the forecast peak over the provisioning window, the "
            "allocation, and the bandwidth tier, instance types and counts in the desired state "
            "the last cycle produced (<code>desired-state.json</code>, what <code>pulumi up"
            "</code> applies).</p>",
            _table(
                DESIRED_HEADER,
                desired_rows(data.desired, data.groups, allocation, data.forecast_peaks),
            ),
        ]
    if data.commands:
        sections += [
            "<h2>Commands planned</h2>",
            _table(
                ["kind", "target", "before", "after", "reason"],
                [[c.kind, c.target, c.before, c.after, c.reason] for c in data.commands],
            ),
        ]
    if data.actions:
        sections += [
            "<h2>Remediation</h2>",
            _table(
                ["action", "group", "before Gbps", "after Gbps", "reason"],
                [
                    [
                        str(a.kind),
                        a.group_id,
                        a.before_gbps if a.before_gbps is not None else "-",
                        a.after_gbps if a.after_gbps is not None else "-",
                        a.reason,
                    ]
                    for a in data.actions
                ],
            ),
        ]
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:12px;margin:0.5em 0}"
        "td,th{border:1px solid #ddd;padding:3px 6px;text-align:left}"
        "img{display:block;max-width:100%;margin:0.5em 0}.note{color:#555}"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(data.title)}</title><style>{style}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>"
    )


def write_report(data: ReportData, path: Path) -> Path:
    """Write the report to ``path`` (folders created) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(data), encoding="utf-8")
    return path
