"""Issue 12, finding 8: the shipped Grafana dashboard and Prometheus alert rules query only
metrics that ``/metrics`` really exports (scraped after two real cycles)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from reconciler.api import create_app
from reconciler.clock import SimulatedClock
from reconciler.state import StateStore
from tests.api.cycled import CYCLED_AT, cycled_db_fixture, cycled_store_fixture  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docs" / "grafana" / "headroom.json"
ALERTS = ROOT / "docs" / "prometheus" / "alerts.yml"

#: PromQL words that are not metric names
_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "inf", "nan",
}  # fmt: skip
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w$.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (label matchers, ranges, grouping labels,
    functions, keywords, numbers and Grafana variables left out)."""
    text = _STRINGS.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = _GROUPING.sub("", text)
    text = re.sub(r"\$\w+", "", text)
    return {m for m in _IDENT.findall(text) if m.lower() not in _KEYWORDS}


def test_metric_names_parser() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, route) (rate(headroom_x_bucket{route=~"/a"}'
        "[$__rate_interval]))) > on (route) group_left headroom_y offset 5m"
    )
    assert metric_names(expr) == {"headroom_x_bucket", "headroom_y"}
    assert metric_names("time() - headroom_z > 3600") == {"headroom_z"}


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))


def dashboard_queries() -> list[tuple[str, str]]:
    doc = json.loads(DASHBOARD.read_text())
    out = [
        (f"panel {p.get('title')!r}", t["expr"])
        for p in _panels(doc["panels"])
        for t in p.get("targets", [])
    ]
    for var in doc.get("templating", {}).get("list", []):
        query = var.get("query")
        text = query.get("query") if isinstance(query, dict) else query
        if isinstance(text, str):
            inner = re.fullmatch(r"label_values\((.+?)(?:,\s*\w+)?\)", text.strip())
            out.append((f"variable {var['name']!r}", inner.group(1) if inner else text))
    return out


def alert_queries() -> list[tuple[str, str]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [
        (f"rule {r.get('alert') or r.get('record')!r}", str(r["expr"]))
        for g in doc["groups"]
        for r in g["rules"]
    ]


@pytest.fixture
def exported(cycled_store: StateStore) -> set[str]:
    """Every sample name ``/metrics`` serves after two cycles and a few requests."""
    with TestClient(create_app(cycled_store, clock=SimulatedClock(CYCLED_AT))) as client:
        client.get("/healthz")
        text = client.get("/metrics").text
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def test_dashboard_is_importable() -> None:
    doc = json.loads(DASHBOARD.read_text())
    assert doc["title"] and doc["uid"] and isinstance(doc["schemaVersion"], int)
    assert [i["pluginId"] for i in doc["__inputs"]] == ["prometheus"]
    ids = [p["id"] for p in _panels(doc["panels"])]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for p in _panels(doc["panels"]):
        assert set(p["gridPos"]) == {"h", "w", "x", "y"}, p["title"]
        if p["type"] != "row":
            assert p["targets"], p["title"]


def test_alert_rules_are_well_formed() -> None:
    doc = yaml.safe_load(ALERTS.read_text())
    names = set()
    for g in doc["groups"]:
        assert g["name"] and g["rules"]
        for r in g["rules"]:
            assert r["alert"] not in names
            names.add(r["alert"])
            assert r["expr"] and r["labels"]["severity"] in {"critical", "warning", "info"}
            assert r["annotations"]["summary"] and r["annotations"]["description"]
    for wanted in ("HeadroomCycleStale", "HeadroomStepFailing", "HeadroomForecastMisses"):
        assert wanted in names


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_queries_use_only_exported_metrics(source: str, exported: set[str]) -> None:
    queries = dashboard_queries() if source == "dashboard" else alert_queries()
    assert queries
    used: set[str] = set()
    for where, expr in queries:
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        missing = names - exported
        assert not missing, f"{where}: {sorted(missing)} not exported (query {expr!r})"
        used |= names
    assert all(n.startswith("headroom_") for n in used)
