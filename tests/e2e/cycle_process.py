"""Run one cycle against a moto server in its own process (used by the e2e tests).

``python -m tests.e2e.cycle_process ENDPOINT DB_URL HISTORY NOW HOLDER [crash]`` prints the
run report as JSON; with ``crash`` the process SIGKILLs itself when the allocate step starts,
after collect has written history and the lease is held: a crash mid-cycle.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime, timedelta
from pathlib import Path

from providers.aws.provider import AwsProvider
from providers.aws.session import AwsSessionFactory
from reconciler.clock import SimulatedClock
from reconciler.demo import DEMO_POLICY
from reconciler.loop import run_once
from reconciler.steps.build import CycleSettings, build_context
from reconciler.steps.package import PackageSteps, StepSettings


class CrashAtAllocate(PackageSteps):
    def allocate(self, ctx, groups, forecasts):  # type: ignore[no-untyped-def]
        os.kill(os.getpid(), signal.SIGKILL)


def settings_for(db_url: str, history: str) -> CycleSettings:
    return CycleSettings(
        policy_path=DEMO_POLICY,
        history_root=history,
        database_url=db_url,
        state_dir=Path(history).parent,
        steps=StepSettings(demand_source="flows", metric_backfill=timedelta(hours=1)),
    )


def main(argv: list[str]) -> None:
    endpoint, db_url, history, now, holder = argv[:5]
    crash = len(argv) > 5 and argv[5] == "crash"
    provider = AwsProvider(
        factory=AwsSessionFactory(endpoint_url=endpoint), regions=["us-east-1", "eu-west-1"]
    )
    settings = settings_for(db_url, history)
    clock = SimulatedClock(datetime.fromisoformat(now))
    ctx = build_context(settings, clock=clock, provider=provider, holder=holder)
    if crash:
        ctx.steps = CrashAtAllocate(settings=settings.steps, state=ctx.steps.state)  # type: ignore[attr-defined]
    report = run_once(ctx)
    sys.stdout.write("\nREPORT " + report.model_dump_json() + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
