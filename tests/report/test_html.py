"""The report's HTML without a browser: plotly.js inlined once, no outside reference, units on
every axis, group names, readable tables, a two-region group in both regions, per-group chain."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import polars as pl
from plotly.offline import get_plotlyjs

from reconciler.report import ReportData, render_html
from reconciler.report.figures import pool_fig
from reconciler.report.groups import change_text, group_outcomes
from tests.cycle.fakes import T0


def _figures(text: str) -> list[dict]:
    """Each figure's layout, from the ``Plotly.newPlot(id, data, layout, config)`` calls."""
    out = []
    for m in re.finditer(
        r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{"displaylogo"', text, re.S
    ):
        out.append(json.loads(m.group(2)))
    return out


def test_plotly_js_is_inlined_once_and_nothing_points_outside(report_data: ReportData) -> None:
    text = render_html(report_data)
    banner = get_plotlyjs()[:40]  # "/**\n* plotly.js vX.Y.Z ..."
    assert text.count(banner) == 1
    scripts = re.findall(r"<script>(.*?)</script>", text, re.S)
    bundle = max(scripts, key=len)
    assert bundle.startswith(banner) and len(bundle) > 1_000_000
    rest = text.replace(bundle, "")
    assert "cdn.plot.ly" not in rest
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", rest, re.I)
    assert rest.count("data:image/png;base64,") == 6  # the still copies, in <noscript>


def test_every_axis_has_a_unit_and_groups_are_named(report_data: ReportData) -> None:
    text = render_html(report_data)
    layouts = _figures(text)
    assert len(layouts) == 6
    for layout in layouts:
        for key, axis in layout.items():
            if key.startswith(("xaxis", "yaxis")) and axis.get("showticklabels", True):
                title = axis.get("title", {}).get("text", "")
                assert title, f"{key} has no title in {layout.get('title')}"
    assert "bandwidth (Gbps)" in text and "time (UTC)" in text and "GB" in text
    assert "shop (grp-aaa)" in text and "search (grp-bbb)" in text
    assert "surge starts" in text


def test_tables_are_text_and_the_comparison_shows_unmet_demand_and_cost(
    report_data: ReportData,
) -> None:
    text = render_html(report_data)
    tables = re.sub(r"<script>.*?</script>", "", text, flags=re.S)
    assert "{&#x27;" not in tables and "{'" not in tables  # no raw dicts
    assert "instance_type: m6i.large -&gt; m6i.xlarge" in text
    assert "1.300 -&gt; 1.600" in text  # remediation's before/after
    assert "unmet demand GB" in text and "slack % of demand" in text
    assert "GB MORE demand unmet" in text or "GB less demand unmet" in text


def test_a_group_in_two_regions_is_listed_in_both(report_data: ReportData) -> None:
    text = render_html(report_data)
    regions = text[text.index("id='regions'") : text.index("id='traffic'")]
    rows = re.findall(r"<tr><td>([a-z0-9-]+)</td>.*?</tr>", regions)
    assert rows == ["eu-west-1", "us-east-1"]
    assert regions.count("shared services (spans eu-west-1, us-east-1)") == 2


def test_each_group_has_its_chain_from_forecast_to_outcome(report_data: ReportData) -> None:
    text = render_html(report_data)
    section = text[text.index("id='group-grp-aaa'") :]
    section = section[: section.index("</section>")]
    for step in ("forecast", "allocation", "desired state", "desired change", "outcome"):
        assert f"<td>{step}</td>" in section
    assert "p90 peak 1.200 Gbps" in section
    assert "resize a1: instance_type: m6i.large -&gt; m6i.xlarge" in section
    assert "congested in 12 of 24 intervals" in section


def test_pool_axis_spans_the_cycles_even_with_one() -> None:
    fig = pool_fig([(T0, "eu-west-1", 1.0, 2.0)])
    lo, hi = fig.layout.xaxis.range
    assert hi - lo == timedelta(minutes=30)


def test_change_text_and_outcomes() -> None:
    assert change_text({"a": 1, "b": 2}, {"a": 1, "b": 3}) == "b: 2 -> 3"
    assert change_text("m6i.large", "m6i.xlarge") == "m6i.large -> m6i.xlarge"
    frame = pl.DataFrame(
        {
            "group_id": ["g", "g"],
            "ts": [T0, T0],
            "demand_gbps": [2.0, 1.0],
            "allocated_gbps": [1.0, 2.0],
        }
    )
    o = group_outcomes(frame)["g"]
    assert (o.intervals, o.congested, o.unmet_gb, o.peak_utilisation) == (2, 1, 37.5, 2.0)
