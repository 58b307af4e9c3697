"""Commands across cycles: pending ones (scheduled, awaiting or given approval), approval,
and the settings last applied per target (the planner's "before")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update

from reconciler.state.models import COMMAND_STATUSES, CommandRow
from reconciler.state.records import CommandRecord
from reconciler.state.repo_plans import command_record, settled
from reconciler.state.repo_runs import NotFoundError, Repository, _rowcount

__all__ = ["CommandStateError", "CommandsRepository"]


class CommandStateError(ValueError):
    """The command is not in the state the change needs (e.g. approving one not awaiting it)."""

    def __init__(self, command: CommandRecord, wanted: str) -> None:
        super().__init__(f"command {command.id} is {command.status}, not {wanted}")
        self.command = command


class CommandsRepository(Repository):
    def get_command(self, command_id: int) -> CommandRecord | None:
        with self._read() as session:
            row = session.get(CommandRow, command_id)
            return None if row is None else command_record(row)

    def list_commands(
        self, statuses: Sequence[str] = (), *, limit: int = 200
    ) -> list[CommandRecord]:
        """Commands of settled runs, newest first; only those with ``statuses`` if given."""
        unknown = sorted(set(statuses) - set(COMMAND_STATUSES))
        if unknown:
            raise ValueError(
                f"unknown command status {', '.join(unknown)}; one of {', '.join(COMMAND_STATUSES)}"
            )
        stmt = select(CommandRow).where(settled(CommandRow.run_id))
        if statuses:
            stmt = stmt.where(CommandRow.status.in_(list(statuses)))
        with self._read() as session:
            rows = session.scalars(stmt.order_by(CommandRow.id.desc()).limit(limit))
            return [command_record(r) for r in rows]

    def approve_command(
        self, command_id: int, at: datetime, *, by: str | None = None
    ) -> CommandRecord:
        """``needs_approval`` -> ``approved`` (compare-and-set: one approval wins).

        Raises ``NotFoundError`` for an unknown id, ``CommandStateError`` when the command is
        not awaiting approval. The next cycle applies it, after re-checking it.
        """
        note = f"approved by {by}" if by else "approved"
        with self._write() as session:
            result = session.execute(
                update(CommandRow)
                .where(CommandRow.id == command_id, CommandRow.status == "needs_approval")
                .values(status="approved", outcome=note, updated_at=at)
            )
            row = session.get(CommandRow, command_id)
            if row is None:
                raise NotFoundError(f"no command with id {command_id}")
            session.refresh(row)
            if _rowcount(result) != 1:
                raise CommandStateError(command_record(row), "needs_approval")
            return command_record(row)

    def update_commands(self, updates: Sequence[tuple[int, str, str | None]], at: datetime) -> None:
        """Set ``(id, status, outcome)`` for several commands in one transaction."""
        for _, status, _ in updates:
            if status not in COMMAND_STATUSES:
                raise ValueError(f"status {status!r} is not one of {', '.join(COMMAND_STATUSES)}")
        if not updates:
            return
        with self._write() as session:
            for command_id, status, outcome in updates:
                session.execute(
                    update(CommandRow)
                    .where(CommandRow.id == command_id)
                    .values(status=status, outcome=outcome, updated_at=at)
                )

    def last_applied(self, kinds: Sequence[str]) -> dict[tuple[str, str], CommandRecord]:
        """The newest applied command per ``(kind, target)`` of settled runs."""
        newest = (
            select(func.max(CommandRow.id))
            .where(
                CommandRow.status == "applied",
                CommandRow.kind.in_(list(kinds)),
                settled(CommandRow.run_id),
            )
            .group_by(CommandRow.kind, CommandRow.target)
        )
        with self._read() as session:
            rows = session.scalars(select(CommandRow).where(CommandRow.id.in_(newest)))
            return {(r.kind, r.target): command_record(r) for r in rows}
