from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import polars as pl

from reconciler.analysis import AnalysisConfig
from reconciler.analysis.anomalies import (
    group_traffic,
    membership_anomalies,
    traffic_anomalies,
)
from tests.analysis.conftest import edges

T0 = datetime(2026, 2, 1, tzinfo=UTC)
CFG = AnalysisConfig()


def seasonal(days: int, spike_at: int | None = None, drop_from: int | None = None) -> pl.DataFrame:
    """Two groups, hourly points with a strong daily cycle; optional spike / silence in 'web'."""
    rows = []
    for h in range(days * 24):
        ts = T0 + timedelta(hours=h)
        base = 1e6 * (2 + math.sin(2 * math.pi * (h % 24) / 24)) * (1 + 0.02 * ((h * 7) % 5))
        web = base * (6 if h == spike_at else 1)
        if drop_from is None or h < drop_from:
            rows.append(("web", ts, web))
        rows.append(("batch", ts, base / 2))
    return pl.DataFrame(
        rows, schema=["group_id", "window_start", "bytes"], orient="row"
    ).with_columns(pl.col("window_start").dt.replace_time_zone("UTC"))


def test_spike_is_found_and_daily_peaks_are_not() -> None:
    since = T0 + timedelta(days=6)
    series = seasonal(7, spike_at=6 * 24 + 9)
    events = traffic_anomalies(series, since=since, config=CFG)
    assert [(e.group_id, e.at, e.kind) for e in events] == [
        ("web", T0 + timedelta(days=6, hours=9), "traffic_high")
    ]
    assert events[0].score > CFG.anomaly_zscore
    assert "same time of day" in events[0].reason


def test_a_group_going_silent_is_a_low_anomaly() -> None:
    since = T0 + timedelta(days=6)
    events = traffic_anomalies(seasonal(7, drop_from=6 * 24 + 20), since=since, config=CFG)
    lows = [e for e in events if e.kind == "traffic_low"]
    assert {e.group_id for e in lows} == {"web"}
    assert len(lows) == 4 and all(e.value == 0 for e in lows)


def test_short_history_falls_back_to_overall_median_and_says_so() -> None:
    series = seasonal(1, spike_at=23)
    events = traffic_anomalies(series, since=T0 + timedelta(hours=23), config=CFG)
    assert [e.group_id for e in events] == ["web"]
    assert "overall median" in events[0].reason


def test_empty_series_gives_no_events() -> None:
    empty = seasonal(1).clear()
    assert traffic_anomalies(empty, since=T0, config=CFG) == []


def test_group_traffic_counts_internal_traffic_once() -> None:
    frame = edges([("a", "b", 100), ("a", "x", 10), ("y", "b", 1), ("x", "y", 1000)])
    out = group_traffic(frame, {"a": "g", "b": "g"})
    assert out["group_id"].to_list() == ["g"]
    assert out["bytes"].to_list() == [111.0]


def test_membership_change_share() -> None:
    prev = {"g1": ["a", "b", "c", "d"], "g2": ["x", "y"]}
    curr = {"g1": ["a", "b", "c", "d", "e"], "g2": ["x", "z"]}
    events = membership_anomalies(prev, curr, at=T0, config=CFG)
    assert [(e.group_id, round(e.score, 2)) for e in events] == [("g2", 0.67)]
    assert "1 joined, 1 left" in events[0].reason
