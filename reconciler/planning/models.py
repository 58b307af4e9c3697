"""The planner's plain-data input and output: groups, forecasts, commands and their evidence."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from policies.schema import Policy
from providers.models import InstanceType
from reconciler.allocation.models import AllocationResult
from reconciler.users.models import UserSignals

__all__ = [
    "Command",
    "CommandKind",
    "CommandStatus",
    "Evidence",
    "Member",
    "MetricForecast",
    "Plan",
    "PlanGroup",
    "PlanInput",
    "PlanMetric",
    "SkippedCommand",
]


class CommandKind(StrEnum):
    RESIZE = "resize"
    SCALE = "scale"
    BANDWIDTH_TIER = "bandwidth_tier"
    EDGE_CACHE = "edge_cache"
    ROUTING = "routing"
    PREALLOCATE = "preallocate"


class CommandStatus(StrEnum):
    """``proposed`` may be applied; ``recorded`` is forecast-only; the last waits for a person."""

    PROPOSED = "proposed"
    RECORDED = "recorded"
    NEEDS_APPROVAL = "needs_approval"


class PlanMetric(StrEnum):
    """Group-level forecast metrics the planner reads (totals over a group's members)."""

    NETWORK_GBPS = "network_gbps"
    CPU_VCPU = "cpu_vcpu"
    MEMORY_GIB = "memory_gib"
    IO_MBPS = "io_mbps"
    LATENCY_MS = "latency_ms"


class Evidence(BaseModel):
    """Why a command exists: the forecast and its interval, the policy rule, the pool ledger."""

    model_config = ConfigDict(frozen=True)

    metric: str | None = None
    forecast: dict[str, float] = Field(default_factory=dict)
    interval: tuple[float, float] | None = None
    quantile: float | None = None
    peak_at: datetime | None = None
    policy_rule: str = ""
    ledger: list[str] = Field(default_factory=list)


class Command(BaseModel):
    """One intended change. Data, not a side effect: the apply step decides what to do with it.

    ``resources_changed`` counts fleet instances touched (resize 1, scale the count difference;
    settings such as tiers, caches, weights and records count 0) for the per-cycle budget.
    """

    model_config = ConfigDict(frozen=True)

    kind: CommandKind
    target: str
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str
    evidence: Evidence = Field(default_factory=Evidence)
    issued_at: datetime
    not_before: datetime | None = None
    status: CommandStatus = CommandStatus.PROPOSED
    group_id: str | None = None
    region: str | None = None
    resources_changed: int = 1
    urgency: float = 0.0
    increase: bool = False

    @property
    def is_noop(self) -> bool:
        return self.before == self.after


class SkippedCommand(BaseModel):
    """A command the guards held back, and why (cooldown, minimum change, budget...)."""

    model_config = ConfigDict(frozen=True)

    command: Command
    reason: str


class Member(BaseModel):
    """A group member as the planner sees it."""

    model_config = ConfigDict(frozen=True)

    resource_id: str
    instance_type: str
    region: str
    asg_name: str | None = None
    protected: bool = False
    zone: str | None = None  # availability zone (where a capacity reservation would go)


class PlanGroup(BaseModel):
    """A group with its members and current settings (tier, ASG desired counts, tenant)."""

    model_config = ConfigDict(frozen=True)

    group_id: str
    region: str
    members: list[Member] = Field(default_factory=list)
    group_class: str | None = None
    tenant: str | None = None
    bandwidth_tier: str | None = None
    asg_desired: dict[str, int] = Field(default_factory=dict)

    def asg_count(self, asg: str) -> int:
        """Desired count of an ASG: as given, else the number of members in it."""
        if asg in self.asg_desired:
            return self.asg_desired[asg]
        return sum(1 for m in self.members if m.asg_name == asg)


class MetricForecast(BaseModel):
    """Quantiles of a group metric over the horizon (its peak), and when that peak is expected."""

    model_config = ConfigDict(frozen=True)

    quantiles: dict[str, float]
    peak_at: datetime | None = None

    @field_validator("quantiles", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                (f"p{round(k * 100):g}" if isinstance(k, float) else k): v for k, v in value.items()
            }
        return value


class PlanInput(BaseModel):
    """Everything one planning pass reads; plain data so tests and the simulator build it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    policy: Policy
    groups: list[PlanGroup]
    forecasts: dict[str, dict[PlanMetric, MetricForecast]]
    allocations: AllocationResult | None = None
    catalog: dict[str, InstanceType]
    history: list[Command] = Field(default_factory=list)
    now: datetime
    edge_nodes: dict[str, int] = Field(default_factory=dict)
    routing_weights: dict[str, int] = Field(default_factory=dict)
    preallocations: dict[str, dict[PlanMetric, float]] = Field(default_factory=dict)
    #: what request logs say (``reconciler.users``); None: the policy has no ``users`` section
    users: UserSignals | None = None


class Plan(BaseModel):
    """The planner's output: commands to apply (or record) and the ones held back."""

    model_config = ConfigDict(frozen=True)

    created_at: datetime
    commands: list[Command]
    skipped: list[SkippedCommand] = Field(default_factory=list)

    def of_kind(self, kind: CommandKind) -> list[Command]:
        return [c for c in self.commands if c.kind == kind]
