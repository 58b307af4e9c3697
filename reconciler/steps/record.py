"""The loop's ``CycleStore`` over the SQLAlchemy ``StateStore``: lease, last allocation, record.

A cycle is written only at its end, in one transaction: its run row (already finished), groups,
the composer's and breaker's state, forecasts, accuracy, allocations and pools, pre-allocations,
commands and remediation actions. Readers (other connections, the API) see all of it once it
commits, or none of it. A failed run writes its run row (status ``failed``) and the commands its
apply step did put on the stack, recorded as applied; the store's readers skip failed and
unfinished runs, so the last good allocation and composer state stay in force. When recording
itself fails, the cycle's transaction is rolled back whole and the run is written as failed in
a short transaction of its own. A run row left ``running`` (written some other way, e.g. by a
killed process of an older version) is marked failed by the next holder of the lease.

Each of those transactions first re-checks the lease (``StateStore.hold_lease``, a
compare-and-set on the lease row that also keeps it ours until the commit): a cycle whose lease
expired or was taken over raises ``LeaseLostError`` and writes nothing, not even its run row.

A dry run changes no real command state: it supersedes or settles none of the commands of
earlier cycles, and its own commands are recorded ``planned`` (never awaiting approval or a
schedule); the store's readers of real commands skip dry runs. Changes to carried commands are
compare-and-set on the status this cycle read, so one that moved on meanwhile is left alone.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from reconciler.clock import Clock
from reconciler.context import LeaseLostError
from reconciler.logs import get_logger
from reconciler.steps.types import (
    LOOKAHEAD_COLUMN,
    Allocation,
    ApplyOutcome,
    CommandView,
    ForecastSet,
    PoolAllocation,
)

if TYPE_CHECKING:
    from reconciler.allocation.usage import Measured
    from reconciler.loop import CycleOutputs, RunReport
    from reconciler.remediation.types import RemediationResult
    from reconciler.state import CommandRecord, StateStore

__all__ = ["KIND_TO_STORE", "StateRecorder"]

log = get_logger(__name__)

#: Our group kinds -> the state store's kinds.
KIND_TO_STORE = {
    "application": "discovered",
    "discovered": "discovered",
    "manual": "manual",
    "tenant": "tenant",
    "shared": "shared-services",
    "shared-services": "shared-services",
    "shared_services": "shared-services",
}
_EVENT_KINDS = {"formed", "grew", "shrank", "merged", "split", "dissolved", "overridden"}


class StateRecorder:
    """Implements ``reconciler.context.CycleStore`` on a ``StateStore`` and a clock."""

    def __init__(self, store: StateStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    # ---- lease --------------------------------------------------------------------------------
    def acquire_lease(self, holder: str, ttl: timedelta) -> bool:
        now = self.clock.now()
        if not self.store.acquire_lease(holder, now, ttl):
            return False
        for run in self.store.recent_runs(limit=50):
            if run.status == "running":
                self.store.record_run_finish(
                    run.id,
                    now,
                    status="failed",
                    step_timings=run.step_timings,
                    error="the process running this cycle stopped before it finished",
                )
                log.warning("stale_run_failed", run_id=run.id)
        return True

    def renew_lease(self, holder: str, ttl: timedelta) -> bool:
        return self.store.renew_lease(holder, self.clock.now(), ttl)

    def release_lease(self, holder: str) -> None:
        self.store.release_lease(holder)

    # ---- reading ------------------------------------------------------------------------------
    def last_allocation(self) -> Allocation | None:
        rows = self.store.latest_allocations()
        if not rows:
            return None
        pools = self.store.latest_pool_states()
        at = rows[0].at or self.clock.now()
        return Allocation(
            at=at,
            groups={r.group_id: r.gbps for r in rows},
            pools=tuple(
                PoolAllocation(p.pool, p.parent, p.capacity_gbps, p.allocated_gbps) for p in pools
            ),
            pool_of_group={r.group_id: r.pool for r in rows},
            ledger={r.group_id: list((r.ledger or {}).get("steps", [])) for r in rows},
        )

    def previous_state(self) -> dict[str, Any]:
        """What the last good cycle saved for the next: ``composer`` and ``breaker`` state."""
        snap = self.store.latest_composer_snapshot()
        return {} if snap is None else dict(snap[1] or {})

    # ---- writing ------------------------------------------------------------------------------
    def record(self, report: RunReport, outputs: CycleOutputs) -> None:
        """Write the cycle in one transaction; raise (after writing the run as failed, in a
        transaction of its own) when that fails, and ``LeaseLostError`` (writing nothing) when
        the lease is no longer ours."""
        try:
            with self.store.transaction():
                self._hold_lease(report)
                if report.ok:
                    self._write_run(report, "succeeded", None)
                    self._write_outputs(report, outputs)
                else:
                    self._write_failed(report, outputs, report.error)
        except LeaseLostError:
            log.error("record_refused_lease_lost", run_id=report.run_id, holder=report.holder)
            raise
        except Exception as exc:
            why = f"recording the cycle failed: {type(exc).__name__}: {exc}"
            log.error("record_rolled_back", run_id=report.run_id, error=why)
            self._record_failed(report, outputs, "; ".join(x for x in (report.error, why) if x))
            raise

    def _hold_lease(self, report: RunReport) -> None:
        """First in a recording transaction: the lease is still ours, and stays so until the
        commit; else ``LeaseLostError`` (and the transaction rolls back)."""
        now = self.clock.now()
        if not self.store.hold_lease(report.holder, now):
            raise LeaseLostError(
                f"at {now:%Y-%m-%d %H:%M:%S} the lease of {report.holder} had expired or "
                "another reconciler had taken it over"
            )

    def _write_run(self, report: RunReport, status: str, error: str | None) -> None:
        self.store.record_run(
            report.run_id,
            report.started_at,
            report.finished_at or self.clock.now(),
            status=status,
            step_timings={st.name: st.seconds for st in report.steps},
            dry_run=report.dry_run,
            error=error,
        )

    def _write_failed(self, report: RunReport, outputs: CycleOutputs, error: str | None) -> None:
        """The failed run's row and what reached the stack before it failed, recorded as
        applied so cooldowns and the settings in force see it (nothing else of the run is)."""
        self._write_run(report, "failed", error)
        self._write_applied(report, outputs)

    def _record_failed(self, report: RunReport, outputs: CycleOutputs, error: str) -> None:
        """After the cycle's transaction rolled back: the failed run with its applied commands,
        else (when those cannot be written either) the failed run alone."""
        try:
            with self.store.transaction():
                self._hold_lease(report)
                self._write_failed(report, outputs, error)
            return
        except LeaseLostError:
            raise
        except Exception as exc:
            log.error("applied_commands_not_recorded", run_id=report.run_id, error=repr(exc))
        try:
            with self.store.transaction():
                self._hold_lease(report)
                self._write_run(
                    report, "failed", f"{error}; its applied commands were not recorded"
                )
        except LeaseLostError:
            raise
        except Exception as exc:
            log.error("failed_run_not_recorded", run_id=report.run_id, error=repr(exc))

    def _write_outputs(self, report: RunReport, out: CycleOutputs) -> None:
        from reconciler.allocation.usage import pool_use
        from reconciler.state import (
            AccuracyRecord,
            AllocationRecord,
            CommandRecord,
            ForecastRecord,
            GroupEventRecord,
            GroupRecord,
            PoolRecord,
        )
        from reconciler.state.allocation_io import records_from_result
        from reconciler.state.models import PENDING_COMMAND_STATUSES
        from reconciler.steps.allocate import corrected_result

        s, at, run_id = self.store, report.started_at, report.run_id
        measured = out.forecasts.measured if out.forecasts is not None else None
        if out.groups is not None:
            explained = _explanations(out, measured)
            records = [
                GroupRecord(
                    id=g.id,
                    name=g.name or g.id,
                    kind=KIND_TO_STORE.get(g.kind, "discovered"),
                    created_at=at,
                    members=g.members,
                    confidence=g.confidence,
                    explanation=g.explanation or explained.get(g.id),
                    policy_class=g.group_class,
                )
                for g in out.groups.groups
            ]
            events = [
                GroupEventRecord(e.group_id, e.kind, e.reason, at, run_id=run_id)
                for e in out.groups.events
                if e.kind in _EVENT_KINDS
            ]
            s.save_composition(at, records, events, dissolved=out.groups.dissolved)
            breaker = out.remediation.breaker_state if out.remediation else {}
            from reconciler.steps.users import users_record

            snapshot: dict[str, Any] = {"composer": out.groups.state, "breaker": breaker}
            users = users_record(
                out.groups,
                out.plan.users if out.plan is not None else None,
                _user_series(out.forecasts),
            )
            if users is not None:
                snapshot["users"] = users
            s.save_composer_snapshot(run_id, at, snapshot)
        if out.forecasts is not None and out.forecasts.frame.height:
            fc = out.forecasts
            s.save_forecasts(
                run_id,
                at,
                [
                    ForecastRecord(
                        group_id=str(r["group_id"]),
                        metric=str(r["metric"]),
                        ts=r["ts"],
                        quantiles={"0.5": r["p50"], "0.9": r["p90"], "0.99": r["p99"]},
                        model_kind=fc.model_at(
                            str(r["group_id"]), str(r["metric"]), bool(r.get(LOOKAHEAD_COLUMN))
                        ),
                        model_version=str(report.run_id[:8]),
                    )
                    for r in fc.frame.iter_rows(named=True)
                ],
            )
        if out.forecasts is not None and out.forecasts.scored:
            s.record_accuracy(
                [
                    AccuracyRecord(p.group_id, p.metric, p.ts, p.predicted, p.actual, p.model_kind)
                    for p in out.forecasts.scored
                ]
            )
        final = out.remediation.allocation if out.remediation else None
        alloc = final or out.allocation
        if alloc is not None:
            result = corrected_result(alloc)
            used = measured.groups if measured is not None else {}
            if result is not None:
                rows, pools = records_from_result(
                    result,
                    used_gbps=used,
                    pool_used_gbps=pool_use(result, used),
                    member_used_gbps=measured.members if measured is not None else None,
                )
            else:
                rows = [
                    AllocationRecord(
                        group_id=g,
                        pool=alloc.pool_of_group.get(g, ""),
                        gbps=v,
                        used_gbps=used.get(g),
                        ledger={"steps": alloc.ledger.get(g, [])},
                    )
                    for g, v in sorted(alloc.groups.items())
                ]
                pools = [
                    PoolRecord(p.pool_id, p.capacity_gbps, p.allocated_gbps, parent=p.parent)
                    for p in alloc.pools
                ]
            s.save_allocations(run_id, alloc.at, rows, pools)
        commands: list[CommandRecord] = []
        updates: list[tuple[int, str, str | None]] = []
        expected: dict[int, str] = {}
        if out.plan is not None:
            outcomes = self._outcomes(out)
            for c, (status, note) in zip(out.plan.commands, outcomes, strict=True):
                if c.id is not None:  # carried over from an earlier cycle
                    if status in ("applied", "skipped") or (
                        status in ("scheduled", "needs_approval") and status != c.status
                    ):
                        updates.append((c.id, status, note))
                        expected[c.id] = c.status
                    continue
                if report.dry_run and status in PENDING_COMMAND_STATUSES:
                    # nothing waits on a dry run: no approval request, no schedule to keep
                    note = f"dry run: would be {status}" + (f" ({note})" if note else "")
                    status = "planned"
                commands.append(_command_record(c, status, note))
            updates += [(cid, "skipped", why) for cid, why in out.plan.superseded]
            self._save_pre_allocations(run_id, at, out, outcomes)
        if out.remediation is not None:
            rem = out.remediation
            landed = _remediation_commands(rem, report.dry_run)
            commands += [record for record, _ in landed]
            applied_groups = {
                c.body.get("group_id")
                for c, (_, status) in zip(
                    rem.plan.commands if rem.plan else (), landed, strict=True
                )
                if status == "applied" and c.body
            }
            commands += [
                CommandRecord(
                    kind=f"remediate.{a.kind}",
                    target=a.group_id,
                    reason=a.reason,
                    before=a.before_gbps,
                    after=a.after_gbps,
                    evidence={"lenders": a.lenders, "pool": a.pool_id},
                    status=_action_status(str(a.kind), a.group_id in applied_groups),
                )
                for a in rem.actions
            ]
        if commands:
            s.save_commands(run_id, at, commands)
        if report.dry_run:
            # a dry run neither supersedes nor settles the real commands of earlier cycles
            if updates:
                log.info("dry_run_command_updates_not_written", commands=len(updates))
            return
        if out.groups is not None:
            # the recompose actions the compose step took up, settled with the cycle
            settled, still = out.groups.settlements()
            updates += settled
            expected.update(still)
        unchanged = s.update_commands(updates, at, expected=expected)
        if unchanged:
            log.warning(
                "commands_changed_since_planned",
                ids=unchanged,
                count=len(unchanged),
                note="their status moved on after this cycle read them; left as they are",
            )

    def _write_applied(self, report: RunReport, out: CycleOutputs) -> None:
        """A failed run's commands that the apply step did apply (none when it did not run)."""

        if out.plan is None or out.applied is None or report.dry_run:
            return
        records: list[CommandRecord] = []
        updates: list[tuple[int, str, str | None]] = []
        expected: dict[int, str] = {}
        for c, (status, note) in zip(out.plan.commands, self._outcomes(out), strict=True):
            if status != "applied":
                continue
            if c.id is not None:  # carried over from an earlier cycle
                updates.append((c.id, status, note))
                expected[c.id] = c.status
                continue
            failed = "; ".join(x for x in (note, "the run failed after apply") if x)
            records.append(_command_record(c, status, failed))
        if records:
            self.store.save_commands(report.run_id, report.started_at, records)
        if updates:
            self.store.update_commands(updates, report.started_at, expected=expected)
        if records or updates:
            log.warning("applied_commands_of_a_failed_run", commands=len(records) + len(updates))

    @staticmethod
    def _outcomes(out: CycleOutputs) -> list[tuple[str, str | None]]:
        """``(status, note)`` per plan command: from the apply step's gate when it ran one,
        else every command applied or planned with the apply step's outcome."""
        assert out.plan is not None
        applied = out.applied
        if applied is not None and len(applied.outcomes) == len(out.plan.commands):
            return [(o.status, o.note) for o in applied.outcomes]
        status = (
            "applied"
            if applied is not None and applied.outcome is ApplyOutcome.APPLIED
            else ("planned")
        )
        return [(status, applied.message if applied else None) for _ in out.plan.commands]

    def _save_pre_allocations(
        self, run_id: str, at: Any, out: CycleOutputs, outcomes: list[tuple[str, str | None]]
    ) -> None:
        """Each tenant group's predicted need and the record in force after this cycle (the
        applied ``preallocate`` command's ``after``, else the previous record)."""
        from reconciler.steps.current import pre_allocation_record

        plan = out.plan
        assert plan is not None
        allocated = {g: dict(r) for g, r in plan.preallocations.items()}
        for c, (status, _) in zip(plan.commands, outcomes, strict=True):
            if c.kind == "preallocate" and status == "applied" and isinstance(c.after, dict):
                allocated[c.target] = {
                    str(k): float(v) for k, v in c.after.items() if isinstance(v, int | float)
                }
        groups = sorted(set(plan.preallocation_needs) | set(allocated))
        records = [
            pre_allocation_record(g, plan.preallocation_needs.get(g, {}), allocated.get(g, {}))
            for g in groups
        ]
        self.store.save_pre_allocations(run_id, at, records)


def _explanations(out: CycleOutputs, measured: Measured | None) -> dict[str, dict[str, object]]:
    """Each group's stored explanation: its analysis community and measured traffic pattern."""
    from reconciler.state.explain import group_explanation

    assert out.groups is not None
    result = out.analysis.result if out.analysis is not None else None
    communities = list(result.communities) if result is not None else []
    patterns = measured.patterns if measured is not None else {}
    found = {
        g.id: group_explanation(g.members, communities, patterns.get(g.id))
        for g in out.groups.groups
    }
    return {gid: e for gid, e in found.items() if e is not None}


def _remediation_commands(rem: RemediationResult, dry_run: bool) -> list[tuple[CommandRecord, str]]:
    """The commands remediation put through the apply path, each with its status."""
    from reconciler.state.models import PENDING_COMMAND_STATUSES

    if rem.plan is None:
        return []
    outcomes = rem.applied.outcomes if rem.applied is not None else ()
    out = []
    for i, c in enumerate(rem.plan.commands):
        status, note = (
            (outcomes[i].status, outcomes[i].note) if i < len(outcomes) else ("planned", None)
        )
        if dry_run and status in PENDING_COMMAND_STATUSES:
            note = f"dry run: would be {status}" + (f" ({note})" if note else "")
            status = "planned"
        out.append((_command_record(c, status, note), status))
    return out


def _action_status(kind: str, applied: bool) -> str:
    """A remediation action's stored status: a borrow is in force once recorded; a scale is
    applied when its commands reached the stack; a recompose is taken up by the next compose."""
    if kind == "borrow":
        return "applied"
    if kind == "scale":
        return "applied" if applied else "planned"
    return "planned"


def _command_record(c: CommandView, status: str, note: str | None) -> CommandRecord:
    """The stored row of a plan command, its full body kept as evidence."""
    from reconciler.state import CommandRecord

    return CommandRecord(
        kind=c.kind,
        target=c.target,
        reason=c.reason,
        before=c.before,
        after=c.after,
        evidence={"command": c.body} if c.body else None,
        status=status,
        outcome=note,
    )


def _user_series(forecasts: ForecastSet | None) -> list[str]:
    """The user groups' forecast series ids in this cycle's forecasts."""
    if forecasts is None or forecasts.frame.height == 0:
        return []
    ids = forecasts.frame.get_column("group_id").unique().to_list()
    return sorted(str(i) for i in ids if str(i).startswith("users/"))
