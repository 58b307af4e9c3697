"""``headroom run --once`` and ``headroom serve``: the cycle against a real account.

Heavy imports live inside the commands so ``headroom --help`` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from reconciler.loop import RunReport
    from reconciler.steps.build import CycleSettings

__all__ = ["app", "context_factory", "print_report"]

app = typer.Typer(help="Run the reconciler: one cycle, or on the policy's schedule with the API.")

_POLICY = typer.Option(
    Path("policies/examples/default.yaml"), "--policy", "-p", help="Policy YAML file."
)
_HISTORY = typer.Option(
    ".headroom/history", "--history", help="History store: a folder or an fsspec URL (s3://...)."
)
_STATE_DIR = typer.Option(Path(".headroom"), "--state-dir", help="Folder of the SQLite default.")
_DB = typer.Option(
    None, "--database-url", help="State database URL (default: $HEADROOM_DATABASE_URL or SQLite)."
)
_REGIONS = typer.Option(["us-east-1"], "--region", "-r", help="AWS region (repeat for several).")
_ENDPOINT = typer.Option(None, "--endpoint-url", help="AWS endpoint (e.g. a moto_server).")
_DRY = typer.Option(False, "--dry-run", help="Preview only: never run `pulumi up`.")
_STACK = typer.Option("dev", "--stack", help="Pulumi stack the apply step drives.")


def _settings(
    policy: Path, history: str, state_dir: Path, database_url: str | None, dry_run: bool
) -> CycleSettings:
    from reconciler.steps.build import CycleSettings

    return CycleSettings(
        policy_path=policy,
        history_root=history,
        state_dir=state_dir,
        database_url=database_url,
        dry_run=dry_run,
    )


def aws_provider(regions: list[str], endpoint_url: str | None) -> Any:
    from providers.aws.provider import AwsProvider
    from providers.aws.session import AwsSessionFactory

    return AwsProvider(factory=AwsSessionFactory(endpoint_url=endpoint_url), regions=regions)


def actuator(stack: str, state_dir: Path) -> Any:
    from reconciler.actuate.actuator import Actuator, StackTarget
    from reconciler.clock import SystemClock

    root = Path(__file__).resolve().parent.parent
    target = StackTarget(stack_name=stack, project_dir=root, state_dir=state_dir / "pulumi")
    return Actuator(target, SystemClock())


def print_report(report: RunReport, *, as_json: bool = False) -> None:
    """The run's status and each step's time and summary."""
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"cycle {report.run_id[:8]}: {report.status} in {report.seconds:.1f} s")
    for col in ("step", "status", "seconds", "summary"):
        table.add_column(col)
    for s in report.steps:
        summary = s.error or json.dumps(s.summary, default=str)
        table.add_row(s.name, str(s.status), f"{s.seconds:.2f}", summary[:160])
    console = Console()
    console.print(table)
    if report.error:
        console.print(f"[red]{report.error}[/red]")
    if report.allocation_in_force:
        console.print(f"allocation in force: from {report.allocation_in_force:%Y-%m-%d %H:%M}")


def context_factory(
    settings: Any,
    provider: Any,
    policy: Any,
    stack: str,
    state_dir: Path,
    *,
    state: Any = None,
    clock: Any = None,
) -> Callable[[], Any]:
    """Builds each scheduled cycle's context (``run``, ``serve``). One ``ModelCache`` is kept
    across them, so the fitted forecasters are reused until their retrain interval, as the
    policy's ``lookahead_retrain_every`` and ``retrain_every`` intend."""
    from reconciler.clock import SystemClock
    from reconciler.steps.build import build_context
    from reconciler.steps.forecast_grid import ModelCache

    models = ModelCache()

    def make() -> Any:
        return build_context(
            settings,
            clock=clock or SystemClock(),
            provider=provider,
            policy=policy,
            state=state,
            actuator=actuator(stack, state_dir),
            models=models,
        )

    return make


@app.command("run")
def run(
    once: bool = typer.Option(False, "--once", help="Run one cycle and exit."),
    policy: Path = _POLICY,
    history: str = _HISTORY,
    state_dir: Path = _STATE_DIR,
    database_url: str | None = _DB,
    region: list[str] = _REGIONS,
    endpoint_url: str | None = _ENDPOINT,
    dry_run: bool = _DRY,
    stack: str = _STACK,
    as_json: bool = typer.Option(False, "--json", help="Print the run report as JSON."),
) -> None:
    """Run the cycle against AWS: once with --once, else on the policy's cron schedule."""
    from reconciler.loop import RunStatus, run_once
    from reconciler.scheduler import build_scheduler, cycle_job
    from reconciler.steps.build import load_checked_policy

    settings = _settings(policy, history, state_dir, database_url, dry_run)
    provider = aws_provider(region, endpoint_url)
    loaded = load_checked_policy(policy, provider)
    make = context_factory(settings, provider, loaded, stack, state_dir)

    if once:
        report = run_once(make())
        print_report(report, as_json=as_json)
        raise typer.Exit(0 if report.status is not RunStatus.FAILED else 1)
    sched = build_scheduler(
        loaded.schedule.cron,
        cycle_job(make, lambda r: print_report(r, as_json=as_json)),
        timezone=loaded.schedule.timezone,
    )
    typer.echo(f"running on {loaded.schedule.cron} ({loaded.schedule.timezone}); Ctrl-C stops")
    sched.start()
    try:
        import threading

        threading.Event().wait()
    except KeyboardInterrupt:
        sched.shutdown(wait=True)


@app.command("serve")
def serve_cmd(
    policy: Path = _POLICY,
    history: str = _HISTORY,
    state_dir: Path = _STATE_DIR,
    database_url: str | None = _DB,
    region: list[str] = _REGIONS,
    endpoint_url: str | None = _ENDPOINT,
    dry_run: bool = _DRY,
    stack: str = _STACK,
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8080, "--port"),
    run_now: bool = typer.Option(False, "--run-now", help="Also run a cycle at start-up."),
) -> None:
    """The cycle on the policy's cron schedule plus the HTTP API, in one process."""
    from reconciler.api import create_app
    from reconciler.scheduler import cycle_job, serve
    from reconciler.state import StateStore, resolve_database_url
    from reconciler.steps.build import load_checked_policy

    settings = _settings(policy, history, state_dir, database_url, dry_run)
    provider = aws_provider(region, endpoint_url)
    loaded = load_checked_policy(policy, provider)
    state = StateStore.open(resolve_database_url(database_url, state_dir=state_dir))
    make = context_factory(settings, provider, loaded, stack, state_dir, state=state)

    serve(
        create_app(state),
        loaded.schedule.cron,
        cycle_job(make),
        timezone=loaded.schedule.timezone,
        host=host,
        port=port,
        run_now=run_now,
    )


@app.command("demo")
def demo_cmd(
    days: float = typer.Option(3.0, "--days", min=1.6, max=14, help="Days of sandbox history."),
    cycles: int = typer.Option(8, "--cycles", min=1, max=48, help="Simulated cycles to run."),
    interval: int = typer.Option(30, "--interval", min=5, help="Minutes between cycles."),
    out: Path = typer.Option(Path(".headroom/demo"), "--out", help="Folder for state + report."),
) -> None:
    """The full cycle on a sandbox AWS account (moto): no cloud account needed."""
    from datetime import timedelta

    from reconciler.clock import SystemClock
    from reconciler.demo import demo_main

    result = demo_main(
        SystemClock().now(),
        days=days,
        cycles=cycles,
        interval=timedelta(minutes=interval),
        out=out,
    )
    raise typer.Exit(0 if result.ok_cycles == result.cycles else 1)
