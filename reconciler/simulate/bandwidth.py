"""The bandwidth replay: hierarchical pools (global -> region -> group) on continuous rates.

Every strategy's asks go through the production allocator (``reconciler.allocation.allocate``)
under the same pools, sized from the training window: a region's rate is the sum of its groups'
training peaks, its ceil ``pool_factor`` times that, the global pool 1.2 times the regional
rates. A step whose asks all fit their regions' rates and the global pool is granted as asked
(the allocator's phases 1-2: an HTB class within its parent's rate gets what it asks; a test
holds this against ``allocate``); any other step calls ``allocate``.

Scoring, per (group, 5-minute step): congested when demand is above the grant; unmet GB is the
demand above the grant; cost is granted Gbps-hours; slack is the granted rate not used. The
floor is perfect foresight's grant (exactly the demand, cut only by the pools).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from policies.schema import Pools, RegionPool
from reconciler.allocation import AllocationResult, allocate
from reconciler.allocation.models import GroupDemand
from reconciler.simulate.flows import FlowTrace
from reconciler.simulate.frontier import Point, excess_pct

__all__ = ["Allocator", "BandwidthRun", "Granted", "grant", "pools_for", "score"]

Allocator = Callable[[Pools, Sequence[GroupDemand]], AllocationResult]
_EPS = 1e-9


def pools_for(trace: FlowTrace, train: int, pool_factor: float = 1.5) -> Pools:
    """Pools from the training window: each region's rate is its groups' summed peaks."""
    peaks = trace.gbps[:, :train].max(axis=1)
    rate: dict[str, float] = {}
    for g, region in enumerate(trace.regions):
        rate[region] = rate.get(region, 0.0) + float(peaks[g])
    regions = {
        r: RegionPool(capacity_gbps=max(v, 1e-6) * pool_factor, guaranteed_gbps=max(v, 1e-6))
        for r, v in rate.items()
    }
    return Pools(
        global_gbps=1.2 * sum(p.guaranteed_gbps for p in regions.values()), regions=regions
    )


@dataclass
class Granted:
    """Grants per step and how many steps the allocator itself divided."""

    gbps: np.ndarray
    allocator_calls: int


def grant(
    trace: FlowTrace, pools: Pools, asks: np.ndarray, allocator: Allocator = allocate
) -> Granted:
    """Each step's asks through the pools: as asked when they fit every regional rate and the
    global pool, else ``allocator``'s grants (an unchanged ask reuses the last result)."""
    regions = sorted(pools.regions)
    member = np.array([[r == reg for r in trace.regions] for reg in regions], dtype=float)
    rate = np.array([pools.regions[r].guaranteed_gbps for r in regions])
    placed = np.array([r in pools.regions for r in trace.regions])
    out = np.empty_like(asks)
    calls = 0
    last: tuple[np.ndarray, np.ndarray] | None = None
    for k in range(asks.shape[1]):
        a = asks[:, k]
        fits = (member @ a <= rate + _EPS).all() and a[placed].sum() <= pools.global_gbps + _EPS
        if fits and placed.all():
            out[:, k] = a
            continue
        if last is not None and np.array_equal(last[0], a):
            out[:, k] = last[1]
            continue
        demands = [
            GroupDemand(group_id=g, region=r, demand_gbps=float(v))
            for g, r, v in zip(trace.groups, trace.regions, a, strict=True)
        ]
        got = {x.group_id: x.allocated_gbps for x in allocator(pools, demands).allocations}
        out[:, k] = [got[g] for g in trace.groups]
        last = (a.copy(), out[:, k].copy())
        calls += 1
    return Granted(out, calls)


def score(
    trace: FlowTrace,
    train: int,
    held: np.ndarray,
    strategy: str,
    knob: str,
    default: bool,
    floor_held: float,
    seconds: float = 0.0,
) -> Point:
    """One strategy's grants against the replayed demand."""
    d = trace.gbps[:, train:]
    step_h = trace.step_s / 3600
    short = np.maximum(d - held, 0.0)
    total = float(held.sum())
    return Point(
        trace=trace.name,
        strategy=strategy,
        knob=knob,
        default=default,
        congested=int((d > held * (1 + 1e-9) + _EPS).sum()),
        intervals=int(d.size),
        unmet=float(short.sum()) * trace.step_s / 8.0,  # Gbps x s / 8 = GB
        unmet_unit="GB",
        cost=total * step_h,
        cost_unit="Gbps-h",
        slack_pct=100.0 * float(np.maximum(held - d, 0.0).sum()) / total if total > 0 else 0.0,
        excess_slack_pct=excess_pct(total, floor_held),
        seconds=seconds,
    )


@dataclass
class BandwidthRun:
    """Every strategy's asks on one trace, granted under the same pools and scored."""

    trace: FlowTrace
    train: int
    pools: Pools
    allocator: Allocator = allocate
    points: list[Point] | None = None
    floor_held: float = 0.0
    allocator_calls: int = 0

    def __post_init__(self) -> None:
        if self.train >= self.trace.n_steps:
            raise ValueError(f"{self.trace.name}: {self.train} training steps leave no replay")
        self.points = []

    def add(
        self, strategy: str, knob: str, default: bool, asks: np.ndarray, seconds: float = 0.0
    ) -> Point:
        """Grant ``asks`` under the pools and score them (the floor first: ``strategy``
        ``perfect-foresight``)."""
        t0 = time.perf_counter()
        got = grant(self.trace, self.pools, asks, self.allocator)
        self.allocator_calls += got.allocator_calls
        return self.held(strategy, knob, default, got.gbps, seconds + time.perf_counter() - t0)

    def held(
        self, strategy: str, knob: str, default: bool, held: np.ndarray, seconds: float = 0.0
    ) -> Point:
        """Score grants already made (Headroom's, by the allocate step itself)."""
        assert self.points is not None
        if strategy == "perfect-foresight":
            self.floor_held = float(held.sum())
        p = score(self.trace, self.train, held, strategy, knob, default, self.floor_held, seconds)
        self.points.append(p)
        return p
