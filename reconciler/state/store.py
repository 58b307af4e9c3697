"""``StateStore``: the typed repository the cycle and the HTTP API read and write state through."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from reconciler.state.engine import make_engine, make_session_factory
from reconciler.state.migrate import upgrade_to_head
from reconciler.state.records import GroupMetrics
from reconciler.state.repo_groups import GroupsRepository
from reconciler.state.repo_plans import PlansRepository
from reconciler.state.repo_runs import RunsRepository

__all__ = ["StateStore"]


class StateStore(RunsRepository, GroupsRepository, PlansRepository):
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

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def group_metrics(
        self, group_id: str, *, history: int = 48, events: int = 20, accuracy: int = 96
    ) -> GroupMetrics | None:
        """A group with its allocation history, newest forecast, accuracy and recent events.

        A fixed number of indexed queries (no per-row look-ups), so the metrics endpoint stays
        fast whatever the history length.
        """
        group = self.get_group(group_id)
        if group is None:
            return None
        return GroupMetrics(
            group=group,
            allocations=tuple(self.allocation_history(group_id, history)),
            forecasts=tuple(self.latest_forecasts(group_id)),
            accuracy=tuple(self.accuracy_for_group(group_id, limit=accuracy)),
            events=tuple(self.recent_events(group_id, events)),
        )
