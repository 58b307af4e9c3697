"""Everything a cycle needs, passed in: clock, provider, policy, stores, actuator, ``dry_run``.

Nothing in the cycle reaches for a global client or the wall clock; tests and the demo build a
``RunContext`` with fakes or a sandbox and call ``run_once`` on it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from providers.base import CloudProvider
from reconciler.clock import Clock

if TYPE_CHECKING:
    from forecasting.cache import ModelCache
    from infra.desired_state import DesiredState
    from policies.schema import Policy
    from reconciler.history import HistoryStore
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

__all__ = [
    "ActuationOutcome",
    "CycleSteps",
    "CycleStore",
    "RunContext",
    "StackActuator",
    "default_holder",
]


class ActuationOutcome(Protocol):
    """What an actuator's ``apply`` reports: its status (``applied``, ``no_changes``,
    ``previewed``, ``locked``, ``failed``), a message and resource counts per operation."""

    @property
    def status(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def counts(self) -> Mapping[str, int]: ...


class StackActuator(Protocol):
    """What the apply step needs to put a desired state on the stack
    (``reconciler.actuate.Actuator``; tests and the replay pass stand-ins)."""

    def open(self) -> object: ...

    def current_desired_state(self, stack: Any) -> str | None: ...  # Any: its own handle

    def apply(self, desired: DesiredState, *, dry_run: bool = False) -> ActuationOutcome: ...


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

    def apply(
        self, ctx: RunContext, groups: GroupSet, allocation: Allocation, plan: Plan
    ) -> ApplyResult: ...

    def remediate(
        self,
        ctx: RunContext,
        groups: GroupSet,
        forecasts: ForecastSet,
        allocation: Allocation,
        plan: Plan,
        applied: ApplyResult,
    ) -> RemediationResult:
        """Detect congestion and missed forecasts; borrow and scale act through the apply path
        on top of what ``applied`` put in the desired state."""
        ...


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
    """The inputs of one cycle: typed collaborators, nothing reached for globally.

    ``models`` keeps fitted forecasters between the cycles of one process (None: every cycle
    fits); ``actuator`` None stops the cycle at the plan."""

    clock: Clock
    provider: CloudProvider
    policy: Policy
    history: HistoryStore
    store: CycleStore
    steps: CycleSteps
    models: ModelCache | None = None
    actuator: StackActuator | None = None
    dry_run: bool = False
    holder: str = field(default_factory=default_holder)
    lease_ttl: timedelta = timedelta(minutes=15)
    #: Called with the report and the steps' outputs after the cycle is recorded (demo, report).
    observer: Callable[[RunReport, CycleOutputs], None] | None = None
