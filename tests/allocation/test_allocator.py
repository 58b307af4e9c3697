from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies.schema import Pools, RegionPool
from reconciler.allocation import (
    GLOBAL_POOL,
    CutReason,
    GroupDemand,
    OverrideRefused,
    allocate,
    apply_override,
    demand_for,
    pick_quantile,
)

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
    res = allocate(pools(5, a=(5, 5)), [gd("x", "mars", demand=1)])
    assert res.allocations[0].allocated_gbps == 0
    assert "no regional pool named 'mars'" in (res.allocations[0].cut_reason or "")
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
    assert pick_quantile({0.5: 1.0, 0.9: 2.0}, 0.95) == (0.9, 2.0)
    with pytest.raises(ValueError, match="not like"):
        pick_quantile({"median": 1.0}, 0.5)


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
        assert len(res.ledger_for(d.group_id).steps) >= 5


@SETTINGS
@given(scenario())
def test_guarantees_when_feasible(case):
    pool, demands = case
    need = {d.group_id: min(d.guarantee_gbps, d.capped_demand) for d in demands}
    per_region: dict[str, float] = {}
    for d in demands:
        per_region[d.region] = per_region.get(d.region, 0.0) + need[d.group_id]
    feasible = sum(need.values()) <= pool.global_gbps and all(
        v <= pool.regions[r].capacity_gbps for r, v in per_region.items()
    )
    if not feasible:
        return
    by = allocate(pool, demands).by_group()
    for d in demands:
        assert by[d.group_id].allocated_gbps >= need[d.group_id] - TOL


@SETTINGS
@given(scenario(), st.floats(1.0, 3.0))
def test_monotone_in_capacity(case, factor):
    pool, demands = case
    before = allocate(pool, demands).total_gbps
    bigger_global = pool.model_copy(update={"global_gbps": pool.global_gbps * factor})
    assert allocate(bigger_global, demands).total_gbps >= before - TOL
    bigger_regions = Pools(
        global_gbps=pool.global_gbps,
        regions={
            r: RegionPool(capacity_gbps=p.capacity_gbps * factor, guaranteed_gbps=p.guaranteed_gbps)
            for r, p in pool.regions.items()
        },
    )
    assert allocate(bigger_regions, demands).total_gbps >= before - TOL


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
