"""Forecasts, allocations and pool states, commands, pre-allocation records and accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Integer, Select, bindparam, func, insert, select
from sqlalchemy.orm import Session

from reconciler.state.models import (
    COMMAND_STATUSES,
    AccuracyRow,
    AllocationRow,
    CommandRow,
    ForecastRow,
    PoolStateRow,
    PreAllocationRow,
)
from reconciler.state.records import (
    AccuracyRecord,
    AllocationRecord,
    CommandRecord,
    ForecastRecord,
    PoolRecord,
    PreAllocationRecord,
)
from reconciler.state.repo_runs import (
    NotFoundError,
    Repository,
    chunked,
    finished_not_dry_run,
    in_force,
    not_dry_run,
    settled,
)

__all__ = [
    "PlansRepository",
    "command_record",
    "finished_not_dry_run",
    "in_force",
    "not_dry_run",
    "settled",
]


def _allocation(row: Any, with_ledger: bool = True) -> AllocationRecord:
    return AllocationRecord(
        group_id=row.group_id,
        pool=row.pool,
        gbps=row.gbps,
        run_id=row.run_id,
        at=row.at,
        used_gbps=row.used_gbps,
        ledger=row.ledger if with_ledger else None,
        member_used_gbps=row.member_used_gbps,
    )


def _pool(row: PoolStateRow) -> PoolRecord:
    return PoolRecord(
        pool=row.pool,
        capacity_gbps=row.capacity_gbps,
        allocated_gbps=row.allocated_gbps,
        parent=row.parent,
        used_gbps=row.used_gbps,
        at=row.at,
        rate_gbps=row.rate_gbps,
        demand_gbps=row.demand_gbps,
        borrowed_gbps=row.borrowed_gbps,
        lent_gbps=row.lent_gbps,
    )


def _forecast(row: Any) -> ForecastRecord:
    return ForecastRecord(
        group_id=row.group_id,
        metric=row.metric,
        ts=row.ts,
        quantiles={str(k): float(v) for k, v in row.quantiles.items()},
        model_kind=row.model_kind,
        model_version=row.model_version,
    )


def command_record(row: CommandRow) -> CommandRecord:
    return CommandRecord(
        kind=row.kind,
        target=row.target,
        reason=row.reason,
        before=row.before,
        after=row.after,
        evidence=row.evidence,
        status=row.status,
        outcome=row.outcome,
        id=row.id,
        run_id=row.run_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _pre_allocation(r: PreAllocationRow) -> PreAllocationRecord:
    return PreAllocationRecord(
        group_id=r.group_id,
        cpu_need=r.cpu_need,
        cpu_allocated=r.cpu_allocated,
        memory_need_gib=r.memory_need_gib,
        memory_allocated_gib=r.memory_allocated_gib,
        network_need_gbps=r.network_need_gbps,
        network_allocated_gbps=r.network_allocated_gbps,
        io_need_iops=r.io_need_iops,
        io_allocated_iops=r.io_allocated_iops,
        latency_need_ms=r.latency_need_ms,
        latency_allocated_ms=r.latency_allocated_ms,
        at=r.at,
        io_need_mbps=r.io_need_mbps,
        io_allocated_mbps=r.io_allocated_mbps,
        run_id=r.run_id,
    )


def _accuracy(row: Any) -> AccuracyRecord:
    return AccuracyRecord(
        group_id=row.group_id,
        metric=row.metric,
        ts=row.ts,
        predicted={str(k): float(v) for k, v in row.predicted.items()},
        actual=row.actual,
        model_kind=row.model_kind,
    )


def _columns(model: Any, *, skip: tuple[str, ...] = ()) -> Select[Any]:
    """A Core select of the model's columns: rows without ORM bookkeeping, for hot reads."""
    return select(*(c for c in model.__table__.columns if c.name not in skip))


# Hot read statements are built once, with bound parameters, and reused (no per-call
# statement construction or cache-key work beyond SQLAlchemy's own cache look-up).


@cache
def _forecasts_stmt(by_metric: bool) -> Select[Any]:
    gid: BindParameter[str] = bindparam("group_id")
    newest = select(func.max(ForecastRow.made_at)).where(
        ForecastRow.group_id == gid, settled(ForecastRow.run_id)
    )
    stmt = _columns(ForecastRow).where(ForecastRow.group_id == gid, settled(ForecastRow.run_id))
    if by_metric:
        newest = newest.where(ForecastRow.metric == bindparam("metric"))
        stmt = stmt.where(ForecastRow.metric == bindparam("metric"))
    return stmt.where(ForecastRow.made_at == newest.scalar_subquery()).order_by(
        ForecastRow.metric, ForecastRow.ts
    )


@cache
def _history_stmt(with_ledger: bool) -> Select[Any]:
    return (
        _columns(AllocationRow, skip=() if with_ledger else ("ledger",))
        .where(AllocationRow.group_id == bindparam("group_id"), settled(AllocationRow.run_id))
        .order_by(AllocationRow.at.desc(), AllocationRow.id.desc())
        .limit(bindparam("limit", type_=Integer))
    )


@cache
def _accuracy_stmt(by_metric: bool) -> Select[Any]:
    stmt = _columns(AccuracyRow).where(AccuracyRow.group_id == bindparam("group_id"))
    if by_metric:
        stmt = stmt.where(AccuracyRow.metric == bindparam("metric"))
    return stmt.order_by(AccuracyRow.ts.desc()).limit(bindparam("limit", type_=Integer))


def _latest_run_id(session: Session, run_col: Any, at_col: Any) -> str | None:
    stmt = select(run_col).where(settled(run_col)).order_by(at_col.desc()).limit(1)
    return session.scalars(stmt).first()


class PlansRepository(Repository):
    # ---- forecasts ----------------------------------------------------------------------------
    def save_forecasts(
        self, run_id: str | None, made_at: datetime, forecasts: Sequence[ForecastRecord]
    ) -> int:
        rows = [
            {
                "run_id": run_id,
                "group_id": f.group_id,
                "metric": f.metric,
                "ts": f.ts,
                "quantiles": {str(k): float(v) for k, v in f.quantiles.items()},
                "model_kind": f.model_kind,
                "model_version": f.model_version,
                "made_at": made_at,
            }
            for f in forecasts
        ]
        if rows:
            with self._write() as session:
                session.execute(insert(ForecastRow), rows)
        return len(rows)

    def latest_forecasts(self, group_id: str, metric: str | None = None) -> list[ForecastRecord]:
        """The newest forecast made for a group (every metric, or one), ordered by metric, ts."""
        params = {"group_id": group_id, "metric": metric}
        with self._read() as session:
            rows = session.execute(_forecasts_stmt(metric is not None), params)
            return [_forecast(r) for r in rows]

    # ---- allocations and pools ----------------------------------------------------------------
    def save_allocations(
        self,
        run_id: str,
        at: datetime,
        allocations: Sequence[AllocationRecord],
        pools: Sequence[PoolRecord] = (),
    ) -> None:
        with self._write() as session:
            if allocations:
                session.execute(
                    insert(AllocationRow),
                    [
                        {
                            "run_id": run_id,
                            "group_id": a.group_id,
                            "pool": a.pool,
                            "gbps": a.gbps,
                            "used_gbps": a.used_gbps,
                            "ledger": a.ledger,
                            "member_used_gbps": a.member_used_gbps,
                            "at": at,
                        }
                        for a in allocations
                    ],
                )
            if pools:
                session.execute(
                    insert(PoolStateRow),
                    [
                        {
                            "run_id": run_id,
                            "pool": p.pool,
                            "parent": p.parent,
                            "capacity_gbps": p.capacity_gbps,
                            "allocated_gbps": p.allocated_gbps,
                            "used_gbps": p.used_gbps,
                            "rate_gbps": p.rate_gbps,
                            "demand_gbps": p.demand_gbps,
                            "borrowed_gbps": p.borrowed_gbps,
                            "lent_gbps": p.lent_gbps,
                            "at": at,
                        }
                        for p in pools
                    ],
                )

    def latest_allocations(self) -> list[AllocationRecord]:
        """The allocations in force: those of the newest run that succeeded."""
        with self._read() as session:
            run_id = _latest_run_id(session, AllocationRow.run_id, AllocationRow.at)
            if run_id is None:
                return []
            rows = session.scalars(
                select(AllocationRow)
                .where(AllocationRow.run_id == run_id)
                .order_by(AllocationRow.pool, AllocationRow.group_id)
            )
            return [_allocation(r) for r in rows]

    def latest_allocated_gbps(self) -> dict[str, float]:
        """Group id to Gbps in force (like ``latest_allocations`` without ledgers: cheap)."""
        with self._read() as session:
            run_id = _latest_run_id(session, AllocationRow.run_id, AllocationRow.at)
            if run_id is None:
                return {}
            rows = session.execute(
                select(AllocationRow.group_id, AllocationRow.gbps).where(
                    AllocationRow.run_id == run_id
                )
            )
            return {gid: float(gbps) for gid, gbps in rows}

    def latest_allocation_totals(self) -> tuple[int, float]:
        """``(groups, total Gbps)`` of the allocation in force, summed by the database."""
        with self._read() as session:
            run_id = _latest_run_id(session, AllocationRow.run_id, AllocationRow.at)
            if run_id is None:
                return 0, 0.0
            count, total = session.execute(
                select(func.count(), func.coalesce(func.sum(AllocationRow.gbps), 0.0)).where(
                    AllocationRow.run_id == run_id
                )
            ).one()
            return int(count), float(total)

    def allocation_history(
        self, group_id: str, limit: int = 48, *, with_ledger: bool = True
    ) -> list[AllocationRecord]:
        """A group's allocations, newest first, from runs that succeeded (ledgers optional)."""
        with self._read() as session:
            rows = session.execute(
                _history_stmt(with_ledger), {"group_id": group_id, "limit": limit}
            )
            return [_allocation(r, with_ledger) for r in rows]

    def latest_pool_states(self) -> list[PoolRecord]:
        """Global and regional pools of the newest run that succeeded, global pool first."""
        with self._read() as session:
            run_id = _latest_run_id(session, PoolStateRow.run_id, PoolStateRow.at)
            if run_id is None:
                return []
            rows = session.scalars(select(PoolStateRow).where(PoolStateRow.run_id == run_id))
            return sorted((_pool(r) for r in rows), key=lambda p: (p.parent is not None, p.pool))

    # ---- commands -----------------------------------------------------------------------------
    def save_commands(
        self, run_id: str, at: datetime, commands: Sequence[CommandRecord]
    ) -> list[int]:
        """Record planned commands; returns their ids in order."""
        with self._write() as session:
            rows = [
                CommandRow(
                    run_id=run_id,
                    kind=c.kind,
                    target=c.target,
                    before=c.before,
                    after=c.after,
                    reason=c.reason,
                    evidence=c.evidence,
                    status=c.status,
                    outcome=c.outcome,
                    created_at=at,
                    updated_at=at,
                )
                for c in commands
            ]
            session.add_all(rows)
            session.flush()
            return [r.id for r in rows]

    def set_command_status(
        self, command_id: int, status: str, at: datetime, *, outcome: str | None = None
    ) -> CommandRecord:
        if status not in COMMAND_STATUSES:
            raise ValueError(
                f"command {command_id}: status {status!r} is not one of "
                f"{', '.join(COMMAND_STATUSES)}"
            )
        with self._write() as session:
            row = session.get(CommandRow, command_id)
            if row is None:
                raise NotFoundError(f"no command with id {command_id}")
            row.status, row.outcome, row.updated_at = status, outcome, at
            return command_record(row)

    def commands_for_run(self, run_id: str) -> list[CommandRecord]:
        with self._read() as session:
            rows = session.scalars(
                select(CommandRow).where(CommandRow.run_id == run_id).order_by(CommandRow.id)
            )
            return [command_record(r) for r in rows]

    def commands_for_targets(
        self,
        targets: Sequence[str],
        limit: int = 50,
        *,
        since: datetime | None = None,
        statuses: Sequence[str] = (),
    ) -> list[CommandRecord]:
        """Recent commands (newest first) aimed at any of ``targets`` (a group id, its
        resources and ASGs, an edge cache, a routing record), last changed at or after ``since``
        (``updated_at``: for an applied command, when it was applied), only those with
        ``statuses`` if given. Dry runs' commands are left out: they changed nothing; so are
        those of a run still ``running`` (not finished, so not recorded by a cycle).

        The planner's cooldown history reads the ``applied`` ones, of any finished run that was
        not a dry run: a failed run's applied commands are those its apply step did put out.
        """
        if not targets:
            return []
        unknown = sorted(set(statuses) - set(COMMAND_STATUSES))
        if unknown:
            raise ValueError(
                f"unknown command status {', '.join(unknown)}; one of {', '.join(COMMAND_STATUSES)}"
            )
        out: list[CommandRecord] = []
        with self._read() as session:
            for part in chunked(sorted(set(targets))):
                stmt = select(CommandRow).where(
                    CommandRow.target.in_(list(part)), finished_not_dry_run(CommandRow.run_id)
                )
                if statuses:
                    stmt = stmt.where(CommandRow.status.in_(list(statuses)))
                if since is not None:
                    stmt = stmt.where(CommandRow.updated_at >= since)
                rows = session.scalars(stmt.order_by(CommandRow.id.desc()).limit(limit))
                out.extend(command_record(r) for r in rows)
        out.sort(key=lambda c: c.id or 0, reverse=True)
        return out[:limit]

    # ---- pre-allocation and accuracy --------------------------------------------------------
    def save_pre_allocations(
        self, run_id: str, at: datetime, records: Sequence[PreAllocationRecord]
    ) -> None:
        if not records:
            return
        with self._write() as session:
            session.execute(
                insert(PreAllocationRow),
                [
                    {
                        "run_id": run_id,
                        "group_id": r.group_id,
                        "at": at,
                        "cpu_need": r.cpu_need,
                        "cpu_allocated": r.cpu_allocated,
                        "memory_need_gib": r.memory_need_gib,
                        "memory_allocated_gib": r.memory_allocated_gib,
                        "network_need_gbps": r.network_need_gbps,
                        "network_allocated_gbps": r.network_allocated_gbps,
                        "io_need_iops": r.io_need_iops,
                        "io_allocated_iops": r.io_allocated_iops,
                        "latency_need_ms": r.latency_need_ms,
                        "latency_allocated_ms": r.latency_allocated_ms,
                        "io_need_mbps": r.io_need_mbps,
                        "io_allocated_mbps": r.io_allocated_mbps,
                    }
                    for r in records
                ],
            )

    def pre_allocation_history(self, group_id: str, limit: int = 48) -> list[PreAllocationRecord]:
        with self._read() as session:
            rows = session.scalars(
                select(PreAllocationRow)
                .where(PreAllocationRow.group_id == group_id, settled(PreAllocationRow.run_id))
                .order_by(PreAllocationRow.at.desc())
                .limit(limit)
            )
            return [_pre_allocation(r) for r in rows]

    def latest_pre_allocations(self) -> dict[str, PreAllocationRecord]:
        """The record in force per group: the newest one written by a run that succeeded and was
        not a dry run (a dry run's pre-allocation was only previewed, never applied)."""
        newest = (
            select(func.max(PreAllocationRow.id))
            .where(in_force(PreAllocationRow.run_id))
            .group_by(PreAllocationRow.group_id)
        )
        with self._read() as session:
            rows = session.scalars(select(PreAllocationRow).where(PreAllocationRow.id.in_(newest)))
            return {r.group_id: _pre_allocation(r) for r in rows}

    def record_accuracy(self, records: Sequence[AccuracyRecord]) -> int:
        if records:
            with self._write() as session:
                session.execute(
                    insert(AccuracyRow),
                    [
                        {
                            "group_id": r.group_id,
                            "metric": r.metric,
                            "ts": r.ts,
                            "predicted": {str(k): float(v) for k, v in r.predicted.items()},
                            "actual": r.actual,
                            "model_kind": r.model_kind,
                        }
                        for r in records
                    ],
                )
        return len(records)

    def accuracy_for_group(
        self, group_id: str, metric: str | None = None, limit: int = 200
    ) -> list[AccuracyRecord]:
        """A group's scored forecasts, newest first."""
        params = {"group_id": group_id, "metric": metric, "limit": limit}
        with self._read() as session:
            rows = session.execute(_accuracy_stmt(metric is not None), params)
            return [_accuracy(r) for r in rows]
