"""``headroom serve``: the cycle on the policy's cron schedule and the HTTP API, one process.

APScheduler runs ``run_once`` in a worker thread (one at a time, missed runs coalesced); uvicorn
serves the API in the main thread. Across processes the database lease still guarantees a single
cycle, so several ``serve`` replicas are safe.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from policies.cron import crontab_trigger
from reconciler.context import RunContext
from reconciler.logs import get_logger
from reconciler.loop import RunReport, run_once

__all__ = ["CYCLE_JOB_ID", "build_scheduler", "cron_trigger", "cycle_job", "next_run", "serve"]

CYCLE_JOB_ID = "headroom-cycle"
log = get_logger(__name__)


def cron_trigger(cron: str, timezone: str = "UTC") -> CronTrigger:
    """A trigger from a five-field cron expression; a bad one raises ValueError naming it."""
    try:
        return crontab_trigger(cron, timezone=timezone)
    except ValueError as exc:
        raise ValueError(f"schedule cron {cron!r} ({timezone}) is not valid: {exc}") from exc


def cycle_job(
    make_context: Callable[[], RunContext],
    on_report: Callable[[RunReport], None] | None = None,
) -> Callable[[], RunReport | None]:
    """The scheduled job: build a fresh context, run one cycle, never let an error kill the
    scheduler (a failed build is logged and the next tick tries again)."""

    def job() -> RunReport | None:
        try:
            report = run_once(make_context())
        except Exception as exc:
            log.error("cycle_not_started", error=f"{type(exc).__name__}: {exc}")
            return None
        if on_report is not None:
            on_report(report)
        return report

    return job


def build_scheduler(
    cron: str,
    job: Callable[[], Any],
    *,
    timezone: str = "UTC",
    scheduler: BackgroundScheduler | None = None,
) -> BackgroundScheduler:
    """A (not yet started) scheduler with the cycle job: one instance at a time, coalesced."""
    sched = scheduler or BackgroundScheduler(timezone=timezone)
    sched.add_job(
        job,
        cron_trigger(cron, timezone),
        id=CYCLE_JOB_ID,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=60,
        replace_existing=True,
    )
    return sched


def next_run(sched: BackgroundScheduler, now: datetime) -> datetime | None:
    """When the cycle job fires next after ``now`` (for status output and tests)."""
    job = sched.get_job(CYCLE_JOB_ID)
    if job is None:
        return None
    fire: datetime | None = job.trigger.get_next_fire_time(None, now)
    return fire


def serve(
    app: Any,
    cron: str,
    job: Callable[[], Any],
    *,
    timezone: str = "UTC",
    host: str = "127.0.0.1",
    port: int = 8080,
    run_now: bool = False,
) -> None:
    """Start the scheduler, then serve ``app`` with uvicorn until interrupted."""
    import uvicorn

    sched = build_scheduler(cron, job, timezone=timezone)
    sched.start()
    if run_now:
        sched.add_job(job, id=f"{CYCLE_JOB_ID}-now", max_instances=1)
    log.info("serving", host=host, port=port, cron=cron, timezone=timezone)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        sched.shutdown(wait=True)
