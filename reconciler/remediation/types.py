"""Remediation's data: congestion signals, corrective actions, and the circuit breaker's modes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reconciler.steps.types import Allocation, ApplyResult, Plan

__all__ = [
    "Action",
    "ActionKind",
    "Congestion",
    "GroupObservation",
    "RemediationConfig",
    "RemediationResult",
    "Signal",
]


class Signal(StrEnum):
    UTILISATION = "utilisation"  # use of the allocation above a threshold for N points
    ALLOWANCE_EXCEEDED = "allowance_exceeded"  # ENA bw/pps allowance-exceeded counters rising
    ABOVE_FORECAST = "above_forecast"  # actual demand above the forecast's upper quantile


class ActionKind(StrEnum):
    BORROW = "borrow"  # take unused bandwidth from the pool or its siblings, at once
    RECOMPOSE = "recompose"  # membership no longer matches traffic: re-run the composer
    SCALE = "scale"  # what borrowing could not cover: add capacity
    REACTIVE = "reactive"  # circuit breaker opened: size from recent use, not the forecast
    PREDICTIVE = "predictive"  # circuit breaker closed again


class RemediationConfig(BaseModel):
    """Thresholds; defaults follow common autoscaler practice (80 % for 3 of 5-minute points)."""

    model_config = ConfigDict(extra="forbid")

    utilisation_threshold: float = Field(default=0.8, gt=0, le=2)
    points: int = Field(default=3, ge=1)
    allowance_min_increase: float = Field(default=1.0, ge=0)
    above_forecast_points: int = Field(default=2, ge=1)
    borrow_margin: float = Field(default=0.2, ge=0)
    drift_threshold: float = Field(default=0.35, gt=0, le=1)
    breaker_window: int = Field(default=6, ge=1)
    breaker_misses: int = Field(default=4, ge=1)
    breaker_recover: int = Field(default=6, ge=1)
    reactive_margin: float = Field(default=0.3, ge=0)


@dataclass(frozen=True)
class GroupObservation:
    """Recent points of one group, oldest first: demand (Gbps), allowance counters, forecast."""

    group_id: str
    times: tuple[datetime, ...]
    demand_gbps: tuple[float, ...]
    allowance_exceeded: tuple[float, ...] = ()
    forecast_upper_gbps: tuple[float | None, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.times)
        if len(self.demand_gbps) != n:
            raise ValueError(
                f"group {self.group_id}: {n} timestamps but {len(self.demand_gbps)} demand points"
            )
        for name in ("allowance_exceeded", "forecast_upper_gbps"):
            got = len(getattr(self, name))
            if got not in (0, n):
                raise ValueError(f"group {self.group_id}: {name} has {got} points, expected {n}")


@dataclass(frozen=True)
class Congestion:
    group_id: str
    signal: Signal
    evidence: str
    shortfall_gbps: float


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    group_id: str
    reason: str
    pool_id: str | None = None
    before_gbps: float | None = None
    after_gbps: float | None = None
    lenders: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RemediationResult:
    """What remediation found and did; ``allocation`` is the corrected one (or the input): the
    one the cycle records, so the summary's ``pools`` are the recorded pools."""

    congestion: tuple[Congestion, ...]
    actions: tuple[Action, ...]
    reactive_groups: tuple[str, ...]
    allocation: Allocation | None = None
    breaker_state: dict[str, Any] = field(default_factory=dict)
    #: the commands remediation's borrow and scale became, and what the apply path did with
    #: them (``reconciler.steps.respond``); None when nothing needed the stack
    plan: Plan | None = None
    applied: ApplyResult | None = None

    def summary(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for a in self.actions:
            kinds[str(a.kind)] = kinds.get(str(a.kind), 0) + 1
        out: dict[str, Any] = {
            "congested_groups": len({c.group_id for c in self.congestion}),
            "signals": len(self.congestion),
            "actions": kinds,
            "reactive_groups": list(self.reactive_groups),
        }
        if self.allocation is not None:  # the allocation this cycle puts in force
            out["pools"] = self.allocation.summary()["pools"]
            out["total_gbps"] = self.allocation.summary()["total_gbps"]
        if self.plan is not None:
            statuses: dict[str, int] = {}
            for o in self.applied.outcomes if self.applied else ():
                statuses[o.status] = statuses.get(o.status, 0) + 1
            out["through_stack"] = {
                "commands": len(self.plan.commands),
                "statuses": statuses,
                "outcome": str(self.applied.outcome) if self.applied else None,
            }
        return out
