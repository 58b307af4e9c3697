"""Run every strategy on the same trace under the same constraints, and pick the headline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policies.loader import load_policy
from policies.schema import Policy
from providers.models import InstanceType
from reconciler.simulate.engine import (
    SimConfig,
    SimResult,
    Strategy,
    ceil_units,
    demand_units,
    replay,
)
from reconciler.simulate.headroom import HeadroomStrategy
from reconciler.simulate.peers import (
    LIMITS,
    PerfectForesight,
    PredictiveScaling,
    StaticPeak,
    TargetTracking,
    VpaStyle,
)
from reconciler.simulate.trace import AppTrace

__all__ = [
    "BASE_TYPE",
    "REPLAY_CRON",
    "REPLAY_POLICY",
    "Headline",
    "Scenario",
    "Simulation",
    "Tradeoff",
    "default_config",
    "default_strategies",
    "headline",
    "replay_policy",
    "run_strategies",
    "simulate",
]

#: The base instance every app runs on (us-east-1 on-demand price).
BASE_TYPE = InstanceType(
    name="m6i.large",
    vcpu=2,
    memory_gib=8,
    baseline_gbps=0.781,
    peak_gbps=12.5,
    hourly_price_usd=0.096,
)
REPLAY_POLICY = Path(__file__).resolve().parents[2] / "policies" / "examples" / "replay.yaml"
#: The schedule the benchmark replays Headroom on: hourly. The replay policy's own 5-minute cron
#: costs one real cycle (2-6 s) per 5-minute step, hours for the full trace; ``Scenario.cron``
#: None keeps the policy's schedule.
REPLAY_CRON = "0 * * * *"


def default_config(trace: AppTrace, train_steps: int, pool_factor: float = 1.5) -> SimConfig:
    """Regional pools hold ``pool_factor`` times the summed training peaks of their apps."""
    units = demand_units(trace, BASE_TYPE)[:, :train_steps]
    peaks = units.max(axis=1)
    region_units: dict[str, int] = {}
    for a, region in enumerate(trace.regions):
        region_units[region] = region_units.get(region, 0) + ceil_units(peaks[a])
    return SimConfig(
        base=BASE_TYPE,
        train_steps=train_steps,
        region_units={r: math.ceil(u * pool_factor) for r, u in region_units.items()},
    )


def replay_policy(policy: Policy | None = None, cron: str | None = REPLAY_CRON) -> Policy:
    """The policy Headroom is replayed with (``replay.yaml`` by default), on ``cron`` when
    given (validated as the policy file's own schedule would be)."""
    from policies.schema import Schedule

    chosen = policy or load_policy(REPLAY_POLICY)
    if cron is None or cron == chosen.schedule.cron:
        return chosen
    schedule = Schedule(timezone=chosen.schedule.timezone, cron=cron)
    return chosen.model_copy(update={"schedule": schedule})


def default_strategies(policy: Policy | None = None, **headroom: Any) -> list[Strategy]:
    return [
        PerfectForesight(),
        StaticPeak(),
        TargetTracking(),
        VpaStyle(),
        PredictiveScaling(),
        HeadroomStrategy(policy or load_policy(REPLAY_POLICY), **headroom),
    ]


def run_strategies(
    trace: AppTrace, cfg: SimConfig, strategies: Sequence[Strategy]
) -> list[SimResult]:
    """Replay each strategy in turn on the same trace and constraints."""
    return [replay(trace, s, cfg) for s in strategies]


class Headline:
    """Ours versus the peer with the fewest congested intervals (ties: less slack).

    Peers are every strategy that is neither ours (names starting with ``ours``) nor a limit
    (``LIMITS``: strategies that see the future).

    The ratio compares congested app-interval *counts* with +1 smoothing,
    ``(ours + 1) / (best + 1)``, so a peer with no congested interval still gives a finite,
    readable figure (0 vs 0 is 1.0; 4 vs 0 is 5.0). Below 1 means fewer congested intervals.
    """

    def __init__(self, results: Sequence[SimResult], ours: str = "headroom") -> None:
        self.ours = next(r for r in results if r.name == ours)
        peers = [r for r in results if not r.name.startswith(ours) and r.name not in LIMITS]
        if not peers:
            raise ValueError("no peer strategy to compare with")
        self.best = min(peers, key=lambda r: (r.congested_pct, r.slack_pct))
        self.ratio = (self.ours.congested_count + 1) / (self.best.congested_count + 1)

    def counts(self) -> str:
        """The congested-interval counts behind the ratio."""
        o, b = self.ours, self.best
        return (
            f"congested app-intervals: ours {o.congested_count}, best peer {b.name} "
            f"{b.congested_count} (of {o.steps * o.apps}); ratio = (ours + 1) / (peer + 1)"
        )

    def line(self) -> str:
        o, b = self.ours, self.best
        return (
            f"simulate_congestion_ratio_vs_best_peer: {self.ratio:.2f} (ours congested "
            f"{o.congested_pct:.3f}% slack {o.slack_pct:.1f}%, best peer {b.name} congested "
            f"{b.congested_pct:.3f}% slack {b.slack_pct:.1f}%)"
        )


class Tradeoff:
    """Each peer against Headroom's variants that hold no more slack than it does.

    Congestion and slack trade against each other (hold more and fewer intervals congest), so
    a peer is also compared at its own slack: the Headroom variant (``headroom*``) with the
    fewest congested intervals among those whose slack is at most the peer's.
    """

    def __init__(self, results: Sequence[SimResult], ours: str = "headroom") -> None:
        self.variants = [r for r in results if r.name.startswith(ours)]
        self.peers = [r for r in results if not r.name.startswith(ours) and r.name not in LIMITS]
        self.limits = [r for r in results if r.name in LIMITS]

    def match(self, peer: SimResult) -> SimResult | None:
        """Our variant with the fewest congested intervals at no more slack than ``peer``."""
        fits = [r for r in self.variants if r.slack_pct <= peer.slack_pct + 1e-9]
        return min(fits, key=lambda r: (r.congested_pct, r.slack_pct)) if fits else None

    def rows(self) -> list[list[object]]:
        out: list[list[object]] = []
        for p in self.peers:
            m = self.match(p)
            out.append(
                [
                    p.name,
                    p.congested_pct,
                    p.slack_pct,
                    m.name if m else "(none at this slack)",
                    m.congested_pct if m else float("nan"),
                    m.slack_pct if m else float("nan"),
                    "yes" if m and m.congested_count < p.congested_count else "no",
                ]
            )
        return out

    COLUMNS = (
        "peer",
        "congested %",
        "slack %",
        "ours, slack <= peer's",
        "congested %",
        "slack %",
        "ours fewer",
    )


def headline(results: Sequence[SimResult]) -> str:
    return Headline(results).line()


class Scenario:
    """How much of the trace to replay: full (all VMs, 14 days train) or quick (4 apps, 7 days
    of training, 6 hours replayed), and Headroom's schedule (``cron``; None: the policy's)."""

    def __init__(
        self,
        *,
        n_apps: int = 8,
        max_vms: int | None = None,
        train_days: int = 14,
        days: float | None = None,
        forecaster: str = "lightgbm",
        cron: str | None = REPLAY_CRON,
    ) -> None:
        from reconciler.simulate.headroom import FORECASTERS

        if forecaster not in FORECASTERS:
            raise ValueError(f"forecaster must be one of {FORECASTERS}, got {forecaster!r}")
        self.n_apps = n_apps
        self.max_vms = max_vms
        self.train_days = train_days
        self.days = days
        self.forecaster = forecaster
        self.cron = cron

    @classmethod
    def full(cls) -> Scenario:
        """The benchmark's run: 14 days of history, the next 7 replayed (168 hourly cycles of
        about 5 s each on a shared 2-core machine; the whole month would take over an hour)."""
        return cls(days=21)

    @classmethod
    def quick(cls) -> Scenario:
        return cls(n_apps=4, max_vms=None, train_days=7, days=7.25)

    def describe(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class Simulation:
    """What ``simulate`` replayed: the trace, the constraints, every result, and Headroom's
    strategy (its cycles: how many ran, failed, and what one cost)."""

    trace: AppTrace
    cfg: SimConfig
    results: list[SimResult]
    headroom: HeadroomStrategy

    def cycles_line(self) -> str:
        """How Headroom ran: real cycles, their schedule and their cost."""
        h = self.headroom
        every = (h.cycle or 1) * self.trace.step_s / 60
        return (
            f"headroom: {len(h.cycles)} run_once cycles every {every:g} min "
            f"(cron {h.policy.schedule.cron!r}), {len(h.failed)} failed, "
            f"{h.cycle_seconds:.2f} s per cycle"
        )


def simulate(data: Path, scenario: Scenario, policy: Policy | None = None) -> Simulation:
    """Load the Bitbrains trace under ``data`` and replay every strategy on it; Headroom runs
    the real cycle (``reconciler.simulate.headroom``) on ``scenario.cron``."""
    from reconciler.simulate.trace import load_trace

    trace = load_trace(data, n_apps=scenario.n_apps, max_vms=scenario.max_vms, days=scenario.days)
    if scenario.days is not None:
        trace = trace.window(0, min(trace.n_steps, round(scenario.days * 288)))
    train = scenario.train_days * 288
    if train >= trace.n_steps:
        raise ValueError(
            f"the trace has {trace.n_steps} steps; {scenario.train_days} training days leave "
            "nothing to replay"
        )
    cfg = default_config(trace, train)
    chosen = replay_policy(policy, scenario.cron)
    strategies = default_strategies(chosen, forecaster=scenario.forecaster)
    results = run_strategies(trace, cfg, strategies)
    ours = strategies[-1]
    assert isinstance(ours, HeadroomStrategy)
    return Simulation(trace, cfg, results, ours)
