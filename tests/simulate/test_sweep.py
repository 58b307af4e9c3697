"""Every strategy swept over its knob: one default point each, Headroom's knobs written into
the policy its real cycle runs."""

from __future__ import annotations

from reconciler.simulate import default_config, load_trace, replay_policy
from reconciler.simulate.bwheadroom import Knob
from reconciler.simulate.frontier import EqualCost
from reconciler.simulate.sweep import DEFAULT_KNOB, Knobs, compute_points, peer_settings

SMALL = Knobs(
    static=((1.0, 0.0), (0.9, 0.0)),
    tracking=(0.7,),
    vpa=((0.9, 0.15),),
    predictive=(0.0,),
    headroom=(DEFAULT_KNOB, Knob(0.99, 0.5)),
)


def test_peer_settings_mark_the_first_of_each_knob_default():
    rows = peer_settings(Knobs())
    defaults = {s: label for s, label, d, _ in rows if d}
    assert defaults == {
        "static-peak": "peak+0%",
        "target-tracking": "target 0.7",
        "vpa-style": "p90+15%",
        "predictive": "+0%",
    }


def test_compute_sweep_replays_the_real_cycle_per_headroom_knob(data_root):
    trace = load_trace(data_root, n_apps=2)
    trace = trace.window(0, 2 * 288 + 24)  # 2 hours after 2 days of history
    cfg = default_config(trace, train_steps=2 * 288)
    points, runs = compute_points(
        trace, cfg, replay_policy(cron="0 * * * *"), SMALL, forecaster="seasonal-naive"
    )
    ours = [p for p in points if p.strategy == "headroom"]
    assert [p.knob for p in ours] == ["p90+0%", "p99+50%"]
    assert [r.policy.headroom.relative for r in runs] == [0.0, 0.5]
    assert all(c.status == "ok" for r in runs for c in r.cycles)
    assert ours[1].cost >= ours[0].cost  # a higher quantile and margin hold more
    floor = next(p for p in points if p.strategy == "perfect-foresight")
    assert floor.excess_slack_pct == 0.0 and floor.congested == 0
    assert sum(p.default for p in points if p.strategy == "static-peak") == 1
    assert len(EqualCost(points).matches) == 4
