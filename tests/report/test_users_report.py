"""Issue 15, section 5: the report's user-group page draws each group's profile and request-rate
forecast and prints the very numbers ``GET /users/groups`` and ``GET /metrics/users/{id}``
serve from the same state."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reconciler.api import create_app, issue_token
from reconciler.clock import SimulatedClock
from reconciler.report import ReportData, render_html
from reconciler.report.users import hour_shape, number
from reconciler.state import StateStore
from reconciler.users.recorded import user_group_views
from tests.api.test_users_api import AT, A, B, seed_users


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[StateStore]:
    store = StateStore.open(f"sqlite:///{tmp_path / 'users.db'}")
    seed_users(store)
    yield store
    store.close()


@pytest.fixture
def page(seeded: StateStore) -> str:
    data = ReportData(title="users", users=user_group_views(seeded))
    return render_html(data)


@pytest.fixture
def api(seeded: StateStore) -> Iterator[tuple[TestClient, dict[str, str]]]:
    _, token = issue_token(seeded, name="r", scope="read", at=AT)
    with TestClient(create_app(seeded, clock=SimulatedClock(AT))) as c:
        yield c, {"Authorization": f"Bearer {token}"}


def _section(text: str, gid: str) -> str:
    part = text[text.index(f"id='user-group-{gid}'") :]
    return part[: part.index("</section>")]


def _figures(text: str) -> dict[str, tuple[list[dict[str, Any]], dict[str, Any]]]:
    """Each figure's traces and layout by its div id."""
    found = re.finditer(
        r'Plotly\.newPlot\(\s*"([^"]+)",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{"displaylogo"', text, re.S
    )
    return {m.group(1): (json.loads(m.group(2)), json.loads(m.group(3))) for m in found}


def _row(*cells: Any) -> str:
    return "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"


def test_each_user_group_has_its_profile_and_forecast_figures(page: str) -> None:
    layouts = {k: layout for k, (_, layout) in _figures(page).items()}
    assert set(layouts) == {
        f"plot-ug-{i}-{kind}" for i in (0, 1) for kind in ("profile", "requests")
    }
    for layout in layouts.values():
        assert layout["xaxis"]["title"]["text"] and layout["yaxis"]["title"]["text"]
    assert layouts["plot-ug-0-profile"]["yaxis"]["title"]["text"] == "share of requests (%)"
    assert layouts["plot-ug-0-requests"]["yaxis"]["title"]["text"] == "request rate (req/s)"
    for gid in (A, B):
        section = _section(page, gid)
        assert section.count("<noscript><img") == 2  # a still for each figure
    assert "<a href='#user-groups'>User groups</a>" in page
    assert "enterprise (ug-3fa1c2)" in page


def test_forecast_bands_are_the_recorded_quantiles(page: str) -> None:
    traces, _ = _figures(page)["plot-ug-0-requests"]
    named = {t.get("name"): t["y"] for t in traces if t.get("name")}
    assert named["us-east-1 p50"][0] == 100.0
    assert named["us-east-1 p50-p90 band"][0] == 120.5
    assert named["eu-west-1 p50-p99 band"][0] == 41.0


def test_the_page_prints_the_numbers_the_api_serves(
    page: str, api: tuple[TestClient, dict[str, str]]
) -> None:
    client, headers = api
    listed = {g["id"]: g for g in client.get("/users/groups", headers=headers).json()}
    summary = page[page.index("id='user-groups'") : page.index("id='user-group-")]
    for gid in (A, B):
        assert f"<td>{number(listed[gid]['requests_per_s_p90'])}</td>" in summary
        body = client.get(f"/metrics/users/{gid}", headers=headers).json()
        section = _section(page, gid)
        for s in body["series"]:
            first: dict[str, dict[str, float]] = {}
            for f in s["forecasts"]:
                first.setdefault(f["metric"], f["quantiles"])
            for metric, q in first.items():
                unit = {"requests_per_s": "req/s", "bytes_out_gbps": "Gbps"}.get(metric, "ms")
                cells = [number(q[k]) for k in ("0.5", "0.9", "0.99")]
                assert _row(s["client_region"], metric, unit, *cells) in section
            for a in s["accuracy"]:
                row = _row(
                    s["client_region"],
                    a["metric"],
                    a["points"],
                    number(a["mean_absolute_error"]),
                    f"{a['interval_coverage']:.0%}",
                    f"{a['p90_coverage']:.0%}",
                    number(a["p90_pinball"]),
                )
                assert row in section
        pre = body["pre_allocation"]
        for m in pre["metrics"] if pre else []:
            need = body["predicted_need"].get(m["metric"])
            row = _row(m["metric"], number(need), number(m["need"]), number(m["allocated"]))
            assert row in section
    a_section = _section(page, A)
    assert _row("cpu_vcpu", "1.2", "1.2", "1.5") in a_section
    assert _row("eu-west-1", "us-east-1", "84") in a_section
    assert _row("web", "80%", "0.8") in a_section
    assert _row("mean_object_kb", "41") in a_section
    assert "No pre-allocation in force." in _section(page, B)


def test_hour_shape_fills_unrecorded_hours_and_needs_one() -> None:
    shape = hour_shape({"hour_share_09": 0.25, "hour_share_23": 0.75, "mean_object_kb": 3.0})
    assert shape is not None and len(shape) == 24
    assert (shape[9], shape[23], sum(shape)) == (0.25, 0.75, 1.0)
    assert hour_shape({"mean_object_kb": 3.0}) is None


def test_a_report_without_user_groups_has_no_user_group_page(seeded: StateStore) -> None:
    assert "user-group" not in render_html(ReportData(title="none"))
