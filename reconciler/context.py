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
    "DEFAULT_LEASE_TTL",
    "LEASE_TTL_ENV",
    "ActuationOutcome",
    "CycleSteps",
    "CycleStore",
    "LeaseLostError",
    "RunContext",
    "StackActuator",
    "default_holder",
    "lease_ttl_setting",
]

#: The cycle lease's time to live. Short, so that a holder killed with ``kill -9`` is replaced
#: within about this long; a live holder renews it every ttl/3 from a heartbeat thread.
DEFAULT_LEASE_TTL = timedelta(seconds=60)
LEASE_TTL_ENV = "HEADROOM_LEASE_TTL"
_LEASE_TTL_RANGE = (5.0, 3600.0)


class LeaseLostError(RuntimeError):
    """The cycle lease is no longer this holder's (it expired, or another holder took it):
    the cycle stops and records nothing."""


def lease_ttl_setting(environ: Mapping[str, str] | None = None) -> timedelta:
    """The lease ttl: ``HEADROOM_LEASE_TTL`` seconds (5 to 3600) when set, else 60 s."""
    env = os.environ if environ is None else environ
    raw = (env.get(LEASE_TTL_ENV) or "").strip()
    if not raw:
        return DEFAULT_LEASE_TTL
    low, high = _LEASE_TTL_RANGE
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not low <= seconds <= high:  # also false for nan
        raise ValueError(
            f"{LEASE_TTL_ENV}={raw!r} is not a number of seconds from {low:g} to {high:g} "
            f"(default {DEFAULT_LEASE_TTL.total_seconds():g})"
        )
    return timedelta(seconds=seconds)


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
    previous cycle's allocation as the last good one. It re-checks the lease inside that
    transaction and raises ``LeaseLostError``, writing nothing, when it is no longer ours.
    """

    def acquire_lease(self, holder: str, ttl: timedelta) -> bool:
        """Take (or renew) the single cycle lease; False when another live holder has it."""
        ...

    def renew_lease(self, holder: str, ttl: timedelta) -> bool:
        """Extend our live lease, before each step and from the heartbeat thread every ttl/3;
        False when it expired or was taken."""
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
    lease_ttl: timedelta = DEFAULT_LEASE_TTL
    #: Called with the report and the steps' outputs after the cycle is recorded (demo, report).
    observer: Callable[[RunReport, CycleOutputs], None] | None = None
