from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from reconciler.remediation.types import Action, ActionKind
from reconciler.report import ReportData, compare_with_reactive, reactive_capacity, write_report
from reconciler.steps.types import Allocation, CommandView, Group, GroupSet, PoolAllocation
from tests.cycle.fakes import T0


def test_reactive_capacity_scales_out_after_three_points_and_a_delay() -> None:
    demand = [1.0, 1.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    cap = reactive_capacity(demand, target=0.5, out_points=3, in_points=15, delay=1)
    assert cap[:5] == [2.0, 2.0, 2.0, 2.0, 2.0]  # three points over target, then the delay
    assert cap[5] == pytest.approx(6.0)  # mean use 1.5 of 2 at a 0.5 target
    with pytest.raises(ValueError, match="target utilisation must be in"):
        reactive_capacity([1.0], target=0)


def test_comparison_counts_congestion_for_both_policies() -> None:
    ts = [T0 + timedelta(minutes=5 * i) for i in range(4)]
    frame = pl.DataFrame(
        {
            "group_id": ["g"] * 4,
            "ts": ts,
            "demand_gbps": [1.0, 1.0, 3.0, 3.0],
            "allocated_gbps": [3.5] * 4,
        }
    )
    c = compare_with_reactive(frame, target=1.0, delay=1)
    assert (c.intervals, c.headroom_congested, c.reactive_congested) == (4, 0, 2)
    assert c.avoided == 2
    assert c.reactive_unmet_gb == pytest.approx(2 * 2.0 * 300 / 8)
    with pytest.raises(ValueError, match="lacks columns"):
        compare_with_reactive(frame.drop("allocated_gbps"))


def test_reactive_capacity_decides_only_at_cycles_and_stops_at_the_ceiling() -> None:
    demand = [1.0, 1.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    every = reactive_capacity(demand, target=0.5, delay=1)
    cycles = reactive_capacity(demand, target=0.5, delay=1, decisions={5})
    assert every[5] == pytest.approx(6.0)
    assert cycles[:6] == [2.0] * 6  # no decision before index 5 is complete
    assert cycles[6] == pytest.approx(6.0)
    capped = reactive_capacity(demand, target=0.5, delay=1, decisions={5}, ceiling=4.0)
    assert capped[6] == pytest.approx(4.0)


def test_comparison_on_cycle_terms_counts_the_surprise_window_apart() -> None:
    ts = [T0 + timedelta(minutes=5 * i) for i in range(12)]
    demand = [1.0] * 6 + [3.0] * 6
    frame = pl.DataFrame(
        {
            "group_id": ["g"] * 12,
            "ts": ts,
            "demand_gbps": demand,
            "allocated_gbps": [1.2] * 9 + [3.5] * 3,  # the cycle at ts[9] saw the jump
        }
    )
    c = compare_with_reactive(
        frame, target=0.5, decide_at=[ts[0], ts[9]], ceiling_gbps=5.0, surprise=(ts[6], ts[9])
    )
    assert (c.headroom_congested, c.headroom_surprise) == (3, 3)
    assert (c.reactive_congested, c.reactive_surprise) == (3, 3)  # 2.0 until ts[9], then 5.0


def test_report_embeds_every_plot(tmp_path: Path) -> None:
    groups = GroupSet(
        (Group("g1", "application", ("a", "b"), "eu"), Group("s", "shared", ("dns",), "eu"))
    )
    edges = pl.DataFrame({"src": ["a", "b", "a"], "dst": ["b", "dns", "x"], "bytes": [10, 5, 1]})
    ts = [T0 + timedelta(minutes=5 * i) for i in range(6)]
    fc = pl.DataFrame(
        {"group_id": ["g1"] * 6, "ts": ts, "p50": [1.0] * 6, "p90": [1.2] * 6, "p99": [1.5] * 6}
    )
    actual = pl.DataFrame({"group_id": ["g1"] * 6, "ts": ts, "y": [1.1] * 6})
    allocs = [
        Allocation(
            T0 + timedelta(minutes=15 * i),
            {"g1": 1.5},
            (PoolAllocation("eu", "global", 10, 1.5 + i),),
        )
        for i in range(3)
    ]
    frame = pl.DataFrame(
        {"group_id": ["g1"] * 6, "ts": ts, "demand_gbps": [1.0] * 6, "allocated_gbps": [1.5] * 6}
    )
    data = ReportData(
        title="demo <run>",
        groups=groups,
        edges=edges,
        forecasts=fc,
        actual=actual,
        allocations=allocs,
        commands=[CommandView("resize", "i-1", "m6i.large", "m6i.xlarge", "p90 1.2 Gbps")],
        actions=[Action(ActionKind.BORROW, "g1", "utilisation", "eu", 1.0, 1.5)],
        comparison=compare_with_reactive(frame),
    )
    out = write_report(data, tmp_path / "r" / "report.html")
    text = out.read_text()
    assert text.count("data:image/png;base64,") == 4  # graph, forecast, pools, comparison
    assert "demo &lt;run&gt;" in text
    assert "m6i.xlarge" in text and "borrow" in text
