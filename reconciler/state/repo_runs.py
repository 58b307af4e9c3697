"""Runs, composer snapshots and API tokens, and the base every repository part builds on."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from reconciler.state.models import (
    RUN_STATUSES,
    ApiTokenRow,
    ComposerSnapshotRow,
    RunRow,
    StateVersionRow,
)
from reconciler.state.records import RunRecord, TokenRecord

__all__ = [
    "CYCLE_LEASE",
    "NotFoundError",
    "Repository",
    "RunsRepository",
    "chunked",
    "finished_not_dry_run",
    "in_force",
    "not_dry_run",
    "rowcount",
    "settled",
]

CYCLE_LEASE = "cycle"
_VERSION = select(StateVersionRow.version).where(StateVersionRow.id == 1)
_T = TypeVar("_T")


class NotFoundError(LookupError):
    """The run, group, command or token named does not exist."""


def chunked(items: Sequence[_T], size: int = 500) -> Iterator[Sequence[_T]]:
    """Slices of ``items`` small enough for an ``IN (...)`` list on every back end."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


# Which runs' rows readers see. A cycle's rows commit together with its finished run row, so a
# run still ``running`` is one written another way (by hand, or by a process killed before this
# recorder): never in force, like a ``failed`` run's output. Rows written outside any recorded
# run (``run_id`` NULL or naming no run) are always seen.


def settled(run_id_column: Any) -> Any:
    """Rows of runs that succeeded, or written outside any recorded run."""
    unsettled = select(RunRow.id).where(RunRow.status != "succeeded")
    return or_(run_id_column.is_(None), run_id_column.not_in(unsettled))


def not_dry_run(run_id_column: Any) -> Any:
    """Rows not written by a dry run (a dry run's commands never change real state)."""
    dry = select(RunRow.id).where(RunRow.dry_run.is_(True))
    return or_(run_id_column.is_(None), run_id_column.not_in(dry))


def finished_not_dry_run(run_id_column: Any) -> Any:
    """Rows of runs that finished (succeeded or failed) and were not dry runs: a failed run's
    applied commands are real (its recorder writes only what reached the stack)."""
    excluded = select(RunRow.id).where(or_(RunRow.status == "running", RunRow.dry_run.is_(True)))
    return or_(run_id_column.is_(None), run_id_column.not_in(excluded))


def in_force(run_id_column: Any) -> Any:
    """Rows of runs that succeeded and were not dry runs (or written outside any run): the
    commands that are real (pending, approvable, the settings last applied)."""
    excluded = select(RunRow.id).where(or_(RunRow.status != "succeeded", RunRow.dry_run.is_(True)))
    return or_(run_id_column.is_(None), run_id_column.not_in(excluded))


class Repository:
    """Base for the store's parts: holds the session factory passed in.

    Reads go through :meth:`_read`, which reuses the session of an enclosing :meth:`reading`
    block on the same thread, so an endpoint that needs several reads opens one session.
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._local = threading.local()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Run several reads on one session (one connection checkout) on this thread."""
        if self._joined() is not None:
            yield
            return
        with self._sessions() as session:
            self._local.session = session
            try:
                yield
            finally:
                self._local.session = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Make every write and read on this thread inside the block one transaction.

        One session and connection, committed once when the block ends (bumping the state
        version once); anything raised inside rolls all of it back. Readers on other threads and
        processes see none of it until then. Nested blocks join the outer one.
        """
        if getattr(self._local, "tx", None) is not None:
            yield
            return
        with self._write() as session:
            self._local.tx = session
            try:
                yield
            finally:
                self._local.tx = None

    def _joined(self) -> Session | None:
        """The session this thread's reads and writes join: its open transaction's, else that of
        an enclosing :meth:`reading` block."""
        tx: Session | None = getattr(self._local, "tx", None)
        return tx if tx is not None else getattr(self._local, "session", None)

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A transaction that changes what readers see: it also bumps the state version.

        Inside :meth:`transaction` it is that transaction (which commits and bumps once)."""
        tx: Session | None = getattr(self._local, "tx", None)
        if tx is not None:
            yield tx
            return
        with self._sessions.begin() as session:
            yield session
            bumped = session.execute(
                update(StateVersionRow)
                .where(StateVersionRow.id == 1)
                .values(version=StateVersionRow.version + 1)
            )
            if rowcount(bumped) == 0:  # a schema made without the migrations' seed row
                session.add(StateVersionRow(id=1, version=1))

    def state_version(self) -> int:
        """A number that grows with every change to groups, runs, plans or accuracy."""
        with self._read() as session:
            return int(session.execute(_VERSION).scalar_one_or_none() or 0)

    @contextmanager
    def _read(self) -> Iterator[Session]:
        shared = self._joined()
        if shared is not None:
            yield shared
            return
        with self._sessions() as session:
            yield session


def _run(row: RunRow) -> RunRecord:
    return RunRecord(
        id=row.id,
        started=row.started,
        status=row.status,
        finished=row.finished,
        dry_run=row.dry_run,
        step_timings=dict(row.step_timings or {}),
        error=row.error,
    )


def _token(row: ApiTokenRow) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        name=row.name,
        scope=row.scope,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class RunsRepository(Repository):
    # ---- runs -------------------------------------------------------------------------------
    def record_run_start(self, run_id: str, started: datetime, *, dry_run: bool = False) -> None:
        with self._write() as session:
            session.add(
                RunRow(
                    id=run_id, started=started, status="running", dry_run=dry_run, step_timings={}
                )
            )

    def record_run_finish(
        self,
        run_id: str,
        finished: datetime,
        *,
        status: str,
        step_timings: dict[str, float],
        error: str | None = None,
    ) -> None:
        if status not in RUN_STATUSES or status == "running":
            raise ValueError(f"run {run_id}: finish status {status!r} is not succeeded or failed")
        with self._write() as session:
            row = session.get(RunRow, run_id)
            if row is None:
                raise NotFoundError(f"run {run_id} was never started")
            row.finished = finished
            row.status = status
            row.step_timings = {k: float(v) for k, v in step_timings.items()}
            row.error = error

    def record_run(
        self,
        run_id: str,
        started: datetime,
        finished: datetime,
        *,
        status: str,
        step_timings: dict[str, float],
        dry_run: bool = False,
        error: str | None = None,
    ) -> None:
        """Write a finished run in one statement (the recorder writes it in the cycle's
        transaction, so it never shows ``running``); a started row of that id is finished."""
        if status not in RUN_STATUSES or status == "running":
            raise ValueError(f"run {run_id}: finish status {status!r} is not succeeded or failed")
        with self._write() as session:
            row = session.get(RunRow, run_id)
            if row is None:
                row = RunRow(id=run_id)
                session.add(row)
            row.started, row.finished, row.status = started, finished, status
            row.dry_run, row.error = dry_run, error
            row.step_timings = {k: float(v) for k, v in step_timings.items()}

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._read() as session:
            row = session.get(RunRow, run_id)
            return None if row is None else _run(row)

    def recent_runs(self, limit: int = 20) -> list[RunRecord]:
        with self._read() as session:
            rows = session.scalars(select(RunRow).order_by(RunRow.started.desc()).limit(limit))
            return [_run(r) for r in rows]

    # ---- composer snapshots -------------------------------------------------------------------
    def save_composer_snapshot(self, run_id: str, at: datetime, state: Any) -> None:
        with self._write() as session:
            session.merge(ComposerSnapshotRow(run_id=run_id, at=at, state=state))

    def latest_composer_snapshot(self) -> tuple[str, Any] | None:
        """``(run_id, state)`` of the newest snapshot of a run that succeeded (a running or
        failed run's is never the next cycle's previous state), or None before the first."""
        with self._read() as session:
            row = session.scalars(
                select(ComposerSnapshotRow)
                .where(settled(ComposerSnapshotRow.run_id))
                .order_by(ComposerSnapshotRow.at.desc())
                .limit(1)
            ).first()
            return None if row is None else (row.run_id, row.state)

    # ---- API tokens -------------------------------------------------------------------------
    def add_token(
        self, token_id: str, *, name: str, scope: str, salt: str, secret_hash: str, at: datetime
    ) -> TokenRecord:
        with self._sessions.begin() as session:
            row = ApiTokenRow(
                id=token_id,
                name=name,
                scope=scope,
                salt=salt,
                secret_hash=secret_hash,
                created_at=at,
            )
            session.add(row)
            session.flush()
            return _token(row)

    def token_secret(self, token_id: str) -> tuple[TokenRecord, str, str] | None:
        """``(token, salt, secret_hash)`` for an id, or None."""
        with self._read() as session:
            row = session.get(ApiTokenRow, token_id)
            return None if row is None else (_token(row), row.salt, row.secret_hash)

    def touch_token(self, token_id: str, at: datetime) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(ApiTokenRow).where(ApiTokenRow.id == token_id).values(last_used_at=at)
            )

    def list_tokens(self) -> list[TokenRecord]:
        with self._read() as session:
            rows = session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.created_at))
            return [_token(r) for r in rows]

    def revoke_token(self, token_id: str, at: datetime) -> TokenRecord:
        with self._sessions.begin() as session:
            row = session.get(ApiTokenRow, token_id)
            if row is None:
                raise NotFoundError(f"no API token with id {token_id!r}")
            if row.revoked_at is None:
                row.revoked_at = at
            return _token(row)
