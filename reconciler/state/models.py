"""SQLAlchemy 2 table models for the reconciler's state (runs, lease, groups, plans, tokens).

JSON columns use the portable ``sqlalchemy.JSON`` type (TEXT on SQLite, json on PostgreSQL) and
timestamps are timezone-aware UTC on both back ends (``UTCDateTime``), so the same repository
code and migrations run against SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "COMMAND_STATUSES",
    "EVENT_KINDS",
    "GROUP_KINDS",
    "PENDING_COMMAND_STATUSES",
    "RUN_STATUSES",
    "TOKEN_SCOPES",
    "AccuracyRow",
    "AllocationRow",
    "ApiTokenRow",
    "Base",
    "CommandRow",
    "ComposerSnapshotRow",
    "ForecastRow",
    "GroupEventRow",
    "GroupRow",
    "LeaseRow",
    "MembershipRow",
    "PoolStateRow",
    "PreAllocationRow",
    "RunRow",
    "StateVersionRow",
    "UTCDateTime",
]

GROUP_KINDS = ("discovered", "manual", "tenant", "shared-services")
EVENT_KINDS = ("formed", "grew", "shrank", "merged", "split", "dissolved", "overridden")
#: ``planned``: recorded, not applied (stopped at the plan, forecast-only, dry run);
#: ``scheduled``: waits for its ``not_before``; ``needs_approval`` waits for a person and
#: becomes ``approved``; the next cycle applies ``scheduled`` (when due) and ``approved`` ones.
COMMAND_STATUSES = (
    "planned",
    "applied",
    "failed",
    "skipped",
    "scheduled",
    "needs_approval",
    "approved",
)
#: Commands a later cycle may still apply (or supersede).
PENDING_COMMAND_STATUSES = ("scheduled", "needs_approval", "approved")
RUN_STATUSES = ("running", "succeeded", "failed")
TOKEN_SCOPES = ("read", "write")

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value.isoformat()} has no timezone; pass UTC times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), Any: JSON()}


class StateVersionRow(Base):
    """One row whose ``version`` every data-changing transaction increments.

    Readers (the API's response cache) compare it to know whether anything they showed changed,
    whichever process wrote.
    """

    __tablename__ = "state_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (CheckConstraint(_in("status", RUN_STATUSES), name="status"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started: Mapped[datetime] = mapped_column(index=True)
    finished: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    step_timings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class LeaseRow(Base):
    """One row per named lease; taken and renewed only by compare-and-set updates."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class GroupRow(Base):
    __tablename__ = "groups"
    __table_args__ = (CheckConstraint(_in("kind", GROUP_KINDS), name="kind"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    policy_class: Mapped[str | None] = mapped_column(String(64))
    pinned_gbps: Mapped[float | None] = mapped_column(Float)
    tag_selector: Mapped[Any | None] = mapped_column(JSON)
    confidence: Mapped[float | None] = mapped_column(Float)
    explanation: Mapped[Any | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    dissolved_at: Mapped[datetime | None] = mapped_column(index=True)


class MembershipRow(Base):
    __tablename__ = "memberships"
    __table_args__ = (
        Index("ix_memberships_group_until", "group_id", "until"),
        Index("ix_memberships_resource", "resource_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    resource_id: Mapped[str] = mapped_column(String(128))
    since: Mapped[datetime]
    until: Mapped[datetime | None]


class GroupEventRow(Base):
    __tablename__ = "group_events"
    __table_args__ = (
        CheckConstraint(_in("kind", EVENT_KINDS), name="kind"),
        Index("ix_group_events_group_at", "group_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]
    details: Mapped[Any | None] = mapped_column(JSON)
    run_id: Mapped[str | None] = mapped_column(String(64))


class ComposerSnapshotRow(Base):
    __tablename__ = "composer_snapshots"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    state: Mapped[Any] = mapped_column(JSON)


class ForecastRow(Base):
    __tablename__ = "forecasts"
    __table_args__ = (Index("ix_forecasts_group_metric_made", "group_id", "metric", "made_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(String(64))
    group_id: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime]
    quantiles: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_kind: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    made_at: Mapped[datetime]


class AllocationRow(Base):
    __tablename__ = "allocations"
    __table_args__ = (
        Index("ix_allocations_group_at", "group_id", "at"),
        Index("ix_allocations_run", "run_id"),
        Index("ix_allocations_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64))
    group_id: Mapped[str] = mapped_column(String(64))
    pool: Mapped[str] = mapped_column(String(128))
    gbps: Mapped[float] = mapped_column(Float)
    used_gbps: Mapped[float | None] = mapped_column(Float)
    ledger: Mapped[Any | None] = mapped_column(JSON)
    at: Mapped[datetime]
    #: resource id -> Gbps measured at the cycle's latest complete step (migration 0005)
    member_used_gbps: Mapped[Any | None] = mapped_column(JSON)


class PoolStateRow(Base):
    __tablename__ = "pool_states"
    __table_args__ = (
        Index("ix_pool_states_run", "run_id"),
        Index("ix_pool_states_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64))
    pool: Mapped[str] = mapped_column(String(128))
    parent: Mapped[str | None] = mapped_column(String(128))
    capacity_gbps: Mapped[float] = mapped_column(Float)
    allocated_gbps: Mapped[float] = mapped_column(Float)
    used_gbps: Mapped[float | None] = mapped_column(Float)
    rate_gbps: Mapped[float | None] = mapped_column(Float)
    demand_gbps: Mapped[float | None] = mapped_column(Float)
    borrowed_gbps: Mapped[float | None] = mapped_column(Float)
    lent_gbps: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime]


class CommandRow(Base):
    __tablename__ = "commands"
    __table_args__ = (
        CheckConstraint(_in("status", COMMAND_STATUSES), name="status"),
        Index("ix_commands_run", "run_id"),
        Index("ix_commands_target", "target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    before: Mapped[Any | None] = mapped_column(JSON)
    after: Mapped[Any | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[Any | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PreAllocationRow(Base):
    """Predicted need versus current allocation for a user/tenant group, per cycle.

    A metric that was not predicted is NULL (both its need and its allocation)."""

    __tablename__ = "pre_allocations"
    __table_args__ = (Index("ix_pre_allocations_group_at", "group_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64))
    group_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    cpu_need: Mapped[float | None] = mapped_column(Float)
    cpu_allocated: Mapped[float | None] = mapped_column(Float)
    memory_need_gib: Mapped[float | None] = mapped_column(Float)
    memory_allocated_gib: Mapped[float | None] = mapped_column(Float)
    network_need_gbps: Mapped[float | None] = mapped_column(Float)
    network_allocated_gbps: Mapped[float | None] = mapped_column(Float)
    io_need_iops: Mapped[float | None] = mapped_column(Float)
    io_allocated_iops: Mapped[float | None] = mapped_column(Float)
    latency_need_ms: Mapped[float | None] = mapped_column(Float)
    latency_allocated_ms: Mapped[float | None] = mapped_column(Float)
    io_need_mbps: Mapped[float | None] = mapped_column(Float)
    io_allocated_mbps: Mapped[float | None] = mapped_column(Float)


class AccuracyRow(Base):
    __tablename__ = "accuracy"
    __table_args__ = (Index("ix_accuracy_group_metric_ts", "group_id", "metric", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime]
    predicted: Mapped[dict[str, Any]] = mapped_column(JSON)
    actual: Mapped[float] = mapped_column(Float)
    model_kind: Mapped[str] = mapped_column(String(64))


class ApiTokenRow(Base):
    """An API token: only a salted SHA-256 of its secret is kept."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(_in("scope", TOKEN_SCOPES), name="scope"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(8))
    salt: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
