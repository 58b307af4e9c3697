"""Request and response bodies of the HTTP API (pydantic; these shape the OpenAPI document)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from reconciler.allocation.usage import member_split, utilisation
from reconciler.api.fields import Label, MemberId, Name, PolicyClass, Text
from reconciler.api.limits import MEMBERS_CEILING
from reconciler.state import (
    AllocationRecord,
    ForecastRecord,
    GroupEventRecord,
    GroupRecord,
    PoolRecord,
)

__all__ = [
    "AccuracyOut",
    "AllocationOut",
    "BandwidthOut",
    "BandwidthOverride",
    "EventOut",
    "ForecastOut",
    "GlobalMetricsOut",
    "GroupCreate",
    "GroupKind",
    "GroupMetricsOut",
    "GroupOut",
    "GroupRename",
    "HealthOut",
    "PoolOut",
    "ResourceOut",
]


#: The kinds of group the state store knows (``reconciler.state.models.GROUP_KINDS``).
GroupKind = Literal["discovered", "manual", "tenant", "shared-services"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class GroupRename(_In):
    """The name an operator gives a group; the composer keeps it every cycle from then on."""

    name: Name
    reason: Text = "renamed by operator"


class GroupCreate(_In):
    """A manual override group: who is in it, and how much bandwidth or which policy class."""

    name: Name
    kind: Literal["manual", "tenant"] = "manual"
    members: list[MemberId] = Field(
        default_factory=list,
        max_length=MEMBERS_CEILING,
        description="resource ids; at most `max_group_members` (5,000 unless configured)",
    )
    tag_selector: dict[Label, Label] | None = Field(default=None, max_length=50)
    pinned_gbps: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    policy_class: PolicyClass | None = None

    @field_validator("members")
    @classmethod
    def _distinct(cls, members: list[str]) -> list[str]:
        blank = [i for i, m in enumerate(members) if not m.strip()]
        if blank:
            raise ValueError(f"member ids at positions {blank} are empty")
        dupes = sorted(m for m, n in Counter(members).items() if n > 1)
        if dupes:
            raise ValueError(f"members listed twice: {', '.join(dupes)}")
        return members

    @model_validator(mode="after")
    def _complete(self) -> GroupCreate:
        if not self.members and not self.tag_selector:
            raise ValueError("give members or a tag_selector (or both)")
        if self.pinned_gbps is None and self.policy_class is None:
            raise ValueError("give pinned_gbps or a policy_class (or both)")
        return self


class BandwidthOverride(_In):
    gbps: float = Field(ge=0, le=1_000_000, allow_inf_nan=False)
    reason: Text = "operator override"


class ResourceOut(BaseModel):
    """A member as the specification's ``Resource``: ``allocatedBandwidth`` and
    ``currentTraffic`` (``reconciler.allocation.usage``: the group's allocation split by the
    members' measured share, evenly when nothing was measured; the member's measured Gbps)."""

    id: str
    allocated_gbps: float | None = Field(description="allocatedBandwidth")
    current_traffic_gbps: float | None = Field(description="currentTraffic")


class GroupOut(BaseModel):
    id: str
    name: str
    kind: str
    members: list[str]
    member_count: int
    pinned: bool
    pinned_gbps: float | None
    policy_class: str | None
    tag_selector: dict[str, str] | None
    confidence: float | None
    explanation: dict[str, Any] | None
    created_at: datetime
    dissolved_at: datetime | None
    allocated_gbps: float | None = None
    used_gbps: float | None = Field(default=None, description="measured at the latest cycle")
    utilisation: float | None = Field(default=None, description="used / allocated")
    resources: list[ResourceOut] = Field(default_factory=list)

    @classmethod
    def of(
        cls,
        g: GroupRecord,
        allocated: float | None = None,
        current: AllocationRecord | None = None,
    ) -> GroupOut:
        """``current``: the allocation in force, for measured use and the per-member figures."""
        used = current.used_gbps if current is not None else None
        member_used = (current.member_used_gbps if current is not None else None) or {}
        shares = (
            member_split(allocated, member_used, g.members)
            if allocated is not None and current is not None
            else {}
        )
        return cls(
            id=g.id,
            name=g.name,
            kind=g.kind,
            members=list(g.members),
            member_count=len(g.members),
            pinned=g.pinned,
            pinned_gbps=g.pinned_gbps,
            policy_class=g.policy_class,
            tag_selector=g.tag_selector,
            confidence=g.confidence,
            explanation=g.explanation,
            created_at=g.created_at,
            dissolved_at=g.dissolved_at,
            allocated_gbps=allocated,
            used_gbps=used,
            utilisation=utilisation(used, allocated),
            resources=[
                ResourceOut(
                    id=m,
                    allocated_gbps=shares.get(m),
                    current_traffic_gbps=member_used.get(m) if member_used else None,
                )
                for m in g.members
            ],
        )


class PoolOut(BaseModel):
    pool: str
    parent: str | None
    capacity_gbps: float
    allocated_gbps: float
    free_gbps: float
    used_gbps: float | None
    utilisation: float | None = Field(description="used / allocated, when use was measured")

    @classmethod
    def of(cls, p: PoolRecord) -> PoolOut:
        return cls(
            pool=p.pool,
            parent=p.parent,
            capacity_gbps=p.capacity_gbps,
            allocated_gbps=p.allocated_gbps,
            free_gbps=max(0.0, p.free_gbps),
            used_gbps=p.used_gbps,
            utilisation=utilisation(p.used_gbps, p.allocated_gbps),
        )


class BandwidthOut(BaseModel):
    group_id: str
    pool: str | None
    allocated_gbps: float | None
    used_gbps: float | None
    pinned: bool
    pinned_gbps: float | None
    ledger: list[str]
    run_id: str | None
    at: datetime | None
    pool_state: PoolOut | None


class AllocationOut(BaseModel):
    run_id: str
    at: datetime | None
    pool: str
    gbps: float
    used_gbps: float | None
    utilisation: float | None = Field(description="used / allocated, when use was measured")

    @classmethod
    def of(cls, a: AllocationRecord) -> AllocationOut:
        return cls(
            run_id=a.run_id,
            at=a.at,
            pool=a.pool,
            gbps=a.gbps,
            used_gbps=a.used_gbps,
            utilisation=utilisation(a.used_gbps, a.gbps),
        )


class ForecastOut(BaseModel):
    metric: str
    ts: datetime
    quantiles: dict[str, float]
    median: float | None
    interval: tuple[float, float] | None = Field(
        description="(low, high): the widest band forecast, between `interval_levels`"
    )
    interval_levels: tuple[float, float] | None
    model_kind: str
    model_version: str

    @classmethod
    def of(cls, f: ForecastRecord) -> ForecastOut:
        b = f.interval()
        return cls(
            metric=f.metric,
            ts=f.ts,
            quantiles=f.quantiles,
            median=f.quantiles.get("0.5"),
            interval=(b[2], b[3]) if b else None,
            interval_levels=(float(b[0]), float(b[1])) if b else None,
            model_kind=f.model_kind,
            model_version=f.model_version,
        )


class AccuracyOut(BaseModel):
    metric: str
    points: int
    mean_absolute_error: float | None = Field(description="|actual - p50| averaged")
    interval_coverage: float | None = Field(
        description="share of actuals inside the widest forecast band of each point"
    )
    model_kinds: list[str]


class EventOut(BaseModel):
    kind: str
    reason: str
    at: datetime
    details: dict[str, Any] | None

    @classmethod
    def of(cls, e: GroupEventRecord) -> EventOut:
        return cls(kind=e.kind, reason=e.reason, at=e.at, details=e.details)


class GroupMetricsOut(BaseModel):
    group: GroupOut
    traffic: list[AllocationOut] = Field(description="allocation and measured use per run")
    forecasts: list[ForecastOut]
    accuracy: list[AccuracyOut]
    events: list[EventOut]


class GlobalMetricsOut(BaseModel):
    at: datetime | None
    global_pool: PoolOut | None
    regions: list[PoolOut]
    groups: int
    allocated_gbps: float


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
