"""The reconciler's state: SQLAlchemy models, alembic migrations and the ``StateStore``.

SQLite is the embedded default (``.headroom/headroom.db``); PostgreSQL is chosen by URL
(``HEADROOM_DATABASE_URL``).
"""

from __future__ import annotations

from reconciler.state.engine import (
    DATABASE_URL_ENV,
    make_engine,
    make_session_factory,
    normalise_url,
    resolve_database_url,
)
from reconciler.state.migrate import current_revision, head_revision, upgrade_to_head
from reconciler.state.records import (
    AccuracyRecord,
    AllocationRecord,
    CommandRecord,
    ForecastRecord,
    GroupEventRecord,
    GroupMetrics,
    GroupRecord,
    PoolRecord,
    PreAllocationRecord,
    RunRecord,
    TokenRecord,
)
from reconciler.state.repo_commands import CommandStateError
from reconciler.state.repo_groups import GroupExistsError
from reconciler.state.repo_runs import CYCLE_LEASE, NotFoundError
from reconciler.state.store import StateStore

__all__ = [
    "CYCLE_LEASE",
    "DATABASE_URL_ENV",
    "AccuracyRecord",
    "AllocationRecord",
    "CommandRecord",
    "CommandStateError",
    "ForecastRecord",
    "GroupEventRecord",
    "GroupExistsError",
    "GroupMetrics",
    "GroupRecord",
    "NotFoundError",
    "PoolRecord",
    "PreAllocationRecord",
    "RunRecord",
    "StateStore",
    "TokenRecord",
    "current_revision",
    "head_revision",
    "make_engine",
    "make_session_factory",
    "normalise_url",
    "resolve_database_url",
    "upgrade_to_head",
]
