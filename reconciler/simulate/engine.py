"""The replay engine: strategies decide capacity each cycle; the engine applies it with delays.

Capacity is counted in *units* of one base instance type (sizes of its family are multiples, as
m6i sizes are). Demand in units is the largest of CPU, memory and network demand divided by the
base type's vCPU, memory and baseline bandwidth: an interval is congested when any resource's
demand is above what is provisioned. Scale-outs and resizes take effect after their provisioning
delay; scale-ins at once. Regional pools cap the units any strategy can hold in a region.
A strategy that runs its own cloud (Headroom: the real cycle against the replay provider, whose
scale-outs already wait out the delay) reports the capacity in service as ``in_force``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from providers.models import InstanceType
from reconciler.simulate.trace import AppTrace

__all__ = [
    "Decision",
    "SimConfig",
    "SimResult",
    "Strategy",
    "ceil_units",
    "demand_units",
    "replay",
]


@dataclass(frozen=True)
class SimConfig:
    """Constraints every strategy replays under."""

    base: InstanceType
    train_steps: int
    scale_out_delay: int = 1  # steps until a new instance serves
    resize_delay: int = 2  # steps of stop/start before a resized instance serves
    region_units: dict[str, int] = field(default_factory=dict)

    @property
    def unit_price(self) -> float:
        if self.base.hourly_price_usd is None:
            raise ValueError(f"{self.base.name} has no hourly price; the replay needs one")
        return self.base.hourly_price_usd


@dataclass(frozen=True)
class Decision:
    """Hold ``units`` of capacity for an app, reached by a ``scale`` or a ``resize`` (after
    their delays), or ``in_force``: capacity already in service, held from this step."""

    units: int
    kind: Literal["scale", "resize", "in_force"] = "scale"


class Strategy(Protocol):
    name: str

    def start(self, trace: AppTrace, units: np.ndarray, cfg: SimConfig) -> list[int]:
        """Initial capacity per app, knowing demand for the first ``cfg.train_steps`` steps."""
        ...

    def decide(self, t: int, units: np.ndarray, capacity: list[int]) -> dict[int, Decision]:
        """Decisions at the start of step ``t``; only ``units[:, :t]`` may be looked at."""
        ...


def demand_units(trace: AppTrace, base: InstanceType) -> np.ndarray:
    """``(n_apps, n_steps)`` demand in base-instance units (the binding resource)."""
    return np.maximum.reduce(
        [
            trace.demand["cpu_vcpu"] / base.vcpu,
            trace.demand["memory_gib"] / base.memory_gib,
            trace.demand["network_gbps"] / base.baseline_gbps,
        ]
    )


@dataclass(frozen=True)
class SimResult:
    """Outcome of one strategy over the replayed steps."""

    name: str
    congested_pct: float
    unmet_pct: float
    slack_pct: float
    cost_usd: float
    changes: int
    steps: int
    apps: int
    seconds: float = 0.0
    #: demand not served, in base-unit hours (the binding resource's shortfall)
    unmet_unit_h: float = 0.0

    @property
    def congested_count(self) -> int:
        """Congested app-intervals (the share times apps times steps)."""
        return round(self.congested_pct / 100.0 * self.steps * self.apps)

    def row(self) -> list[object]:
        return [
            self.name,
            self.congested_pct,
            self.unmet_pct,
            self.slack_pct,
            self.cost_usd,
            self.changes,
        ]


def replay(trace: AppTrace, strategy: Strategy, cfg: SimConfig) -> SimResult:
    """Replay steps ``[cfg.train_steps, end)`` of ``trace`` through ``strategy``."""
    import time

    t0 = time.perf_counter()
    units = demand_units(trace, cfg.base)
    n_apps, n_steps = units.shape
    if cfg.train_steps >= n_steps:
        raise ValueError(f"train_steps {cfg.train_steps} leaves nothing of {n_steps} to replay")
    capacity = [max(0, int(c)) for c in strategy.start(trace, units, cfg)]
    capacity = _clip_regions(trace, cfg, capacity, [0] * n_apps)
    pending: dict[int, tuple[int, int]] = {}  # app -> (ready step, units)
    changes = 0
    held = np.zeros((n_apps, n_steps - cfg.train_steps))
    for k, t in enumerate(range(cfg.train_steps, n_steps)):
        for a, (ready, target) in list(pending.items()):
            if ready <= t:
                capacity[a] = target
                del pending[a]
        wanted = [pending[a][1] if a in pending else capacity[a] for a in range(n_apps)]
        decisions = strategy.decide(t, units[:, :t], list(capacity))
        proposed = list(wanted)
        for a, d in decisions.items():
            proposed[a] = max(0, int(d.units))
        proposed = _clip_regions(trace, cfg, proposed, wanted)
        for a in range(n_apps):
            if proposed[a] == wanted[a]:
                continue
            changes += 1
            kind = decisions[a].kind if a in decisions else "scale"
            if kind == "in_force":
                capacity[a] = proposed[a]
                pending.pop(a, None)
            elif kind == "resize":
                pending[a] = (t + cfg.resize_delay, proposed[a])
            elif proposed[a] > capacity[a]:
                pending[a] = (t + cfg.scale_out_delay, proposed[a])
            else:
                capacity[a] = proposed[a]
                pending.pop(a, None)
        held[:, k] = capacity
    return _score(
        strategy.name, units[:, cfg.train_steps :], held, cfg, changes, time.perf_counter() - t0
    )


def _clip_regions(
    trace: AppTrace, cfg: SimConfig, proposed: list[int], wanted: list[int]
) -> list[int]:
    """Cut growth that would push a region past its pool (largest growth cut first)."""
    out = list(proposed)
    for region, cap in cfg.region_units.items():
        idx = [a for a, r in enumerate(trace.regions) if r == region]
        over = sum(out[a] for a in idx) - cap
        growers = sorted((a for a in idx if out[a] > wanted[a]), key=lambda a: wanted[a] - out[a])
        for a in growers:
            if over <= 0:
                break
            cut = min(over, out[a] - wanted[a])
            out[a] -= cut
            over -= cut
    return out


def _score(
    name: str, demand: np.ndarray, held: np.ndarray, cfg: SimConfig, changes: int, seconds: float
) -> SimResult:
    short = np.maximum(demand - held, 0.0)
    spare = np.maximum(held - demand, 0.0)
    step_h = 5 / 60
    total_d = float(demand.sum())
    total_c = float(held.sum())
    return SimResult(
        name=name,
        congested_pct=100.0 * float((demand > held + 1e-9).mean()),
        unmet_pct=100.0 * float(short.sum()) / total_d if total_d > 0 else 0.0,
        slack_pct=100.0 * float(spare.sum()) / total_c if total_c > 0 else 0.0,
        cost_usd=float(held.sum()) * cfg.unit_price * step_h,
        changes=changes,
        steps=int(demand.shape[1]),
        apps=int(demand.shape[0]),
        seconds=seconds,
        unmet_unit_h=float(short.sum()) * step_h,
    )


def ceil_units(value: float) -> int:
    """Whole units covering ``value`` (tolerant of float noise)."""
    return max(0, math.ceil(value - 1e-9))
