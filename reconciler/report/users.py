"""The report's user-group page: per user group its profile (hour-of-day shape), the request
rate forecast per client region (p50 line, p90 and p99 bands), accuracy, the pre-allocation in
force against the predicted need, and the application groups serving it.

It shows the views ``reconciler.users.recorded.user_group_views`` reads from the state store,
the same ones ``GET /users/groups`` and ``GET /metrics/users/{id}`` serve, so every number on
the page is the API's (printed with :func:`number`).
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from matplotlib.figure import Figure

from reconciler.report.figures import colour_of
from reconciler.users.models import UserMetric
from reconciler.users.recorded import SeriesView, UserGroupView

__all__ = [
    "HOUR_PREFIX",
    "PlotFn",
    "hour_shape",
    "number",
    "profile_fig",
    "requests_fig",
    "user_group_sections",
]

#: Profile features ``hour_share_00`` .. ``hour_share_23``: the share of requests in each hour.
HOUR_PREFIX = "hour_share_"
#: Embeds a figure: ``(figure, key, png still or None, alt text) -> html``.
PlotFn = Callable[[go.Figure, str, bytes | None, str], str]
_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
    "font": {"size": 12},
}
_UNITS = {
    str(UserMetric.REQUESTS_PER_S): "req/s",
    str(UserMetric.BYTES_OUT_GBPS): "Gbps",
    str(UserMetric.LATENCY_MS): "ms",
}
_QUANTILES = ("0.5", "0.9", "0.99")
_ACCURACY_HEADER = (
    "client region",
    "metric",
    "scored points",
    "MAE (|actual - p50|)",
    "inside widest band",
    "at or below p90",
    "p90 pinball",
)


def number(value: float | None) -> str:
    """How the page prints a recorded number (4 significant digits; ``-`` for none)."""
    return "-" if value is None else f"{value:.4g}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _anchor(gid: str) -> str:
    return "user-group-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in gid)


def hour_shape(profile: Mapping[str, float]) -> list[float] | None:
    """The 24 hourly request shares of a profile (an hour not recorded is 0), or None when the
    profile has no hour feature."""
    hours = {
        k.removeprefix(HOUR_PREFIX): v for k, v in profile.items() if k.startswith(HOUR_PREFIX)
    }
    if not hours:
        return None
    return [float(hours.get(f"{h:02d}", 0.0)) for h in range(24)]


# ---- figures ----------------------------------------------------------------------------
def profile_fig(name: str, shares: Sequence[float], colour: str) -> go.Figure:
    """The group's hour-of-day shape: the share of its requests in each UTC hour."""
    fig = go.Figure(layout=_LAYOUT)
    fig.add_trace(
        go.Bar(
            x=[f"{h:02d}" for h in range(24)],
            y=list(shares),
            marker_color=colour,
            hovertemplate="%{x}:00 UTC: %{y:.1%} of requests<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"{name}: requests by hour of day",
        height=260,
        xaxis={"title": "hour of day (UTC)"},
        yaxis={"title": "share of requests (%)", "tickformat": ".0%", "rangemode": "tozero"},
    )
    return fig


def _profile_png(name: str, shares: Sequence[float]) -> bytes:
    fig = Figure(figsize=(8, 2.2))
    ax = fig.add_subplot()
    ax.bar([f"{h:02d}" for h in range(24)], [100 * s for s in shares], color="#1f77b4")
    ax.set_title(f"{name}: requests by hour of day")
    ax.set_xlabel("hour of day (UTC)")
    ax.set_ylabel("share of requests (%)")
    ax.tick_params(axis="x", labelsize=7)
    return _png(fig)


def requests_fig(view: UserGroupView, colours: Mapping[str, str]) -> go.Figure:
    """The newest request-rate forecast of each client region: p50 line, p90 and p99 bands."""
    metric = str(UserMetric.REQUESTS_PER_S)
    fig = go.Figure(layout=_LAYOUT)
    for s in view.series:
        m = s.metric(metric)
        if m is None or not m.forecasts:
            continue
        ts = [f.ts for f in m.forecasts]
        p50 = [f.quantiles.get("0.5") for f in m.forecasts]
        colour = colours.get(s.client_region, "#1f77b4")
        for upper, level, alpha in (("0.99", "p99", 0.12), ("0.9", "p90", 0.25)):
            fig.add_trace(
                go.Scatter(
                    x=ts,
                    y=p50,
                    mode="lines",
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=ts,
                    y=[f.quantiles.get(upper) for f in m.forecasts],
                    mode="lines",
                    fill="tonexty",
                    name=f"{s.client_region} p50-{level} band",
                    line={"width": 0.5, "color": colour},
                    fillcolor=_rgba(colour, alpha),
                    hovertemplate=f"{s.client_region} {level}: %{{y:.4g}} req/s<extra></extra>",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=ts,
                y=p50,
                mode="lines",
                name=f"{s.client_region} p50",
                line={"color": colour, "width": 1.5},
                hovertemplate=f"{s.client_region} p50: %{{y:.4g}} req/s<extra></extra>",
            )
        )
    fig.update_layout(
        title=f"{view.group.name}: request rate forecast by client region",
        height=360,
        hovermode="x unified",
        xaxis={"title": "time (UTC)"},
        yaxis={"title": "request rate (req/s)", "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.3},
    )
    return fig


def _requests_png(view: UserGroupView, colours: Mapping[str, str]) -> bytes:
    """The still of :func:`requests_fig`."""
    fig = Figure(figsize=(8, 2.6))
    ax = fig.add_subplot()
    for s in view.series:
        m = s.metric(str(UserMetric.REQUESTS_PER_S))
        if m is None or not m.forecasts:
            continue
        ts: Any = [f.ts for f in m.forecasts]
        p50, p90, p99 = ([f.quantiles.get(q, 0.0) for f in m.forecasts] for q in _QUANTILES)
        colour = colours.get(s.client_region, "#1f77b4")
        ax.fill_between(ts, p50, p99, alpha=0.12, color=colour)
        ax.fill_between(ts, p50, p90, alpha=0.25, color=colour)
        ax.plot(ts, p50, color=colour, linewidth=1, label=f"{s.client_region} p50 (bands p90, p99)")
    ax.set_title(f"{view.group.name}: request rate forecast by client region")
    ax.set_ylabel("request rate (req/s)")
    ax.set_xlabel("time (UTC)")
    ax.legend(fontsize=7, loc="upper left")
    fig.autofmt_xdate()
    return _png(fig)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return buf.getvalue()


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


# ---- tables -----------------------------------------------------------------------------
def _summary(views: Sequence[UserGroupView]) -> str:
    rows = []
    for v in views:
        pre = v.pre_allocation.metrics.get("cpu_vcpu") if v.pre_allocation else None
        rows.append(
            f"<tr><td><a href='#{_anchor(v.group.id)}'>{html.escape(v.group.name)}</a></td>"
            + "".join(
                f"<td>{html.escape(str(c))}</td>"
                for c in (
                    v.group.id,
                    v.group.kind,
                    v.group.users,
                    ", ".join(v.group.regions),
                    number(v.requests_p90),
                    f"{number(pre.allocated)} / {number(pre.need)}" if pre else "-",
                    ", ".join(f"{g} {_share(s)}" for g, s in _ranked(v.serving)) or "-",
                )
            )
            + "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "user group",
            "id",
            "kind",
            "users",
            "client regions",
            "p90 req/s (next step)",
            "vCPU pre-allocated / need",
            "served by",
        )
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _ranked(shares: Mapping[str, float]) -> list[tuple[str, float]]:
    return sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))


def _forecast_rows(series: Sequence[SeriesView]) -> list[list[str]]:
    rows = []
    for s in series:
        for m in s.metrics:
            if m.forecasts:
                first = m.forecasts[0].quantiles
                rows.append(
                    [s.client_region, m.metric, _UNITS.get(m.metric, "")]
                    + [number(first.get(q)) for q in _QUANTILES]
                )
    return rows


def _accuracy_rows(series: Sequence[SeriesView]) -> list[list[str]]:
    rows = []
    for s in series:
        for m in s.metrics:
            a = m.accuracy
            if a is not None:
                rows.append(
                    [
                        s.client_region,
                        m.metric,
                        str(a.points),
                        number(a.mean_absolute_error),
                        _share(a.interval_coverage),
                        _share(a.p90_coverage),
                        number(a.p90_pinball),
                    ]
                )
    return rows


def _pre_allocation_rows(v: UserGroupView) -> list[list[str]]:
    recorded = v.pre_allocation.metrics if v.pre_allocation else {}
    rows = []
    for metric in sorted(set(recorded) | set(v.predicted_need)):
        x = recorded.get(metric)
        rows.append(
            [
                metric,
                number(v.predicted_need.get(metric)),
                number(x.need if x else None),
                number(x.allocated if x else None),
            ]
        )
    return rows


def _group(v: UserGroupView, i: int, plot: PlotFn, names: Mapping[str, str]) -> list[str]:
    g = v.group
    regions = sorted({s.client_region for s in v.series} | set(g.regions))
    colours = colour_of(regions)
    label = f"{g.name} ({g.id})" if g.name != g.id else g.id
    parts = [
        f"<section id='{_anchor(g.id)}'><h3>{html.escape(label)}</h3>",
        f"<p class='note'>{html.escape(str(g.kind))}, {g.users} users, client regions "
        f"{html.escape(', '.join(g.regions) or '-')}; recorded by cycle "
        f"{html.escape(v.run_id)}{f' at {v.at:%Y-%m-%d %H:%M} UTC' if v.at else ''}</p>",
    ]
    shares = hour_shape(g.profile)
    if shares is not None:
        fig = profile_fig(g.name, shares, colours[regions[0]] if regions else "#1f77b4")
        parts.append(plot(fig, f"ug-{i}-profile", _profile_png(g.name, shares), f"profile {g.id}"))
    others = [
        [k, number(val)] for k, val in sorted(g.profile.items()) if not k.startswith(HOUR_PREFIX)
    ]
    if others:
        parts.append(_table(["profile feature", "value"], others))
    if any(s.metric(str(UserMetric.REQUESTS_PER_S)) for s in v.series):
        fig = requests_fig(v, colours)
        png = _requests_png(v, colours)
        parts.append(plot(fig, f"ug-{i}-requests", png, f"request rate {g.id}"))
    forecasts = _forecast_rows(v.series)
    if forecasts:
        header = ["client region", "metric", "unit", "p50 (next step)", "p90", "p99"]
        parts.append(_table(header, forecasts))
    accuracy = _accuracy_rows(v.series)
    parts.append(
        _table(_ACCURACY_HEADER, accuracy)
        if accuracy
        else "<p class='note'>No scored forecast yet.</p>"
    )
    pre = _pre_allocation_rows(v)
    parts.append(
        _table(["resource", "predicted need", "need (record in force)", "pre-allocated"], pre)
        if pre
        else "<p class='note'>No pre-allocation in force.</p>"
    )
    serving = [
        [f"{names[a]} ({a})" if names.get(a, a) != a else a, _share(s), number(s)]
        for a, s in _ranked(v.serving)
    ]
    if serving:
        parts.append(_table(["served by application group", "share", "share (fraction)"], serving))
    latency = [[x.client, x.serving, number(x.ms)] for x in v.latency]
    if latency:
        parts.append(_table(["client region", "serving region", "median latency ms"], latency))
    parts.append("</section>")
    return parts


def user_group_sections(
    views: Sequence[UserGroupView], plot: PlotFn, names: Mapping[str, str] | None = None
) -> list[str]:
    """The page's HTML parts: a table of every user group, then a section per group.
    ``plot`` embeds a figure (the report's own); ``names``: application group id -> name."""
    parts = [
        "<p class='note'>User groups of the newest cycle. Forecasts are the newest recorded "
        "per client region (next step in the tables); accuracy covers the newest scored "
        "points; pre-allocation is the record in force.</p>",
        _summary(views),
    ]
    for i, v in enumerate(views):
        parts += _group(v, i, plot, names or {})
    return parts
