from __future__ import annotations

import gzip

import numpy as np
import pytest

from policies.schema import Pools, RegionPool
from reconciler.allocation import allocate
from reconciler.simulate import bwpeers
from reconciler.simulate.bandwidth import BandwidthRun, grant, pools_for, score
from reconciler.simulate.bwheadroom import BandwidthHeadroom, Knob, knob_policy
from reconciler.simulate.flows import FlowTrace, find_matrices, load_matrix, longest_run
from reconciler.simulate.run import replay_policy


def matrix_file(tmp_path, rows):
    folder = tmp_path / "net"
    folder.mkdir()
    path = folder / "tiny_tm_long.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("time,src,dst,mbit_per_s\n")
        for r in rows:
            fh.write(",".join(str(x) for x in r) + "\n")
    return path


def flow_trace(gbps, regions=None, name="tiny"):
    gbps = np.asarray(gbps, dtype=float)
    n_groups, n = gbps.shape
    return FlowTrace(
        name=name,
        ts=(np.arange(n) * 5).astype("datetime64[m]").astype("datetime64[us]"),
        groups=[f"g{i}" for i in range(n_groups)],
        regions=regions or ["r"] * n_groups,
        gbps=gbps,
    )


def test_load_matrix_groups_flows_by_origin_and_fills_absent_pairs_with_zero(tmp_path):
    path = matrix_file(
        tmp_path,
        [
            ("2004-03-01 00:00:00", "A", "B", 1000.0),
            ("2004-03-01 00:00:00", "B", "A", 500.0),
            ("2004-03-01 00:00:00", "A", "A", 9.0),  # self-traffic is not a flow
            ("2004-03-01 00:10:00", "A", "B", 2000.0),
        ],
    )
    assert find_matrices(tmp_path) == [path]
    tm = load_matrix(path)
    assert tm.name == "tiny"
    assert tm.groups == ["A->B", "B->A"] and tm.regions == ["A", "B"]
    assert tm.gbps.tolist() == [[1.0, 0.0, 2.0], [0.5, 0.0, 0.0]]
    # the empty middle step is a gap in the measurement: the longest run keeps one side
    assert longest_run(tm).n_steps == 1


def test_score_counts_congestion_unmet_gb_and_cost_by_hand():
    # 2 groups, 1 training step, 3 replayed 5-minute steps
    tm = flow_trace([[9.0, 1.0, 2.0, 3.0], [9.0, 0.5, 0.5, 0.5]])
    held = np.array([[1.0, 2.5, 2.0], [1.0, 0.25, 0.5]])
    p = score(tm, 1, held, "s", "k", True, floor_held=5.0)
    # congested: (g0, step 2): 3 > 2; (g1, step 1): 0.5 > 0.25 -> 2 of 6
    assert (p.congested, p.intervals) == (2, 6)
    # unmet: (1 Gbps + 0.25 Gbps) for 300 s = 375 Gb = 46.875 GB
    assert p.unmet == pytest.approx(1.25 * 300 / 8)
    # cost: 7.25 Gbps held over 5-minute steps = 7.25 / 12 Gbps-h
    assert p.cost == pytest.approx(7.25 / 12)
    # slack: spare 0.5 (g0 step 1) + 0.5 (g1 step 0) of 7.25 held
    assert p.slack_pct == pytest.approx(100 * 1.0 / 7.25)
    assert p.excess_slack_pct == pytest.approx(100 * (7.25 - 5.0) / 5.0)


def test_pools_from_training_peaks():
    tm = flow_trace([[1.0, 2.0, 9.0], [3.0, 1.0, 9.0]], regions=["a", "b"])
    pools = pools_for(tm, 2, pool_factor=1.5)
    assert pools.regions["a"].guaranteed_gbps == 2.0 and pools.regions["a"].capacity_gbps == 3.0
    assert pools.global_gbps == pytest.approx(1.2 * 5.0)


def test_grant_uses_the_production_allocator_when_pools_bind():
    tm = flow_trace([[0, 1.0, 3.0, 3.0], [0, 1.0, 3.0, 3.0]], regions=["a", "b"])
    pools = Pools(
        global_gbps=5.0,
        regions={
            "a": RegionPool(capacity_gbps=4.0, guaranteed_gbps=2.0),
            "b": RegionPool(capacity_gbps=4.0, guaranteed_gbps=2.0),
        },
    )
    calls = []

    def recording(p, demands):
        calls.append([d.demand_gbps for d in demands])
        return allocate(p, demands)

    asks = tm.gbps[:, 1:]
    got = grant(tm, pools, asks, recording)
    # step 0 fits both regional rates: granted as asked without a call; steps 1-2 bind (6 > 5):
    # one call, the unchanged ask at step 2 reuses its result
    assert calls == [[3.0, 3.0]] and got.allocator_calls == 1
    assert got.gbps[:, 0].tolist() == [1.0, 1.0]
    want = allocate(pools, _demands(tm, asks[:, 1]))
    assert got.gbps[:, 1].tolist() == [a.allocated_gbps for a in want.allocations]
    assert got.gbps[:, 1].sum() == pytest.approx(5.0)
    # the replay's default is the production allocator itself
    assert BandwidthRun(tm, 1, pools).allocator is allocate


def _demands(tm, asks):
    from reconciler.allocation.models import GroupDemand

    return [
        GroupDemand(group_id=g, region=r, demand_gbps=float(v))
        for g, r, v in zip(tm.groups, tm.regions, asks, strict=True)
    ]


def test_asks_that_fit_are_what_the_allocator_grants():
    rng = np.random.default_rng(3)
    tm = flow_trace(rng.uniform(0, 1, (6, 40)), regions=["a", "b", "c"] * 2)
    pools = pools_for(tm, 20)
    asks = tm.gbps[:, 20:] * 0.5
    got = grant(tm, pools, asks)
    assert got.allocator_calls == 0
    for k in range(asks.shape[1]):
        want = allocate(pools, _demands(tm, asks[:, k]))
        assert got.gbps[:, k] == pytest.approx([a.allocated_gbps for a in want.allocations])


@pytest.mark.parametrize(
    "make",
    [
        lambda d, tr: bwpeers.static_asks(d, tr, 0.9, 0.1),
        lambda d, tr: bwpeers.tracking_asks(d, tr, 0.7),
        lambda d, tr: bwpeers.vpa_asks(d, tr, 0.9, 0.15),
        lambda d, tr: bwpeers.predictive_asks(d, tr, 0.2),
    ],
)
def test_peers_never_see_the_present_or_future(make):
    rng = np.random.default_rng(0)
    train = 2 * 288
    d = rng.uniform(0.5, 1.5, (3, train + 60))
    base = make(d, train)
    for k in (0, 17, 59):
        changed = d.copy()
        changed[:, train + k :] *= 10
        assert np.array_equal(make(changed, train)[:, : k + 1], base[:, : k + 1])


def test_tracking_follows_the_rate_at_its_target():
    d = np.full((1, 40), 1.0)
    d[0, 30:] = 2.0
    asks = bwpeers.tracking_asks(d, 20, target=0.5)
    assert asks[0, 0] == pytest.approx(2.0)
    assert asks[0, -1] == pytest.approx(4.0)  # out after 3 points above 50 %


def test_knob_is_written_into_the_policy():
    pol = knob_policy(replay_policy(), Knob(0.99, 0.3))
    assert pol.forecast.default_quantile == 0.99 and pol.headroom.relative == 0.3


def test_headroom_grants_come_from_the_forecast_and_allocate_steps():
    rng = np.random.default_rng(1)
    days, train = 4, 3 * 288
    t = np.arange(days * 288)
    base = 1.0 + 0.5 * np.sin(2 * np.pi * t / 288)
    d = np.vstack([base, 2 * base]) + rng.normal(0, 0.02, (2, t.size))
    tm = flow_trace(d[:, : train + 24], regions=["a", "b"])
    pools = pools_for(tm, train)
    knobs = [Knob(0.5, 0.0), Knob(0.9, 0.3)]
    ours = BandwidthHeadroom(replay_policy(), knobs, forecaster="seasonal-naive")
    grants = ours.grants(tm, train, pools)
    assert ours.cycles == 2
    low, high = grants[knobs[0]], grants[knobs[1]]
    assert low.shape == (2, 24) and (high >= low - 1e-9).all() and (high > low).any()
    # held for the hour between cycles
    assert (low[:, :12] == low[:, :1]).all()
    run = BandwidthRun(tm, train, pools)
    run.add("perfect-foresight", "", True, bwpeers.foresight_asks(tm.gbps, train))
    p_high = run.held("headroom", knobs[1].label(), False, high)
    p_low = run.held("headroom", knobs[0].label(), True, low)
    assert p_high.cost > p_low.cost and p_high.congested <= p_low.congested


def test_headroom_cycles_on_the_policy_schedule():
    """The bandwidth replay runs on the policy's cron, as the compute replay does: every 15
    minutes is 8 cycles in two replayed hours, each grant held for its 3 steps."""
    rng = np.random.default_rng(2)
    train = 3 * 288
    t = np.arange(train + 24)
    d = (1.0 + 0.5 * np.sin(2 * np.pi * t / 288))[None, :] + rng.normal(0, 0.02, (1, t.size))
    tm = flow_trace(d, regions=["a"])
    ours = BandwidthHeadroom(
        replay_policy(cron="*/15 * * * *"), [Knob(0.9, 0.0)], forecaster="seasonal-naive"
    )
    (held,) = ours.grants(tm, train, pools_for(tm, train)).values()
    assert ours.cycles == 8
    assert all((held[:, k : k + 3] == held[:, k : k + 1]).all() for k in range(0, 24, 3))
    assert len({float(v) for v in held[0]}) > 1  # each cycle its own grant
