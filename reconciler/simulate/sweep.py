"""Knob sweeps: every strategy at several settings of its usual knob, on the compute replay and
the bandwidth replay, as frontier ``Point``s.

The knobs (the default, marked ``default=True``, is the strategy's documented setting; Headroom's
is the replay policy's own, ``forecast.default_quantile`` 0.9 and ``headroom.relative`` 0,
fixed before any replayed day was looked at):

- static: percentile of the training window (1.0 is its peak) and a margin;
- target tracking: target utilisation;
- VPA-style: percentile of the decaying histogram and a margin;
- predictive scaling: margin on the day-ahead forecast;
- Headroom: the forecast quantile it sizes at and its relative margin, written into the policy
  (``bwheadroom.knob_policy``). Each compute point is a whole replay of the real cycle.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from policies.schema import Policy
from reconciler.simulate import bwpeers
from reconciler.simulate.bandwidth import BandwidthRun, pools_for
from reconciler.simulate.bwheadroom import BandwidthHeadroom, Knob, knob_policy
from reconciler.simulate.engine import SimConfig, SimResult, Strategy, replay
from reconciler.simulate.flows import FlowTrace
from reconciler.simulate.frontier import Point, excess_pct
from reconciler.simulate.headroom import HeadroomStrategy
from reconciler.simulate.peers import (
    PerfectForesight,
    PredictiveScaling,
    StaticPeak,
    TargetTracking,
    VpaStyle,
)
from reconciler.simulate.trace import AppTrace

__all__ = [
    "BANDWIDTH_PEERS",
    "COMPUTE_PEERS",
    "DEFAULT_KNOB",
    "Knobs",
    "bandwidth_points",
    "compute_points",
    "peer_settings",
]

DEFAULT_KNOB = Knob(0.9, 0.0)


@dataclass(frozen=True)
class Knobs:
    """The settings swept per strategy; the first of each list is the default."""

    static: Sequence[tuple[float, float]] = ((1.0, 0.0), (0.9, 0.0), (0.95, 0.0), (0.99, 0.0))
    tracking: Sequence[float] = (0.7, 0.5, 0.6, 0.8, 0.9)
    vpa: Sequence[tuple[float, float]] = ((0.9, 0.15), (0.9, 0.0), (0.9, 0.3), (0.99, 0.15))
    predictive: Sequence[float] = (0.0, 0.25, 0.5)
    #: compute: each point is a whole replay of the real cycle, so few
    headroom: Sequence[Knob] = (
        DEFAULT_KNOB,
        Knob(0.5, 0.0),
        Knob(0.9, 0.15),
        Knob(0.95, 0.0),
        Knob(0.99, 0.0),
    )
    #: bandwidth: one forecast per cycle serves every knob, so a grid
    bandwidth_headroom: Sequence[Knob] = (
        DEFAULT_KNOB,
        *(
            Knob(q, m)
            for q in (0.5, 0.9, 0.99)
            for m in (0.0, 0.15, 0.3, 0.6)
            if (q, m) != (0.9, 0.0)
        ),
    )

    @classmethod
    def quick(cls) -> Knobs:
        return cls(
            static=((1.0, 0.0), (0.95, 0.0)),
            tracking=(0.7, 0.9),
            vpa=((0.9, 0.15), (0.9, 0.0)),
            predictive=(0.0, 0.25),
            headroom=(DEFAULT_KNOB, Knob(0.5, 0.0)),
            bandwidth_headroom=(DEFAULT_KNOB, Knob(0.5, 0.0), Knob(0.99, 0.15)),
        )


def _pct(q: float, m: float) -> str:
    return f"p{q * 100:g}+{m * 100:g}%" if q < 1 else f"peak+{m * 100:g}%"


#: How each peer is built from its knob's settings, on the compute and the bandwidth replay.
COMPUTE_PEERS: dict[str, Callable[..., Strategy]] = {
    "static-peak": StaticPeak,
    "target-tracking": TargetTracking,
    "vpa-style": VpaStyle,
    "predictive": PredictiveScaling,
}
BANDWIDTH_PEERS: dict[str, Callable[..., np.ndarray]] = {
    "static-peak": bwpeers.static_asks,
    "target-tracking": bwpeers.tracking_asks,
    "vpa-style": bwpeers.vpa_asks,
    "predictive": bwpeers.predictive_asks,
}


def peer_settings(knobs: Knobs) -> list[tuple[str, str, bool, dict[str, float]]]:
    """``(strategy, knob label, is default, settings)`` for every peer point."""
    out: list[tuple[str, str, bool, dict[str, float]]] = []
    for i, (q, m) in enumerate(knobs.static):
        out.append(("static-peak", _pct(q, m), i == 0, {"quantile": q, "margin": m}))
    for i, u in enumerate(knobs.tracking):
        out.append(("target-tracking", f"target {u:g}", i == 0, {"target": u}))
    for i, (q, m) in enumerate(knobs.vpa):
        out.append(("vpa-style", _pct(q, m), i == 0, {"quantile": q, "margin": m}))
    for i, m in enumerate(knobs.predictive):
        out.append(("predictive", f"+{m * 100:g}%", i == 0, {"margin": m}))
    return out


def _compute_point(r: SimResult, strategy: str, knob: str, default: bool, floor: float) -> Point:
    return Point(
        trace="bitbrains-cpu",
        strategy=strategy,
        knob=knob,
        default=default,
        congested=r.congested_count,
        intervals=r.steps * r.apps,
        unmet=r.unmet_unit_h,
        unmet_unit="unit-h",
        cost=r.cost_usd,
        cost_unit="USD",
        slack_pct=r.slack_pct,
        excess_slack_pct=excess_pct(r.cost_usd, floor),
        seconds=r.seconds,
    )


def compute_points(
    trace: AppTrace, cfg: SimConfig, policy: Policy, knobs: Knobs, forecaster: str = "lightgbm"
) -> tuple[list[Point], list[HeadroomStrategy]]:
    """Every compute strategy at every knob; Headroom's points each replay the real cycle."""
    floor = replay(trace, PerfectForesight(), cfg)
    points = [_compute_point(floor, "perfect-foresight", "", True, floor.cost_usd)]
    for strategy, label, default, kw in peer_settings(knobs):
        r = replay(trace, COMPUTE_PEERS[strategy](**kw), cfg)
        points.append(_compute_point(r, strategy, label, default, floor.cost_usd))
    runs: list[HeadroomStrategy] = []
    for knob in knobs.headroom:
        ours = HeadroomStrategy(knob_policy(policy, knob), forecaster=forecaster)
        r = replay(trace, ours, cfg)
        runs.append(ours)
        points.append(
            _compute_point(r, "headroom", knob.label(), knob == DEFAULT_KNOB, floor.cost_usd)
        )
    return points, runs


def bandwidth_points(
    trace: FlowTrace, train: int, policy: Policy, knobs: Knobs, forecaster: str = "lightgbm"
) -> tuple[list[Point], BandwidthRun, BandwidthHeadroom]:
    """Every bandwidth strategy at every knob on ``trace`` under pools from its training days."""
    run = BandwidthRun(trace, train, pools_for(trace, train))
    d = trace.gbps
    run.add("perfect-foresight", "", True, bwpeers.foresight_asks(d, train))
    for strategy, label, default, kw in peer_settings(knobs):
        t0 = time.perf_counter()
        wanted = BANDWIDTH_PEERS[strategy](d, train, **kw)
        run.add(strategy, label, default, wanted, time.perf_counter() - t0)
    ours = BandwidthHeadroom(policy, list(knobs.bandwidth_headroom), forecaster=forecaster)
    t0 = time.perf_counter()
    grants = ours.grants(trace, train, run.pools)
    seconds = (time.perf_counter() - t0) / max(1, len(grants))
    for knob, held in grants.items():
        run.held("headroom", knob.label(), knob == DEFAULT_KNOB, held, seconds)
    assert run.points is not None
    return run.points, run, ours
