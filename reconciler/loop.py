"""The reconciler cycle: ``run_once(ctx) -> RunReport``.

collect -> analyze -> compose -> forecast -> allocate -> plan -> apply -> remediate, each step
timed and reported. One failing step fails the run: the steps after it are skipped, nothing of
the cycle is recorded as in force (but for the commands the apply step already put on the
stack, recorded as applied), and the last good allocation stays where it was. The whole
cycle is recorded in one transaction at the end, with its finished run row, under a lease so
only one cycle runs at a time across processes; if recording fails, that transaction rolls back
whole and the run is recorded as failed.

The lease has a short ttl (``RunContext.lease_ttl``, a minute by default) renewed every ttl/3
by a heartbeat thread while the cycle runs, so a holder killed with ``kill -9`` is replaced
within about one ttl. A cycle that loses its lease (a renewal refused before a step, or by the
heartbeat, or the re-check inside the recording transaction) stops, records nothing and
reports ``lease_lost``: the holder that took over owns the state.
"""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from reconciler.context import LeaseLostError, RunContext
from reconciler.logs import get_logger
from reconciler.remediation.types import RemediationResult
from reconciler.state.heartbeat import LeaseHeartbeat
from reconciler.steps.types import (
    Allocation,
    Analysis,
    ApplyResult,
    Collected,
    ForecastSet,
    GroupSet,
    Plan,
)

__all__ = [
    "STEP_NAMES",
    "CycleOutputs",
    "LeaseLostError",
    "RunReport",
    "RunStatus",
    "StepReport",
    "StepStatus",
    "run_once",
]

STEP_NAMES = (
    "collect",
    "analyze",
    "compose",
    "forecast",
    "allocate",
    "plan",
    "apply",
    "remediate",
)

T = TypeVar("T")
log = get_logger(__name__)


class StepStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class RunStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"  # another process holds the lease
    LEASE_LOST = "lease_lost"  # the lease ran out or was taken over: nothing recorded


class StepReport(BaseModel):
    name: str
    status: StepStatus
    seconds: float = 0.0
    summary: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class RunReport(BaseModel):
    """What one cycle did: per-step timing and summary, and which allocation is in force."""

    run_id: str
    holder: str
    started_at: datetime
    finished_at: datetime | None = None
    status: RunStatus = RunStatus.OK
    dry_run: bool = False
    steps: list[StepReport] = Field(default_factory=list)
    error: str | None = None
    allocation_in_force: datetime | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.OK

    def step(self, name: str) -> StepReport:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"run {self.run_id} has no step {name!r}")

    def failed_step(self) -> StepReport | None:
        return next((s for s in self.steps if s.status is StepStatus.FAILED), None)


@dataclass
class CycleOutputs:
    """What the steps produced; ``None`` for steps that did not run."""

    collected: Collected | None = None
    analysis: Analysis | None = None
    groups: GroupSet | None = None
    forecasts: ForecastSet | None = None
    allocation: Allocation | None = None
    plan: Plan | None = None
    applied: ApplyResult | None = None
    remediation: RemediationResult | None = None


class _StepFailed(Exception):
    pass


class _Runner:
    """Times each step, turns its output into a summary, and stops at the first failure."""

    def __init__(self, report: RunReport, ctx: RunContext, heartbeat: LeaseHeartbeat) -> None:
        self.report = report
        self.ctx = ctx
        self.heartbeat = heartbeat

    def __call__(self, name: str, fn: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        try:
            if self.heartbeat.reason is not None:
                raise LeaseLostError(f"{self.heartbeat.reason}, noticed before step {name}")
            if not self.ctx.store.renew_lease(self.ctx.holder, self.ctx.lease_ttl):
                raise LeaseLostError(
                    f"lease of {self.ctx.holder} expired or was taken before step {name}; "
                    "stopping so two cycles never act at once"
                )
            out = fn(*args)
        except Exception as exc:
            seconds = time.perf_counter() - started
            message = f"{type(exc).__name__}: {exc}"
            self.report.steps.append(
                StepReport(name=name, status=StepStatus.FAILED, seconds=seconds, error=message)
            )
            self.report.error = f"step {name} failed: {message}"
            trace = None if isinstance(exc, LeaseLostError) else traceback.format_exc(limit=5)
            log.error("step_failed", step=name, error=message, trace=trace)
            raise _StepFailed(name) from exc
        seconds = time.perf_counter() - started
        summary = out.summary() if hasattr(out, "summary") else {}
        self.report.steps.append(
            StepReport(name=name, status=StepStatus.OK, seconds=seconds, summary=summary)
        )
        log.info("step_done", step=name, seconds=round(seconds, 3), **summary)
        return out


def run_once(ctx: RunContext) -> RunReport:
    """Run one full cycle under the lease and record it; never raises for a failing step or
    for a state database that cannot be used (the report says why)."""
    started = time.perf_counter()
    report = RunReport(
        run_id=uuid.uuid4().hex,
        holder=ctx.holder,
        started_at=ctx.clock.now(),
        dry_run=ctx.dry_run,
    )
    try:
        acquired = ctx.store.acquire_lease(ctx.holder, ctx.lease_ttl)
    except Exception as exc:  # the state database cannot be used: say so, do nothing
        report.status = RunStatus.FAILED
        report.error = f"the cycle lease could not be taken: {_one_line(exc)}"
        report.finished_at = ctx.clock.now()
        log.error("cycle_not_started", holder=ctx.holder, error=report.error)
        return report
    if not acquired:
        report.status = RunStatus.SKIPPED
        report.error = "another reconciler holds the cycle lease; this cycle did not run"
        report.finished_at = ctx.clock.now()
        log.info("cycle_skipped", holder=ctx.holder)
        return report
    out = CycleOutputs()
    try:
        heartbeat = LeaseHeartbeat(
            lambda: ctx.store.renew_lease(ctx.holder, ctx.lease_ttl), ctx.lease_ttl
        )
        with heartbeat:
            _steps(ctx, _Runner(report, ctx, heartbeat), out)
        report.finished_at = ctx.clock.now()
        report.seconds = time.perf_counter() - started
        _record(ctx, report, out)
    finally:
        _release(ctx)
    if ctx.observer is not None:
        ctx.observer(report, out)
    log.info("cycle_done", run_id=report.run_id, status=str(report.status), error=report.error)
    return report


def _release(ctx: RunContext) -> None:
    """Give the lease back; when that fails it runs out within its ttl on its own."""
    try:
        ctx.store.release_lease(ctx.holder)
    except Exception as exc:
        log.warning("lease_not_released", holder=ctx.holder, error=_one_line(exc))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _steps(ctx: RunContext, step: _Runner, out: CycleOutputs) -> None:
    """Run the steps, mark the ones a failure skipped, and set the run's status."""
    try:
        _cycle(ctx, step, out)
    except _StepFailed as failed:
        lost = isinstance(failed.__cause__, LeaseLostError)
        report = step.report
        report.status = RunStatus.LEASE_LOST if lost else RunStatus.FAILED
        if lost:
            _lose(report, out, str(failed.__cause__))
    done = {s.name for s in step.report.steps}
    step.report.steps.extend(
        StepReport(name=n, status=StepStatus.SKIPPED) for n in STEP_NAMES if n not in done
    )


def _record(ctx: RunContext, report: RunReport, out: CycleOutputs) -> None:
    """Record the cycle (not one that lost its lease: the store would refuse it anyway) and
    say which allocation is in force after it."""
    if report.status is not RunStatus.LEASE_LOST:
        try:
            ctx.store.record(report, out)
        except LeaseLostError as exc:
            report.status = RunStatus.LEASE_LOST
            _lose(report, out, str(exc))
        except Exception as exc:
            report.status = RunStatus.FAILED
            report.error = f"recording the cycle failed: {_one_line(exc)}"
            log.error("record_failed", error=report.error)
    fresh = out.allocation if report.ok else None
    in_force = fresh if fresh is not None else ctx.store.last_allocation()
    report.allocation_in_force = in_force.at if in_force is not None else None


def _lose(report: RunReport, out: CycleOutputs, why: str) -> None:
    """Say that the cycle lost its lease and that nothing of it was recorded."""
    report.error = (
        f"the cycle lease was lost ({why}); nothing of it was recorded: the reconciler that "
        "took the lease over owns the state"
    )
    applied = out.applied is not None and any(o.status == "applied" for o in out.applied.outcomes)
    log.error("cycle_lease_lost", run_id=report.run_id, error=report.error, applied=applied)


def _cycle(ctx: RunContext, step: _Runner, out: CycleOutputs) -> None:
    """The cycle as the specification writes it; each line is one timed step."""
    s = ctx.steps
    out.collected = step("collect", s.collect, ctx)
    out.analysis = step("analyze", s.analyze, ctx, out.collected)
    out.groups = step("compose", s.compose, ctx, out.analysis)
    out.forecasts = step("forecast", s.forecast, ctx, out.groups)
    out.allocation = step("allocate", s.allocate, ctx, out.groups, out.forecasts)
    out.plan = step("plan", s.plan, ctx, out.groups, out.forecasts, out.allocation)
    out.applied = step("apply", s.apply, ctx, out.groups, out.allocation, out.plan)
    out.remediation = step(
        "remediate",
        s.remediate,
        ctx,
        out.groups,
        out.forecasts,
        out.allocation,
        out.plan,
        out.applied,
    )
