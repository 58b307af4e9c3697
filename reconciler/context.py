"""Everything a cycle needs, passed in: clock, provider, policy, stores, actuator, ``dry_run``.

Nothing in the cycle reaches for a global client or the wall clock; tests and the demo build a
``RunContext`` with fakes or a sandbox and call ``run_once`` on it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from providers.base import CloudProvider
from reconciler.clock import Clock

if TYPE_CHECKING:
    from reconciler.loop import CycleOutputs, RunReport
    from reconciler.remediation.types import RemediationResult
    from reconciler.steps.types import (
        Allocation,
        Analysis,
        ApplyResult,
        Collected,
        ForecastSet,
        GroupSet,
        Plan,
    )

__all__ = ["CycleSteps", "CycleStore", "RunContext", "default_holder"]


class CycleSteps(Protocol):
    """The eight steps, each a function of its inputs (``reconciler.steps`` adapts the packages)."""

    def collect(self, ctx: RunContext) -> Collected: ...

    def analyze(self, ctx: RunContext, collected: Collected) -> Analysis: ...

    def compose(self, ctx: RunContext, analysis: Analysis) -> GroupSet: ...

    def forecast(self, ctx: RunContext, groups: GroupSet) -> ForecastSet: ...

    def allocate(self, ctx: RunContext, groups: GroupSet, forecasts: ForecastSet) -> Allocation: ...

    def plan(
        self, ctx: RunContext, groups: GroupSet, forecasts: ForecastSet, allocation: Allocation
    ) -> Plan: ...

    def apply(self, ctx: RunContext, plan: Plan) -> ApplyResult: ...

    def remediate(
        self, ctx: RunContext, groups: GroupSet, forecasts: ForecastSet, allocation: Allocation
    ) -> RemediationResult: ...


class CycleStore(Protocol):
    """What the loop needs from the state store: a lease, the last good allocation, a record.

    ``record`` writes a whole cycle in one transaction, so a process killed mid-cycle leaves the
    previous cycle's allocation as the last good one.
    """

    def acquire_lease(self, holder: str, ttl: timedelta) -> bool:
        """Take (or renew) the single cycle lease; False when another live holder has it."""
        ...

    def renew_lease(self, holder: str, ttl: timedelta) -> bool:
        """Extend our live lease before each step; False when it expired or was taken."""
        ...

    def release_lease(self, holder: str) -> None: ...

    def last_allocation(self) -> Allocation | None: ...

    def previous_state(self) -> dict[str, Any]:
        """State the last good cycle left for the next (``composer``, ``breaker``)."""
        ...

    def record(self, report: RunReport, outputs: CycleOutputs) -> None: ...


def default_holder() -> str:
    """A lease holder name unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class RunContext:
    """The inputs of one cycle. ``policy``, ``history`` and ``models`` are the packages' objects."""

    clock: Clock
    provider: CloudProvider
    policy: Any
    history: Any
    store: CycleStore
    steps: CycleSteps
    models: Any = None
    actuator: Any = None
    dry_run: bool = False
    holder: str = field(default_factory=default_holder)
    lease_ttl: timedelta = timedelta(minutes=15)
    #: Called with the report and the steps' outputs after the cycle is recorded (demo, report).
    observer: Callable[[RunReport, CycleOutputs], None] | None = None
