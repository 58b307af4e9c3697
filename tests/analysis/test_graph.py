from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from reconciler.analysis import AnalysisConfig, build_traffic_graph
from tests.analysis.conftest import NOW, edges, resource


def test_decay_halves_weight_per_half_life() -> None:
    cfg = AnalysisConfig(half_life=timedelta(hours=1), lookback=timedelta(hours=6))
    frame = pl.concat(
        [
            edges([("a", "b", 1000)], age=timedelta(0) + timedelta(hours=1)),
            edges([("a", "b", 1000)], age=timedelta(hours=2)),
        ]
    )
    g = build_traffic_graph(frame, [resource("a"), resource("b")], now=NOW, config=cfg)
    assert g.edges.height == 1
    assert g.edges["weight"][0] == pytest.approx(500 + 250)


def test_rows_outside_lookback_are_counted_not_used() -> None:
    cfg = AnalysisConfig(lookback=timedelta(hours=1))
    frame = pl.concat([edges([("a", "b", 10)]), edges([("a", "b", 10)], age=timedelta(hours=3))])
    g = build_traffic_graph(frame, [], now=NOW, config=cfg)
    assert g.rows_in_window == 1
    assert g.rows_outside_lookback == 1


def test_bad_rows_are_set_aside_with_reason() -> None:
    frame = pl.concat(
        [
            edges([("a", "a", 10), ("a", "b", -1), ("a", "b", 5)]),
            edges([("a", "b", 7)], age=-timedelta(minutes=10)),
        ]
    )
    g = build_traffic_graph(frame, [resource("a"), resource("b")], now=NOW, config=AnalysisConfig())
    reasons = sorted(g.set_aside["reason"].to_list())
    assert reasons == [
        "negative or null counter",
        "self-loop: src == dst",
        "window_start is not before now",
    ]
    assert g.edges["bytes"].to_list() == [pytest.approx(5 * 0.5 ** (5 / 60))]


def test_idle_unknown_and_external_nodes_are_listed() -> None:
    frame = edges([("a", "ghost", 10), ("a", "external:internet", 10)])
    g = build_traffic_graph(
        frame, [resource("a"), resource("quiet")], now=NOW, config=AnalysisConfig()
    )
    assert g.idle == ("quiet",)
    assert g.unknown == ("ghost",)
    assert g.external == ("external:internet",)


def test_missing_columns_and_naive_times_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"missing column\(s\) \['flows'\]"):
        build_traffic_graph(
            edges([("a", "b", 1)]).drop("flows"), [], now=NOW, config=AnalysisConfig()
        )
    naive = edges([("a", "b", 1)]).with_columns(pl.col("window_start").dt.replace_time_zone(None))
    with pytest.raises(ValueError, match="timezone-aware"):
        build_traffic_graph(naive, [], now=NOW, config=AnalysisConfig())


def test_config_refuses_key_both_hard_and_soft() -> None:
    with pytest.raises(ValueError, match="both hard and soft"):
        AnalysisConfig(hard_tag_keys=("app",), soft_tag_keys=("app",))
