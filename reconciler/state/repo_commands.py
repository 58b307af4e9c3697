"""Commands across cycles: pending ones (scheduled, awaiting or given approval), approval,
and the settings last applied per target (the planner's "before")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, select, update

from reconciler.state.models import COMMAND_STATUSES, PENDING_COMMAND_STATUSES, CommandRow, RunRow
from reconciler.state.records import CommandRecord
from reconciler.state.repo_plans import command_record
from reconciler.state.repo_runs import (
    NotFoundError,
    Repository,
    finished_not_dry_run,
    in_force,
    rowcount,
)

__all__ = ["CommandStateError", "CommandsRepository"]


class CommandStateError(ValueError):
    """The command is not in the state the change needs (e.g. approving one not awaiting it)."""

    def __init__(self, command: CommandRecord, wanted: str, *, message: str | None = None) -> None:
        super().__init__(message or f"command {command.id} is {command.status}, not {wanted}")
        self.command = command


def _unsettled_run(run: RunRow | None) -> str | None:
    """Why a command of ``run`` can never be applied (None when the run is a real, settled one)."""
    if run is None:
        return None
    if run.dry_run:
        return f"run {run.id} was a dry run"
    if run.status != "succeeded":
        return f"run {run.id} {'is still running' if run.status == 'running' else 'failed'}"
    return None


class CommandsRepository(Repository):
    def get_command(self, command_id: int) -> CommandRecord | None:
        with self._read() as session:
            row = session.get(CommandRow, command_id)
            return None if row is None else command_record(row)

    def list_commands(
        self, statuses: Sequence[str] = (), *, limit: int = 200
    ) -> list[CommandRecord]:
        """Commands of runs that succeeded and were not dry runs, newest first; only those with
        ``statuses`` if given."""
        unknown = sorted(set(statuses) - set(COMMAND_STATUSES))
        if unknown:
            raise ValueError(
                f"unknown command status {', '.join(unknown)}; one of {', '.join(COMMAND_STATUSES)}"
            )
        stmt = select(CommandRow).where(in_force(CommandRow.run_id))
        if statuses:
            stmt = stmt.where(CommandRow.status.in_(list(statuses)))
        with self._read() as session:
            rows = session.scalars(stmt.order_by(CommandRow.id.desc()).limit(limit))
            return [command_record(r) for r in rows]

    def approve_command(
        self, command_id: int, at: datetime, *, by: str | None = None
    ) -> CommandRecord:
        """``needs_approval`` -> ``approved`` (compare-and-set: one approval wins).

        Only a command of a run that succeeded (and was not a dry run) can be approved: no
        cycle applies the commands of a failed, killed or dry run. Raises ``NotFoundError`` for
        an unknown id, ``CommandStateError`` when the command is not awaiting approval or its
        run is not such a run. The next cycle applies it, after re-checking it.
        """
        note = f"approved by {by}" if by else "approved"
        with self._write() as session:
            result = session.execute(
                update(CommandRow)
                .where(
                    CommandRow.id == command_id,
                    CommandRow.status == "needs_approval",
                    in_force(CommandRow.run_id),
                )
                .values(status="approved", outcome=note, updated_at=at)
                .execution_options(synchronize_session=False)
            )
            row = session.get(CommandRow, command_id)
            if row is None:
                raise NotFoundError(f"no command with id {command_id}")
            session.refresh(row)
            if rowcount(result) != 1:
                record = command_record(row)
                why = _unsettled_run(session.get(RunRow, row.run_id))
                if row.status == "needs_approval" and why is not None:
                    raise CommandStateError(
                        record,
                        "needs_approval",
                        message=f"command {row.id} cannot be approved: {why}, so no cycle "
                        "will apply its commands",
                    )
                raise CommandStateError(record, "needs_approval")
            return command_record(row)

    def update_commands(
        self,
        updates: Sequence[tuple[int, str, str | None]],
        at: datetime,
        *,
        expected: Mapping[int, str] | None = None,
    ) -> list[int]:
        """Set ``(id, status, outcome)`` for several commands in one transaction.

        Compare-and-set: a command changes only while it is still pending (scheduled, awaiting
        or given approval), and, for ids in ``expected``, only while it still has the status
        given there (the one the cycle read). Returns the ids left unchanged because their
        status had moved on (e.g. applied or skipped by another process). A ``planned`` action
        recorded for a later step to take up (``planned_commands``) changes only with
        ``expected`` ``planned``.
        """
        for _, status, _ in updates:
            if status not in COMMAND_STATUSES:
                raise ValueError(f"status {status!r} is not one of {', '.join(COMMAND_STATUSES)}")
        expected = expected or {}
        unchanged: list[int] = []
        if not updates:
            return unchanged
        with self._write() as session:
            for command_id, status, outcome in updates:
                was = expected.get(command_id)
                allowed = [s for s in PENDING_COMMAND_STATUSES if was is None or s == was]
                if was == "planned":
                    allowed = ["planned"]
                result = session.execute(
                    update(CommandRow)
                    .where(CommandRow.id == command_id, CommandRow.status.in_(allowed))
                    .values(status=status, outcome=outcome, updated_at=at)
                    .execution_options(synchronize_session=False)
                )
                if rowcount(result) != 1:
                    unchanged.append(command_id)
        return unchanged

    def planned_commands(self, kind: str, *, limit: int = 200) -> list[CommandRecord]:
        """The newest ``limit`` ``planned`` commands of ``kind`` of runs that succeeded and were
        not dry runs, oldest first: actions recorded for a later step to take up (remediation's
        ``remediate.recompose``, taken up by the next compose step)."""
        stmt = (
            select(CommandRow)
            .where(
                CommandRow.kind == kind,
                CommandRow.status == "planned",
                in_force(CommandRow.run_id),
            )
            .order_by(CommandRow.id.desc())
            .limit(limit)
        )
        with self._read() as session:
            return [command_record(r) for r in reversed(list(session.scalars(stmt)))]

    def last_applied(self, kinds: Sequence[str]) -> dict[tuple[str, str], CommandRecord]:
        """The newest applied command per ``(kind, target)`` of finished runs that were not dry
        runs (a run still ``running`` was never recorded by a cycle: it counts once failed).

        A failed run's applied commands count too: its record step writes only what the apply
        step really put on the stack before a later step failed."""
        newest = (
            select(func.max(CommandRow.id))
            .where(
                CommandRow.status == "applied",
                CommandRow.kind.in_(list(kinds)),
                finished_not_dry_run(CommandRow.run_id),
            )
            .group_by(CommandRow.kind, CommandRow.target)
        )
        with self._read() as session:
            rows = session.scalars(select(CommandRow).where(CommandRow.id.in_(newest)))
            return {(r.kind, r.target): command_record(r) for r in rows}
