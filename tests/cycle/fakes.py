"""Small step fakes and an in-memory cycle store for testing the loop on its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import polars as pl

from reconciler.context import RunContext
from reconciler.loop import CycleOutputs, RunReport
from reconciler.remediation.types import RemediationResult
from reconciler.steps.types import (
    Allocation,
    Analysis,
    ApplyOutcome,
    ApplyResult,
    Collected,
    CommandView,
    ForecastSet,
    Group,
    GroupSet,
    Plan,
    PoolAllocation,
)

T0 = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass
class MemoryStore:
    holder: str | None = None
    expires: datetime | None = None
    clock_now: datetime = T0
    runs: list[RunReport] = field(default_factory=list)
    allocations: list[Allocation] = field(default_factory=list)

    def acquire_lease(self, holder: str, ttl: timedelta) -> bool:
        live = (
            self.holder is not None and self.expires is not None and self.expires > self.clock_now
        )
        if live and self.holder != holder:
            return False
        self.holder, self.expires = holder, self.clock_now + ttl
        return True

    def renew_lease(self, holder: str, ttl: timedelta) -> bool:
        if self.holder != holder or self.expires is None or self.expires <= self.clock_now:
            return False
        self.expires = self.clock_now + ttl
        return True

    def release_lease(self, holder: str) -> None:
        if self.holder == holder:
            self.holder = None

    def previous_state(self) -> dict:
        return {}

    def last_allocation(self) -> Allocation | None:
        return self.allocations[-1] if self.allocations else None

    def record(self, report: RunReport, outputs: CycleOutputs) -> None:
        self.runs.append(report)
        if report.ok and outputs.allocation is not None:
            self.allocations.append(outputs.allocation)


@dataclass
class FakeSteps:
    fail_at: str | None = None
    calls: list[str] = field(default_factory=list)

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        if name == self.fail_at:
            raise RuntimeError(f"injected failure in {name}")

    def collect(self, ctx: RunContext) -> Collected:
        self._enter("collect")
        now = ctx.clock.now()
        return Collected(now - timedelta(minutes=5), now, 2, 10, 4)

    def analyze(self, ctx: RunContext, collected: Collected) -> Analysis:
        self._enter("analyze")
        return Analysis(nodes=2, edges=1)

    def compose(self, ctx: RunContext, analysis: Analysis) -> GroupSet:
        self._enter("compose")
        return GroupSet((Group("g1", "application", ("i-1", "i-2"), "us-east-1"),))

    def forecast(self, ctx: RunContext, groups: GroupSet) -> ForecastSet:
        self._enter("forecast")
        frame = pl.DataFrame(
            {
                "group_id": ["g1"],
                "metric": ["network_gbps"],
                "ts": [ctx.clock.now()],
                "p50": [1.0],
                "p90": [1.5],
                "p99": [2.0],
            }
        )
        return ForecastSet(frame, {"g1": "lightgbm"})

    def allocate(self, ctx: RunContext, groups: GroupSet, forecasts: ForecastSet) -> Allocation:
        self._enter("allocate")
        return Allocation(
            ctx.clock.now(),
            {"g1": 1.5},
            (PoolAllocation("us-east-1", "global", 10.0, 1.5),),
            {"g1": "us-east-1"},
        )

    def plan(self, ctx, groups, forecasts, allocation) -> Plan:
        self._enter("plan")
        return Plan((CommandView("bandwidth_tier", "g1", 1.0, 1.5, "p90 forecast 1.5 Gbps"),))

    def apply(
        self, ctx: RunContext, groups: GroupSet, allocation: Allocation, plan: Plan
    ) -> ApplyResult:
        self._enter("apply")
        return ApplyResult(ApplyOutcome.STOPPED_AT_PLAN, "no pulumi CLI")

    def remediate(self, ctx, groups, forecasts, allocation, plan, applied) -> RemediationResult:
        self._enter("remediate")
        return RemediationResult((), (), (), allocation)
