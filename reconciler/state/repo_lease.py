"""The single-cycle lease: taken, renewed and released by compare-and-set, and re-checked
inside the transaction that records a cycle (the fence that keeps an overtaken cycle out)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, or_, update
from sqlalchemy.exc import IntegrityError

from reconciler.state.models import LeaseRow
from reconciler.state.repo_runs import CYCLE_LEASE, Repository, rowcount

__all__ = ["LeaseRepository"]


class LeaseRepository(Repository):
    def acquire_lease(
        self, holder: str, now: datetime, ttl: timedelta, *, name: str = CYCLE_LEASE
    ) -> bool:
        """Take (or extend, if already ours) the lease unless someone else holds an unexpired one.

        Compare-and-set: one UPDATE guarded by "ours or expired", then an INSERT guarded by the
        primary key; whichever process's statement lands first wins, on SQLite and PostgreSQL.
        """
        if ttl <= timedelta(0):
            raise ValueError(f"lease ttl must be positive, got {ttl}")
        expires = now + ttl
        with self._sessions.begin() as session:
            result = session.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.name == name,
                    or_(LeaseRow.holder == holder, LeaseRow.expires_at <= now),
                )
                .values(
                    acquired_at=case((LeaseRow.holder == holder, LeaseRow.acquired_at), else_=now),
                    holder=holder,
                    expires_at=expires,
                )
            )
            if rowcount(result) == 1:
                return True
        try:
            with self._sessions.begin() as session:
                session.add(LeaseRow(name=name, holder=holder, acquired_at=now, expires_at=expires))
        except IntegrityError:
            return False
        return True

    def renew_lease(
        self, holder: str, now: datetime, ttl: timedelta, *, name: str = CYCLE_LEASE
    ) -> bool:
        """Extend our unexpired lease; False when it expired or someone else took it."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(LeaseRow)
                .where(LeaseRow.name == name, LeaseRow.holder == holder, LeaseRow.expires_at > now)
                .values(expires_at=now + ttl)
            )
            return rowcount(result) == 1

    def hold_lease(self, holder: str, now: datetime, *, name: str = CYCLE_LEASE) -> bool:
        """Inside :meth:`transaction`: whether ``holder`` has the unexpired lease; when it does,
        nobody can take it over until the transaction ends.

        A conditional UPDATE of the lease row (which changes nothing) is the compare-and-set:
        PostgreSQL locks the row, so a contender's takeover waits for our commit and then finds
        the lease ours; SQLite takes its write lock. Call it first in the transaction.
        """
        with self._write() as session:
            result = session.execute(
                update(LeaseRow)
                .where(LeaseRow.name == name, LeaseRow.holder == holder, LeaseRow.expires_at > now)
                .values(expires_at=LeaseRow.expires_at)
            )
            return rowcount(result) == 1

    def release_lease(self, holder: str, *, name: str = CYCLE_LEASE) -> bool:
        with self._sessions.begin() as session:
            result = session.execute(
                delete(LeaseRow).where(LeaseRow.name == name, LeaseRow.holder == holder)
            )
            return rowcount(result) == 1

    def lease_holder(self, now: datetime, *, name: str = CYCLE_LEASE) -> str | None:
        """Who holds the unexpired lease, if anyone."""
        with self._read() as session:
            row = session.get(LeaseRow, name)
            return row.holder if row is not None and row.expires_at > now else None
