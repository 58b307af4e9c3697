"""Congestion-cost frontiers: every strategy swept over its knob, compared at equal cost.

A ``Point`` is one strategy at one knob setting on one trace: congested intervals (counts and
share), unmet demand, cost, slack, and the capacity held above the perfect-foresight floor.
Strategies are compared on their frontiers, not at single points (``BENCHMARKS.md``): each peer
at its *default* knob against Headroom's best point that costs no more (``at_cost``), and
Headroom's least excess slack among points that congest no more (``at_congestion``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

LIMITS = ("perfect-foresight",)

__all__ = ["EqualCost", "Point", "SlackGoal", "at_congestion", "at_cost", "excess_pct", "pareto"]


@dataclass(frozen=True)
class Point:
    """One strategy at one knob on one trace.

    ``congested`` counts congested (group, interval) pairs out of ``intervals``; ``unmet`` is
    demand not served (GB for bandwidth, base-unit hours for compute, ``unmet_unit``); ``cost``
    is what was held (Gbps-hours or USD, ``cost_unit``); ``excess_slack_pct`` is the capacity
    held above the perfect-foresight floor, as a share of the floor's (``excess_pct``)."""

    trace: str
    strategy: str
    knob: str
    default: bool
    congested: int
    intervals: int
    unmet: float
    unmet_unit: str
    cost: float
    cost_unit: str
    slack_pct: float
    excess_slack_pct: float = float("nan")
    seconds: float = 0.0

    @property
    def congested_pct(self) -> float:
        return 100.0 * self.congested / self.intervals if self.intervals else 0.0

    def row(self) -> list[object]:
        return [
            self.trace,
            self.strategy,
            self.knob + (" *" if self.default else ""),
            self.congested_pct,
            f"{self.unmet:,.1f} {self.unmet_unit}",
            f"{self.cost:,.1f} {self.cost_unit}",
            self.slack_pct,
            self.excess_slack_pct,
        ]

    COLUMNS = (
        "trace",
        "strategy",
        "knob (* default)",
        "congested %",
        "unmet",
        "cost",
        "slack %",
        "excess slack %",
    )


def excess_pct(held: float, floor_held: float) -> float:
    """Capacity held above the floor's, as a percentage of the floor's."""
    return 100.0 * (held - floor_held) / floor_held if floor_held > 0 else float("nan")


def pareto(points: Sequence[Point]) -> list[Point]:
    """The points no other point beats on both cost and congestion, cheapest first."""
    out: list[Point] = []
    for p in sorted(points, key=lambda p: (p.cost, p.congested)):
        if not out or p.congested < out[-1].congested:
            out.append(p)
    return out


def at_cost(points: Sequence[Point], cost: float) -> Point | None:
    """The point with the fewest congested intervals among those costing at most ``cost``
    (ties: the cheaper); None when every point costs more."""
    fits = [p for p in points if p.cost <= cost * (1 + 1e-9)]
    return min(fits, key=lambda p: (p.congested, p.cost)) if fits else None


def at_congestion(points: Sequence[Point], congested: int) -> Point | None:
    """The point with the least excess slack among those congesting at most ``congested``
    intervals; None when every point congests more."""
    fits = [p for p in points if p.congested <= congested]
    return min(fits, key=lambda p: (p.excess_slack_pct, p.cost)) if fits else None


@dataclass(frozen=True)
class Match:
    """A peer's default point against Headroom's point at no more cost."""

    peer: Point
    ours: Point | None

    @property
    def ratio(self) -> float:
        """``(ours congested + 1) / (peer congested + 1)``: counts with +1 smoothing, so a peer
        with no congested interval gives a finite figure; inf when Headroom has no point at this
        cost."""
        if self.ours is None:
            return math.inf
        return (self.ours.congested + 1) / (self.peer.congested + 1)


class EqualCost:
    """Per peer (its default knob), Headroom's fewest congested intervals at no more cost; the
    headline is the worst ratio over peers and traces."""

    def __init__(
        self, points: Sequence[Point], ours: str = "headroom", limits: tuple[str, ...] = LIMITS
    ):
        traces = sorted({p.trace for p in points})
        self.matches: list[Match] = []
        for trace in traces:
            mine = [p for p in points if p.trace == trace and p.strategy == ours]
            for peer in points:
                if peer.trace != trace or not peer.default:
                    continue
                if peer.strategy == ours or peer.strategy in limits:
                    continue
                self.matches.append(Match(peer, at_cost(mine, peer.cost)))
        if not self.matches:
            raise ValueError("no peer default point to compare with")
        self.worst = max(self.matches, key=lambda m: (m.ratio, m.peer.congested))

    def rows(self) -> list[list[object]]:
        out: list[list[object]] = []
        for m in self.matches:
            o = m.ours
            out.append(
                [
                    m.peer.trace,
                    f"{m.peer.strategy} {m.peer.knob}",
                    m.peer.congested_pct,
                    m.peer.cost,
                    o.knob if o else "(none this cheap)",
                    o.congested_pct if o else float("nan"),
                    o.cost if o else float("nan"),
                    m.ratio,
                ]
            )
        return out

    COLUMNS = (
        "trace",
        "peer (default)",
        "congested %",
        "cost",
        "headroom, cost <= peer's",
        "congested %",
        "cost",
        "ratio",
    )

    def goal_line(self) -> str:
        """The issue's goal: at most 0.5 against every peer, static peak included."""
        met = [m for m in self.matches if m.ratio <= 0.5]
        return (
            f"goal: congestion ratio at equal cost <= 0.5 for every peer: "
            f"{'yes' if len(met) == len(self.matches) else 'no'} "
            f"({len(met)} of {len(self.matches)} peer-trace pairs)"
        )

    def line(self) -> str:
        m = self.worst
        peer, o = m.peer, m.ours
        ours = f"{o.congested_pct:.3f}%" if o else "no point this cheap"
        return (
            f"simulate_congestion_ratio_at_equal_cost: {m.ratio:.2f} (worst peer "
            f"{peer.trace}/{peer.strategy}; ours {ours} vs peer {peer.congested_pct:.3f}% at "
            f"cost {peer.cost:.4g} {peer.cost_unit})"
        )


class SlackGoal:
    """Per peer (its default knob), Headroom's least excess slack at no more congestion; the goal
    holds on a trace when it is at most a third of the best such peer's excess slack."""

    def __init__(
        self, points: Sequence[Point], ours: str = "headroom", limits: tuple[str, ...] = LIMITS
    ):
        self.rows_: list[list[object]] = []
        self.verdicts: dict[str, bool | None] = {}
        for trace in sorted({p.trace for p in points}):
            mine = [p for p in points if p.trace == trace and p.strategy == ours]
            peers = [
                p
                for p in points
                if p.trace == trace and p.default and p.strategy not in (ours, *limits)
            ]
            best_ratio: float | None = None
            for peer in sorted(peers, key=lambda p: p.excess_slack_pct):
                o = at_congestion(mine, peer.congested)
                ratio = (
                    o.excess_slack_pct / peer.excess_slack_pct
                    if o is not None and peer.excess_slack_pct > 0
                    else float("nan")
                )
                if best_ratio is None:
                    best_ratio = ratio
                self.rows_.append(
                    [
                        trace,
                        peer.strategy,
                        peer.congested_pct,
                        peer.excess_slack_pct,
                        o.knob if o else "(none)",
                        o.congested_pct if o else float("nan"),
                        o.excess_slack_pct if o else float("nan"),
                        ratio,
                    ]
                )
            self.verdicts[trace] = (
                None if best_ratio is None or math.isnan(best_ratio) else best_ratio <= 1 / 3
            )

    def rows(self) -> list[list[object]]:
        return self.rows_

    COLUMNS = (
        "trace",
        "peer (default)",
        "congested %",
        "excess slack %",
        "headroom, congested <= peer's",
        "congested %",
        "excess slack %",
        "ratio",
    )

    def line(self) -> str:
        parts = [
            f"{t} {'n/a' if v is None else ('yes' if v else 'no')}"
            for t, v in self.verdicts.items()
        ]
        return "goal: excess slack <= 1/3 of the least-slack peer's at no more congestion: " + (
            ", ".join(parts)
        )
