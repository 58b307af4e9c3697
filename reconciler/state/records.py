"""Plain typed records that go into and come out of the state store.

Callers (the cycle, the API) never see SQLAlchemy rows: they pass and receive these frozen
dataclasses, so the store can change its tables without changing its callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reconciler.state.models import COMMAND_STATUSES, EVENT_KINDS, GROUP_KINDS, TOKEN_SCOPES

__all__ = [
    "AccuracyRecord",
    "AllocationRecord",
    "CommandRecord",
    "ForecastRecord",
    "GroupEventRecord",
    "GroupMetrics",
    "GroupRecord",
    "PoolRecord",
    "PreAllocationRecord",
    "RunRecord",
    "TokenRecord",
    "band",
]


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} {value!r} is not one of {', '.join(allowed)}")


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    started: datetime
    status: str
    finished: datetime | None = None
    dry_run: bool = False
    step_timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class GroupRecord:
    """A resource group with its current members (discovered, manual, tenant or shared)."""

    id: str
    name: str
    kind: str
    created_at: datetime
    members: tuple[str, ...] = ()
    pinned: bool = False
    policy_class: str | None = None
    pinned_gbps: float | None = None
    tag_selector: dict[str, str] | None = None
    confidence: float | None = None
    explanation: dict[str, Any] | None = None
    dissolved_at: datetime | None = None

    def __post_init__(self) -> None:
        _check(self.kind, GROUP_KINDS, f"group {self.id}: kind")
        if self.pinned_gbps is not None and self.pinned_gbps < 0:
            raise ValueError(f"group {self.id}: pinned_gbps {self.pinned_gbps} is negative")


@dataclass(frozen=True, slots=True)
class GroupEventRecord:
    group_id: str
    kind: str
    reason: str
    at: datetime
    details: dict[str, Any] | None = None
    run_id: str | None = None

    def __post_init__(self) -> None:
        _check(self.kind, EVENT_KINDS, f"event for group {self.group_id}: kind")


@dataclass(frozen=True, slots=True)
class ForecastRecord:
    """One forecast point: quantile level (as text, e.g. ``"0.9"``) to value."""

    group_id: str
    metric: str
    ts: datetime
    quantiles: dict[str, float]
    model_kind: str
    model_version: str

    def interval(self) -> tuple[str, str, float, float] | None:
        """``(low level, high level, low value, high value)``: the widest band forecast."""
        return band(self.quantiles)


def band(quantiles: dict[str, float]) -> tuple[str, str, float, float] | None:
    """The lowest and highest quantile levels present (at least two levels), with values."""
    levels = sorted(quantiles, key=float)
    if len(levels) < 2:
        return None
    return levels[0], levels[-1], quantiles[levels[0]], quantiles[levels[-1]]


@dataclass(frozen=True, slots=True)
class AllocationRecord:
    group_id: str
    pool: str
    gbps: float
    run_id: str = ""
    at: datetime | None = None
    used_gbps: float | None = None
    ledger: dict[str, Any] | None = None
    #: each member's measured Gbps at the same step as ``used_gbps`` (resource id -> Gbps)
    member_used_gbps: dict[str, float] | None = None


@dataclass(frozen=True, slots=True)
class PoolRecord:
    """A pool's state: ``parent`` is None for the global pool, else the parent pool's name."""

    pool: str
    capacity_gbps: float
    allocated_gbps: float
    parent: str | None = None
    used_gbps: float | None = None
    at: datetime | None = None
    rate_gbps: float | None = None
    demand_gbps: float | None = None
    borrowed_gbps: float | None = None
    lent_gbps: float | None = None

    @property
    def free_gbps(self) -> float:
        return self.capacity_gbps - self.allocated_gbps


@dataclass(frozen=True, slots=True)
class CommandRecord:
    kind: str
    target: str
    reason: str
    before: Any = None
    after: Any = None
    evidence: dict[str, Any] | None = None
    status: str = "planned"
    outcome: str | None = None
    id: int | None = None
    run_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        _check(self.status, COMMAND_STATUSES, f"command {self.kind} on {self.target}: status")


@dataclass(frozen=True, slots=True)
class PreAllocationRecord:
    """Predicted need versus current allocation for a user/tenant group (None: not predicted)."""

    group_id: str
    cpu_need: float | None
    cpu_allocated: float | None
    memory_need_gib: float | None
    memory_allocated_gib: float | None
    network_need_gbps: float | None
    network_allocated_gbps: float | None
    io_need_iops: float | None
    io_allocated_iops: float | None
    latency_need_ms: float | None = None
    latency_allocated_ms: float | None = None
    at: datetime | None = None
    io_need_mbps: float | None = None
    io_allocated_mbps: float | None = None
    run_id: str | None = None


@dataclass(frozen=True, slots=True)
class AccuracyRecord:
    group_id: str
    metric: str
    ts: datetime
    predicted: dict[str, float]
    actual: float
    model_kind: str


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    name: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        _check(self.scope, TOKEN_SCOPES, f"token {self.id}: scope")


@dataclass(frozen=True, slots=True)
class GroupMetrics:
    """Everything ``GET /metrics/group/{id}`` shows, read in a fixed handful of queries."""

    group: GroupRecord
    allocations: tuple[AllocationRecord, ...]
    forecasts: tuple[ForecastRecord, ...]
    accuracy: tuple[AccuracyRecord, ...]
    events: tuple[GroupEventRecord, ...]
