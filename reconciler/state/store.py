"""``StateStore``: the typed repository the cycle and the HTTP API read and write state through."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from reconciler.state.engine import make_engine, make_session_factory
from reconciler.state.migrate import upgrade_to_head
from reconciler.state.records import GroupMetrics, GroupRecord
from reconciler.state.repo_commands import CommandsRepository
from reconciler.state.repo_groups import GroupsRepository
from reconciler.state.repo_lease import LeaseRepository
from reconciler.state.repo_plans import PlansRepository
from reconciler.state.repo_runs import RunsRepository

if TYPE_CHECKING:  # the allocator pulls in the policy package: import it only when used
    from reconciler.allocation.models import AllocationResult

__all__ = ["StateStore"]


class StateStore(
    RunsRepository, LeaseRepository, GroupsRepository, PlansRepository, CommandsRepository
):
    """Runs, lease, groups, forecasts, allocations, commands, accuracy and tokens.

    Built from a session factory (pass one in for tests) or with :meth:`open` from a URL. Every
    time is given by the caller: the store never reads a clock.
    """

    def __init__(self, sessions: sessionmaker[Session], engine: Engine | None = None) -> None:
        super().__init__(sessions)
        self._engine = engine

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> StateStore:
        """Connect to ``url`` and (by default) upgrade its schema to the newest migration."""
        engine = make_engine(url)
        if migrate:
            upgrade_to_head(engine)
        return cls(make_session_factory(engine), engine)

    @property
    def engine(self) -> Engine | None:
        return self._engine

    def ping(self) -> None:
        """Raise ``SQLAlchemyError`` when the database cannot be reached."""
        with self._read() as session:
            session.execute(text("SELECT 1"))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def group_metrics(
        self, group_id: str, *, history: int = 48, events: int = 20, accuracy: int = 96
    ) -> GroupMetrics | None:
        """A group with its allocation history, newest forecast, accuracy and recent events.

        A fixed number of indexed queries on one session (no per-row look-ups), so the metrics
        endpoint stays fast whatever the history length.
        """
        with self.reading():
            group = self.get_group(group_id)
            if group is None:
                return None
            return GroupMetrics(
                group=group,
                allocations=tuple(self.allocation_history(group_id, history, with_ledger=False)),
                forecasts=tuple(self.latest_forecasts(group_id)),
                accuracy=tuple(self.accuracy_for_group(group_id, limit=accuracy)),
                events=tuple(self.recent_events(group_id, events)),
            )

    def save_allocation_result(
        self,
        run_id: str,
        at: datetime,
        result: AllocationResult,
        *,
        used_gbps: Mapping[str, float] | None = None,
        pool_used_gbps: Mapping[str, float] | None = None,
        member_used_gbps: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        """Save the allocator's result (allocations, ledgers, pools) for a run."""
        from reconciler.state.allocation_io import records_from_result

        allocations, pools = records_from_result(
            result,
            used_gbps=used_gbps,
            pool_used_gbps=pool_used_gbps,
            member_used_gbps=member_used_gbps,
        )
        self.save_allocations(run_id, at, allocations, pools)

    def current_allocation_result(self) -> AllocationResult | None:
        """The allocation in force, rebuilt for ``apply_override``; None before any allocation."""
        from reconciler.state.allocation_io import result_from_records

        allocations = self.latest_allocations()
        if not allocations:
            return None
        return result_from_records(allocations, self.latest_pool_states())

    def record_override(
        self, group_id: str, gbps: float, at: datetime, result: AllocationResult, *, reason: str
    ) -> GroupRecord:
        """Pin a group's bandwidth and put the overridden allocation in force at once.

        The new allocation is saved under a run of its own (``override-<hex>``) so history shows
        who changed what; the next cycle keeps the pin. One transaction: the run, its
        allocation and the pin are in force together or not at all.
        """
        from reconciler.allocation.restate import settle

        result = settle(result)  # pools are their groups' sums; every ledger ends on its grant
        run_id = f"override-{uuid.uuid4().hex[:12]}"
        with self.transaction():
            in_force = self.latest_allocations()
            used = {a.group_id: a.used_gbps for a in in_force if a.used_gbps is not None}
            members = {a.group_id: a.member_used_gbps for a in in_force if a.member_used_gbps}
            pool_used = {
                p.pool: p.used_gbps for p in self.latest_pool_states() if p.used_gbps is not None
            }
            self.record_run(run_id, at, at, status="succeeded", step_timings={})
            self.save_allocation_result(
                run_id,
                at,
                result,
                used_gbps=used,
                pool_used_gbps=pool_used,
                member_used_gbps=members,
            )
            return self.set_pinned_bandwidth(group_id, gbps, at, reason=reason)
