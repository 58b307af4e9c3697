from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies.schema import Pools, RegionPool
from reconciler.allocation import (
    GLOBAL_POOL,
    AllocationResult,
    CutReason,
    GroupDemand,
    OverrideRefused,
    allocate,
    apply_override,
    demand_for,
    quantile_at,
)
from reconciler.steps.allocate import BANDWIDTH_METRIC, corrected_result, run_allocate
from reconciler.steps.types import ForecastSet, Group, GroupSet

TOL = 1e-6


def pools(global_gbps: float, **regions: tuple[float, float]) -> Pools:
    return Pools(
        global_gbps=global_gbps,
        regions={
            r: RegionPool(capacity_gbps=c, guaranteed_gbps=g) for r, (c, g) in regions.items()
        },
    )


def gd(gid, region="a", demand=1.0, guarantee=0.0, ceiling=None, priority=1, weight=1.0):
    return GroupDemand(
        group_id=gid,
        region=region,
        demand_gbps=demand,
        guarantee_gbps=guarantee,
        ceiling_gbps=ceiling,
        priority=priority,
        weight=weight,
    )


def test_everyone_fits():
    res = allocate(pools(10, a=(10, 5)), [gd("x", demand=2), gd("y", demand=3)])
    got = {a.group_id: a.allocated_gbps for a in res.allocations}
    assert got == pytest.approx({"x": 2, "y": 3})
    assert all(a.cut_reason is None for a in res.allocations)
    assert res.pool("a").lent_gbps == pytest.approx(0) and res.pool("a").borrowed_gbps == 0


def test_weighted_max_min_and_priority():
    # region 10: p0 group takes what it needs first, the rest is split 3:1 among p1 groups
    res = allocate(
        pools(10, a=(10, 10)),
        [
            gd("hi", demand=4, priority=0),
            gd("w3", demand=100, weight=3),
            gd("w1", demand=100, weight=1),
            gd("small", demand=0.5, weight=1),
        ],
    ).by_group()
    assert res["hi"].allocated_gbps == pytest.approx(4)
    assert res["small"].allocated_gbps == pytest.approx(0.5)
    assert res["w3"].allocated_gbps == pytest.approx(5.5 * 0.75)
    assert res["w1"].allocated_gbps == pytest.approx(5.5 * 0.25)
    assert CutReason.REGION in (res["w1"].cut_reason or "")


def test_guarantee_beats_priority_and_ceiling_caps():
    res = allocate(
        pools(10, a=(10, 0)),
        [gd("hog", demand=20, priority=0, ceiling=8), gd("low", demand=5, priority=3, guarantee=3)],
    ).by_group()
    assert res["low"].guaranteed_gbps == pytest.approx(3)
    assert res["hog"].allocated_gbps == pytest.approx(7)
    assert CutReason.CEILING in (res["hog"].cut_reason or "")
    assert res["hog"].cut_gbps == pytest.approx(13)


def test_borrowing_from_global_htb():
    # region a has rate 4 and ceil 10; b is idle so a borrows its unused share from global
    res = allocate(pools(12, a=(10, 4), b=(8, 8)), [gd("x", "a", demand=9), gd("y", "b", demand=1)])
    by = res.by_group()
    assert by["x"].pool_share_gbps == pytest.approx(4)
    assert by["x"].borrowed_gbps == pytest.approx(5)
    assert res.pool("a").borrowed_gbps == pytest.approx(5)
    assert res.pool("b").lent_gbps == pytest.approx(7)
    assert res.pool(GLOBAL_POOL).allocated_gbps == pytest.approx(10)
    entry = res.ledger_for("x")
    assert entry is not None and "borrowed 5.000 Gbps from global" in entry.text


def test_global_oversubscription_explained():
    res = allocate(
        pools(6, a=(10, 3), b=(10, 3)), [gd("x", "a", demand=10), gd("y", "b", demand=2)]
    )
    by = res.by_group()
    assert by["y"].allocated_gbps == pytest.approx(2)
    assert by["x"].allocated_gbps == pytest.approx(4)
    assert CutReason.GLOBAL in (by["x"].cut_reason or "")
    assert "cut 6.000 Gbps" in res.ledger_for("x").text


def test_unknown_region_is_kept_with_reason_and_duplicates_refused():
    res = allocate(pools(5, a=(5, 5)), [gd("x", "mars", demand=1), gd("y", demand=2)])
    x = res.by_group()["x"]
    assert x.allocated_gbps == 0 and x.cut_gbps == pytest.approx(1)
    assert x.cut_reason == "no pool for region 'mars'"
    assert x.cut_by_reason == pytest.approx({CutReason.NO_POOL: 1.0})
    assert "no pool for region 'mars'" in res.ledger_for("x").text
    # counted: the global pool's ledger names it, and it takes nothing from the pools
    top = res.pool_ledger_for(GLOBAL_POOL)
    assert top is not None and "1 groups asking 1.000 Gbps have no regional pool" in top.text
    assert "x (mars)" in top.text
    assert res.pool(GLOBAL_POOL).allocated_gbps == pytest.approx(2)
    with pytest.raises(ValueError, match="repeat"):
        allocate(pools(5, a=(5, 5)), [gd("x"), gd("x")])


def test_override_fits_reclaims_and_refuses():
    base = allocate(
        pools(10, a=(10, 10)),
        [
            gd("gold", demand=2, priority=0, ceiling=9),
            gd("bulk", demand=20, priority=2, guarantee=1),
        ],
    )
    assert base.by_group()["bulk"].allocated_gbps == pytest.approx(8)
    out = apply_override(base, "gold", 6)
    by = out.by_group()
    assert by["gold"].allocated_gbps == pytest.approx(6)
    assert by["bulk"].allocated_gbps == pytest.approx(4)
    assert out.total_gbps <= 10 + TOL
    assert "operator override" in out.ledger_for("gold").text
    assert "gave back 4.000" in out.ledger_for("bulk").text
    with pytest.raises(OverrideRefused, match="above the class ceiling"):
        apply_override(base, "gold", 9.5)
    with pytest.raises(OverrideRefused) as info:
        apply_override(apply_override(base, "gold", 9), "bulk", 5)
    assert "can give back only" in info.value.reason
    with pytest.raises(OverrideRefused, match="no such group"):
        apply_override(base, "nope", 1)


def test_demand_from_policy_quantile_and_headroom():
    from policies.loader import load_policy

    policy = load_policy(Path(__file__).parents[2] / "policies" / "examples" / "default.yaml")
    d = demand_for(policy, "g1", "us-east-1", {"p50": 1.0, "p90": 2.0, "p99": 4.0}, "critical")
    assert d.quantile == 0.99
    assert d.demand_gbps == pytest.approx(4.0 * 1.15 + 0.1)
    assert d.guarantee_gbps == 5 and d.priority == 0
    assert d.quantile_basis == "class"
    assert quantile_at({0.5: 1.0, 0.9: 2.0}, 0.95) == 2.0  # flat above the top quantile
    assert quantile_at({0.5: 1.0, 0.9: 2.0}, 0.7) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="not like"):
        quantile_at({"median": 1.0}, 0.5)


# --- regressions of the audit's findings --------------------------------------------------


def test_guarantees_stay_within_their_regions_rate():
    # a's guarantees (10) are above a's rate (5): they must not eat b's rate
    demands = [gd("big", "a", demand=10, guarantee=10), gd("b0", "b", demand=5, priority=0)]
    res = allocate(pools(10, a=(10, 5), b=(10, 5)), demands)
    by = res.by_group()
    assert by["b0"].allocated_gbps == pytest.approx(5) and by["b0"].cut_reason is None
    assert by["big"].guaranteed_gbps == pytest.approx(5)
    assert by["big"].guarantee_borrowed_gbps == pytest.approx(0)
    assert by["big"].cut_by_reason == pytest.approx({CutReason.GLOBAL: 5})
    # with spare in the global pool the excess guarantee is borrowed, ahead of other borrowing
    res = allocate(pools(15, a=(10, 5), b=(10, 5)), [*demands, gd("bulk", "b", demand=10)])
    by = res.by_group()
    assert by["big"].guaranteed_gbps == pytest.approx(10)
    assert by["big"].guarantee_borrowed_gbps == pytest.approx(5)
    assert by["b0"].allocated_gbps == pytest.approx(5) and by["bulk"].allocated_gbps == 0
    assert "5.000 above a's rate, borrowed from global" in res.ledger_for("big").text
    assert res.pool("a").borrowed_gbps == pytest.approx(5)


def test_cut_by_higher_priority_share_is_attributed():
    # hi takes its share of a's rate (no borrowing): lo's cut is down to priority, not "pools full"
    res = allocate(pools(10, a=(10, 10)), [gd("hi", demand=8, priority=0), gd("lo", demand=5)])
    lo = res.by_group()["lo"]
    assert lo.allocated_gbps == pytest.approx(2)
    assert lo.cut_reason == CutReason.PRIORITY
    assert lo.cut_by_reason == pytest.approx({CutReason.PRIORITY: 3})
    assert "cut 3.000 Gbps: higher-priority groups took the capacity 3.000 Gbps" in (
        res.ledger_for("lo").text
    )


def test_cut_split_between_priority_and_pool():
    res = allocate(
        pools(10, a=(10, 10)),
        [gd("hi", demand=4, priority=0), gd("w3", demand=100, weight=3), gd("w1", demand=100)],
    ).by_group()
    # without hi's 4 Gbps w1 would get a quarter of 10 instead of a quarter of 6
    assert res["w1"].cut_by_reason == pytest.approx(
        {CutReason.PRIORITY: 1.0, CutReason.REGION: 100 - 2.5}
    )
    assert res["w1"].cut_reason == f"{CutReason.REGION}; {CutReason.PRIORITY}"


def test_other_regions_rate_is_not_a_priority_cut():
    # hi uses b's own rate, which x could never have had: x's cut is the global pool, not priority
    res = allocate(
        pools(10, a=(10, 5), b=(10, 5)), [gd("x", "a", demand=10), gd("hi", "b", 5, priority=0)]
    )
    assert res.by_group()["x"].cut_by_reason == pytest.approx({CutReason.GLOBAL: 5})
    # ... but what hi borrows from the global pool is
    res = allocate(
        pools(10, a=(10, 2), b=(10, 2)), [gd("x", "a", demand=10), gd("hi", "b", 10, priority=0)]
    )
    by = res.by_group()
    assert by["hi"].borrowed_gbps == pytest.approx(6)
    # x gets a's rate (2); had hi not borrowed 6 Gbps, x could have; b's rate (2) is b's
    assert by["x"].cut_by_reason == pytest.approx({CutReason.PRIORITY: 6, CutReason.GLOBAL: 2})


def test_pool_ledger_explains_every_pool():
    res = allocate(
        pools(12, a=(10, 4), b=(8, 8)), [gd("x", "a", demand=9, guarantee=1), gd("y", "b", 1)]
    )
    a = res.pool_ledger_for("a")
    assert a is not None
    assert (a.capacity_gbps, a.granted_gbps, a.spare_gbps) == pytest.approx((10, 9, 1))
    assert a.oversubscription_gbps == 0 and "not oversubscribed" in a.text
    assert "granted 9.000 Gbps = 1.000 guarantees + 3.000 pool shares + 5.000 borrowed" in a.text
    assert "borrowed 5.000 Gbps above its rate" in a.text
    top = res.pool_ledger_for(GLOBAL_POOL)
    assert top is not None and top.granted_gbps == pytest.approx(10)
    over = allocate(pools(6, a=(5, 3)), [gd("x", "a", demand=9)]).pool_ledger_for("a")
    assert over is not None and over.oversubscription_gbps == pytest.approx(4)
    assert "oversubscribed by 4.000 Gbps (demand is 1.80x capacity)" in over.text
    assert [e.pool for e in res.pool_ledger()] == [GLOBAL_POOL, "a", "b"]
    assert res.pool_ledger_for("nope") is None


def test_override_keeps_the_cut_breakdown():
    base = allocate(
        pools(10, a=(10, 10)),
        [gd("gold", demand=2, priority=0, ceiling=9), gd("bulk", demand=20, priority=2)],
    )
    out = apply_override(base, "gold", 6)
    bulk = out.by_group()["bulk"]
    assert bulk.cut_by_reason[CutReason.OVERRIDE] == pytest.approx(4)
    assert sum(bulk.cut_by_reason.values()) == pytest.approx(bulk.cut_gbps) == pytest.approx(16)
    assert CutReason.OVERRIDE in (bulk.cut_reason or "")
    low = apply_override(base, "bulk", 3).by_group()["bulk"]
    assert low.cut_by_reason == pytest.approx({CutReason.OVERRIDE: 17})
    assert "adjusted by" in apply_override(base, "bulk", 3).pool_ledger_for("a").text


T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _forecasts(peaks: dict[str, float]) -> ForecastSet:
    rows = [(g, v) for g, v in peaks.items() for _ in range(3)]
    return ForecastSet(
        pl.DataFrame(
            {
                "group_id": [g for g, _ in rows],
                "metric": [BANDWIDTH_METRIC] * len(rows),
                "ts": [T0 + timedelta(minutes=5 * i) for i in range(len(rows))],
                "p50": [v / 2 for _, v in rows],
                "p90": [v for _, v in rows],
                "p99": [v * 2 for _, v in rows],
            }
        )
    )


def test_run_allocate_explains_groups_without_a_pool():
    from policies.loader import load_policy

    policy = load_policy(Path(__file__).parents[2] / "policies" / "examples" / "default.yaml")
    groups = GroupSet(
        (
            Group("g1", "application", ("i-1",), "us-east-1"),
            Group("g2", "application", ("i-2",), "mars"),
            Group("g3", "application", ("i-3",), "us-east-1"),  # no forecast: nothing to divide
        )
    )
    view = run_allocate(policy, groups, _forecasts({"g1": 2.0, "g2": 3.0}), T0)
    assert set(view.groups) == {"g1", "g2"}
    assert view.groups["g2"] == 0 and view.pool_of_group["g2"] == "mars"
    assert any("no pool for region 'mars'" in step for step in view.ledger["g2"])
    raw = view.result
    assert isinstance(raw, AllocationResult)
    g2 = raw.by_group()["g2"]
    assert g2.cut_reason == "no pool for region 'mars'"
    assert g2.cut_by_reason == pytest.approx({CutReason.NO_POOL: g2.demand_gbps})
    top = raw.pool_ledger_for(GLOBAL_POOL)
    assert top is not None and "g2 (mars)" in top.text
    # a remediation adjustment keeps the breakdown summing to the cut
    fixed = corrected_result(replace(view, groups={**view.groups, "g1": 1.0}))
    assert fixed is not None
    g1 = fixed.by_group()["g1"]
    assert g1.cut_gbps == pytest.approx(g1.demand_gbps - 1.0)
    assert g1.cut_by_reason == pytest.approx({CutReason.REMEDIATION: g1.cut_gbps})
    assert sum(g1.cut_by_reason.values()) == pytest.approx(g1.cut_gbps)


# --- ledger checks ----------------------------------------------------------------------

_NUM = r"(-?[0-9]+\.[0-9]{3})"
ROUND = 2e-3  # the ledger prints three decimals; sums of three rounded figures


def _grab(steps: list[str], pattern: str) -> tuple[float, ...]:
    found = [m for s in steps if (m := re.fullmatch(pattern, s))]
    assert len(found) == 1, (pattern, steps)
    return tuple(0.0 if x is None else float(x) for x in found[0].groups())


def assert_ledger_explains(res: AllocationResult, d: GroupDemand) -> None:
    """The group's ledger lines carry its grant: each phase, the sum, the cut and its reasons."""
    a = res.by_group()[d.group_id]
    entry = res.ledger_for(d.group_id)
    assert entry is not None and entry.pool == d.region
    steps = entry.steps
    assert steps[0].startswith(f"demand {d.demand_gbps:.3f} Gbps")
    assert (d.ceiling_gbps is not None) == any(s.startswith("class ceiling") for s in steps)
    g, of, above_rate = _grab(
        steps,
        rf"guarantee {_NUM} of {_NUM} Gbps"
        rf"(?: \({_NUM} above {d.region}'s rate, borrowed from {GLOBAL_POOL}\))?",
    )
    assert above_rate == pytest.approx(a.guarantee_borrowed_gbps, abs=ROUND)
    (share,) = _grab(steps, rf"{d.region} pool share {_NUM} Gbps")
    (borrowed,) = _grab(steps, rf"borrowed {_NUM} Gbps from {GLOBAL_POOL}")
    total, g2, share2, borrowed2 = _grab(
        steps, rf"allocated {_NUM} Gbps = {_NUM} guarantee \+ {_NUM} pool share \+ {_NUM} borrowed"
    )
    assert (g, share, borrowed) == (g2, share2, borrowed2)
    assert of == pytest.approx(d.guarantee_gbps, abs=ROUND)
    assert (g, share, borrowed) == pytest.approx(
        (a.guaranteed_gbps, a.pool_share_gbps, a.borrowed_gbps), abs=ROUND
    )
    assert total == pytest.approx(g + share + borrowed, abs=ROUND)
    assert total == pytest.approx(a.allocated_gbps, abs=ROUND)
    cuts = [s for s in steps if s.startswith("cut ")]
    if a.cut_reason is None:
        assert not cuts and a.cut_gbps == 0 and not a.cut_by_reason
        return
    assert len(cuts) == 1
    head, _, body = cuts[0].partition(": ")
    cut = float(head.split()[1])
    parts = {m[1]: float(m[2]) for m in re.finditer(rf"([a-z' -]+?) {_NUM} Gbps(?:; |$)", body)}
    assert cut == pytest.approx(d.demand_gbps - a.allocated_gbps, abs=ROUND)
    assert cut == pytest.approx(sum(parts.values()), abs=ROUND * len(parts))
    assert parts == pytest.approx(a.cut_by_reason, abs=ROUND)
    assert sum(a.cut_by_reason.values()) == pytest.approx(a.cut_gbps, abs=1e-6)
    assert set(a.cut_reason.split("; ")) == {r for r, v in a.cut_by_reason.items() if v > TOL}
    ceiling_cut = 0.0 if d.ceiling_gbps is None else max(0.0, d.demand_gbps - d.ceiling_gbps)
    assert a.cut_by_reason.get(CutReason.CEILING, 0.0) == pytest.approx(ceiling_cut, abs=1e-6)


def assert_pool_ledger_explains(res: AllocationResult) -> None:
    """Every pool has a ledger entry whose figures match the pool and the groups in it."""
    entries = {e.pool: e for e in res.pool_ledger()}
    assert set(entries) == {p.name for p in res.pools}
    for p in res.pools:
        e = entries[p.name]
        inside = [a for a in res.allocations if p.parent is None or a.region == p.name]
        assert e.granted_gbps == pytest.approx(p.allocated_gbps)
        assert e.granted_gbps == pytest.approx(sum(a.allocated_gbps for a in inside), abs=1e-6)
        assert e.spare_gbps == pytest.approx(max(0.0, p.capacity_gbps - p.allocated_gbps))
        assert e.oversubscription_gbps == pytest.approx(max(0.0, p.demand_gbps - p.capacity_gbps))
        granted, gs, shares, borrowed = _grab(
            e.steps,
            rf"granted {_NUM} Gbps = {_NUM} guarantees \+ {_NUM} pool shares \+ {_NUM} borrowed",
        )
        assert granted == pytest.approx(gs + shares + borrowed, abs=ROUND)
        assert granted == pytest.approx(p.allocated_gbps, abs=ROUND)


# --- properties -------------------------------------------------------------------------

regions_st = st.dictionaries(
    st.sampled_from(["a", "b", "c"]),
    st.tuples(st.floats(0.5, 50), st.floats(0, 1)),
    min_size=1,
    max_size=3,
)


@st.composite
def scenario(draw):
    regs = draw(regions_st)
    pool = Pools(
        global_gbps=draw(st.floats(0.5, 120)),
        regions={
            r: RegionPool(capacity_gbps=c, guaranteed_gbps=c * f) for r, (c, f) in regs.items()
        },
    )
    n = draw(st.integers(1, 8))
    demands = []
    for i in range(n):
        guarantee = draw(st.floats(0, 5))
        ceiling = draw(st.one_of(st.none(), st.floats(guarantee, guarantee + 30)))
        demands.append(
            GroupDemand(
                group_id=f"g{i}",
                region=draw(st.sampled_from(sorted(regs))),
                demand_gbps=draw(st.floats(0, 40)),
                guarantee_gbps=guarantee,
                ceiling_gbps=ceiling,
                priority=draw(st.integers(0, 3)),
                weight=draw(st.floats(0.1, 5)),
            )
        )
    return pool, demands


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenario())
def test_conservation_and_ceilings(case):
    pool, demands = case
    res = allocate(pool, demands)
    by = res.by_group()
    assert res.total_gbps <= pool.global_gbps + TOL
    for region, rp in pool.regions.items():
        used = sum(a.allocated_gbps for a in res.allocations if a.region == region)
        assert used <= rp.capacity_gbps + TOL
        assert res.pool(region).allocated_gbps == pytest.approx(used, abs=TOL)
    assert res.pool(GLOBAL_POOL).allocated_gbps == pytest.approx(res.total_gbps, abs=TOL)
    for d in demands:
        a = by[d.group_id]
        assert -TOL <= a.allocated_gbps <= d.capped_demand + TOL
        parts = a.guaranteed_gbps + a.pool_share_gbps + a.borrowed_gbps
        assert parts == pytest.approx(a.allocated_gbps, abs=TOL)
        assert a.cut_gbps == pytest.approx(max(0.0, d.demand_gbps - a.allocated_gbps), abs=1e-5)
        # work conserving: an unsatisfied group means its region or the global pool is full
        if a.allocated_gbps < d.capped_demand - 1e-5:
            region_full = (
                res.pool(d.region).allocated_gbps >= pool.regions[d.region].capacity_gbps - 1e-5
            )
            global_full = res.total_gbps >= pool.global_gbps - 1e-5
            assert region_full or global_full
        assert_ledger_explains(res, d)
    assert_pool_ledger_explains(res)


def _need_by_region(
    pool: Pools, demands: list[GroupDemand]
) -> tuple[dict[str, float], dict[str, float]]:
    """Per region: the guarantees its groups can use, and all they can use (capped demand)."""
    need = dict.fromkeys(pool.regions, 0.0)
    asked = dict.fromkeys(pool.regions, 0.0)
    for d in demands:
        need[d.region] += min(d.guarantee_gbps, d.capped_demand)
        asked[d.region] += d.capped_demand
    return need, asked


@SETTINGS
@given(scenario())
def test_guarantees_when_feasible(case):
    """Guarantees hold when each region's guarantees fit its ceil and the global pool can carry,
    per region, the larger of its guarantees and the part of its rate in use (a rate is kept for
    its own region, so guarantees above a region's rate come only out of what the rates leave)."""
    pool, demands = case
    need, asked = _need_by_region(pool, demands)
    in_use = {r: min(p.guaranteed_gbps, asked[r]) for r, p in pool.regions.items()}
    feasible = sum(max(need[r], in_use[r]) for r in pool.regions) <= pool.global_gbps - TOL
    feasible = feasible and all(need[r] <= p.capacity_gbps - TOL for r, p in pool.regions.items())
    if not feasible:
        return
    by = allocate(pool, demands).by_group()
    for d in demands:
        assert by[d.group_id].guaranteed_gbps >= min(d.guarantee_gbps, d.capped_demand) - TOL


@SETTINGS
@given(scenario())
def test_region_rate_protected(case):
    """When the regional rates fit the global pool, every region gets its rate (or all it asks)."""
    pool, demands = case
    if sum(p.guaranteed_gbps for p in pool.regions.values()) > pool.global_gbps:
        return
    res = allocate(pool, demands)
    _, asked = _need_by_region(pool, demands)
    for r, p in pool.regions.items():
        assert res.pool(r).allocated_gbps >= min(p.guaranteed_gbps, asked[r]) - TOL


@SETTINGS
@given(scenario())
def test_priority_order(case):
    """A lower-priority group gets no demand-phase capacity (pool share or borrowing) while a
    higher-priority group of the same region is below its demand and ceiling, and borrows nothing
    anywhere while a higher-priority group is held back only by the global pool."""
    pool, demands = case
    res = allocate(pool, demands)
    by = res.by_group()
    for hi in demands:
        if by[hi.group_id].allocated_gbps >= hi.capped_demand - 1e-5:
            continue
        region_has_room = res.pool(hi.region).free_gbps > 1e-5
        for lo in demands:
            if lo.priority <= hi.priority:
                continue
            a = by[lo.group_id]
            if lo.region == hi.region:
                assert a.pool_share_gbps + a.borrowed_gbps <= TOL, (hi.group_id, lo.group_id)
            if region_has_room:
                assert a.borrowed_gbps <= TOL, (hi.group_id, lo.group_id)


@SETTINGS
@given(scenario())
def test_weighted_fairness(case):
    """Weighted max-min above the guarantees. Among same-priority groups of a region no group gets
    more (pool share + borrowed) per unit of weight than one left unmet, so unmet groups get shares
    in proportion to their weights and those with less stopped at their demand or ceiling. Unmet
    same-priority groups held back by the global pool borrowed in proportion to their weights."""
    pool, demands = case
    res = allocate(pool, demands)
    by = res.by_group()

    def per_weight(d: GroupDemand) -> float:
        a = by[d.group_id]
        return (a.pool_share_gbps + a.borrowed_gbps) / d.weight

    unmet = [d for d in demands if by[d.group_id].allocated_gbps < d.capped_demand - 1e-5]
    for i in unmet:
        for j in demands:
            if j.priority == i.priority and j.region == i.region:
                assert per_weight(j) <= per_weight(i) + 1e-5, (i.group_id, j.group_id)
    held_by_global = [d for d in unmet if res.pool(d.region).free_gbps > 1e-5]
    for i in held_by_global:
        for k in held_by_global:
            if k.priority == i.priority:
                assert by[k.group_id].borrowed_gbps / k.weight == pytest.approx(
                    by[i.group_id].borrowed_gbps / i.weight, abs=1e-5
                )


@SETTINGS
@given(scenario(), st.floats(1.0, 3.0), st.integers(0, 2))
def test_monotone_in_capacity(case, factor, which):
    """More capacity leaves no group worse off unless a rival shares the capacity it gained:

    * a larger global pool: every group gets at least as much as before;
    * a larger ceil for one region: every group of that region gets at least as much and the
      total does not drop. Groups of *other* regions can lose (the grown region now borrows more
      of the global pool they share, see ``test_region_growth_can_cost_other_regions``).
    """
    pool, demands = case
    before = allocate(pool, demands).by_group()
    bigger_global = pool.model_copy(update={"global_gbps": pool.global_gbps * factor})
    after = allocate(bigger_global, demands).by_group()
    for d in demands:
        assert after[d.group_id].allocated_gbps >= before[d.group_id].allocated_gbps - TOL
    region = sorted(pool.regions)[which % len(pool.regions)]
    grown = Pools(
        global_gbps=pool.global_gbps,
        regions={
            r: RegionPool(
                capacity_gbps=p.capacity_gbps * (factor if r == region else 1.0),
                guaranteed_gbps=p.guaranteed_gbps,
            )
            for r, p in pool.regions.items()
        },
    )
    res = allocate(grown, demands)
    assert res.total_gbps >= sum(a.allocated_gbps for a in before.values()) - TOL
    for d in demands:
        if d.region == region:
            got = res.by_group()[d.group_id].allocated_gbps
            assert got >= before[d.group_id].allocated_gbps - TOL


def test_region_growth_can_cost_other_regions():
    # per-group monotonicity across regions is not a property of max-min fairness: a's larger
    # ceil lets x borrow more of the global pool, which y in b was borrowing before
    demands = [gd("x", "a", demand=10), gd("y", "b", demand=10)]
    small = allocate(pools(10, a=(3, 0), b=(10, 0)), demands).by_group()
    large = allocate(pools(10, a=(6, 0), b=(10, 0)), demands).by_group()
    assert (small["x"].allocated_gbps, small["y"].allocated_gbps) == pytest.approx((3, 7))
    assert (large["x"].allocated_gbps, large["y"].allocated_gbps) == pytest.approx((5, 5))


@SETTINGS
@given(scenario(), st.integers(0, 7), st.floats(0, 60))
def test_override_keeps_invariants_or_refuses(case, which, gbps):
    pool, demands = case
    base = allocate(pool, demands)
    gid = demands[which % len(demands)].group_id
    try:
        out = apply_override(base, gid, gbps)
    except OverrideRefused as exc:
        assert exc.reason and exc.group_id == gid
        return
    by = out.by_group()
    assert by[gid].allocated_gbps == pytest.approx(gbps)
    assert out.total_gbps <= pool.global_gbps + 1e-6
    for region, rp in pool.regions.items():
        used = sum(a.allocated_gbps for a in out.allocations if a.region == region)
        assert used <= rp.capacity_gbps + 1e-6
        assert out.pool(region).allocated_gbps == pytest.approx(used, abs=1e-6)
    for a in base.allocations:
        if a.group_id != gid:
            assert by[a.group_id].allocated_gbps >= a.guaranteed_gbps - 1e-6
