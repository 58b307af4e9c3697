"""``headroom run --once`` and ``headroom serve``: the cycle against a real account.

Heavy imports live inside the commands so ``headroom --help`` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from reconciler.clouds import (
    AZURE_FLOW_LOGS,
    AZURE_SUBSCRIPTIONS,
    CLOUDS,
    GCP_IMPERSONATE,
    GCP_KEY,
    GCP_PROJECT,
    Cloud,
    CloudChoice,
    CloudChoiceError,
    build_provider,
)
from reconciler.state.engine import StateLocation, state_location

if TYPE_CHECKING:
    from reconciler.loop import RunReport
    from reconciler.state import StateStore
    from reconciler.steps.build import CycleSettings

__all__ = [
    "AZURE_CURSOR_FILE",
    "Located",
    "app",
    "cli_provider",
    "cloud_choice",
    "context_factory",
    "locate",
    "no_resources_line",
    "print_report",
]

app = typer.Typer(help="Run the reconciler: one cycle, or on the policy's schedule with the API.")

_POLICY = typer.Option(
    Path("policies/examples/default.yaml"), "--policy", "-p", help="Policy YAML file."
)
_HISTORY = typer.Option(
    None,
    "--history",
    help="History store: a folder or an fsspec URL, s3://... (default: <state-dir>/history).",
)
_STATE_DIR = typer.Option(
    None,
    "--state-dir",
    envvar="HEADROOM_STATE_DIR",
    help="Headroom's state folder: headroom.db, history/, pulumi-state/ (default .headroom).",
)
_DB = typer.Option(
    None, "--database-url", help="State database URL (default: $HEADROOM_DATABASE_URL or SQLite)."
)
_REGIONS = typer.Option(
    [],
    "--region",
    "-r",
    help="Region (repeatable), each cloud taking its own: AWS us-east-1 (its default), GCP "
    "us-central1 (default: all), Azure westeurope (at least one).",
)
_ENDPOINT = typer.Option(None, "--endpoint-url", help="AWS endpoint (e.g. a moto_server).")
_DRY = typer.Option(False, "--dry-run", help="Preview only: never run `pulumi up`.")
_STACK = typer.Option("dev", "--stack", help="Pulumi stack the apply step drives.")


@dataclass(frozen=True)
class Located:
    """Where one command's state lives; ``history`` is ``--history`` when given (a folder or
    an fsspec URL), else the state folder's."""

    state: StateLocation
    history: str

    @property
    def root(self) -> Path:
        return self.state.root


def locate(state_dir: Path | None, history: str | None) -> Located:
    """The one resolution every command uses (see ``state_location``)."""
    where = state_location(state_dir)
    return Located(where, history or str(where.history))


def _settings(
    policy: Path, located: Located, database_url: str | None, dry_run: bool
) -> CycleSettings:
    from reconciler.steps.build import CycleSettings

    return CycleSettings(
        policy_path=policy,
        history_root=located.history,
        state_dir=located.root,
        database_url=database_url,
        dry_run=dry_run,
    )


def aws_provider(
    regions: Sequence[str],
    endpoint_url: str | None,
    *,
    profile: str | None = None,
    accounts: Sequence[str] | None = None,
    role_name: str | None = None,
) -> Any:
    """The AWS provider for ``regions``. The base session gets the first region when none is
    configured, so region-less calls (STS) work with ``--endpoint-url`` and ``--region`` alone."""
    import boto3

    from providers.aws.provider import AwsProvider
    from providers.aws.session import AwsSessionFactory, aws_errors

    with aws_errors("CreateSession", None):
        base = boto3.Session(profile_name=profile)
        if base.region_name is None and regions:
            base = boto3.Session(profile_name=profile, region_name=regions[0])
    factory = AwsSessionFactory(
        profile=profile, endpoint_url=endpoint_url, role_name=role_name, base_session=base
    )
    return AwsProvider(
        factory=factory, regions=list(regions), accounts=list(accounts or []) or None
    )


#: The Azure flow-log block cursor, under the state folder (``run``, ``serve``, ``collect``).
AZURE_CURSOR_FILE = "azure-flow-cursor.json"


def cloud_choice(
    located: Located,
    regions: Sequence[str],
    clouds: Sequence[Cloud],
    gcp: tuple[str | None, str | None, str | None],
    azure: tuple[Sequence[str], Sequence[str]],
    **aws: Any,
) -> CloudChoice:
    """A command's options as a ``CloudChoice``: ``gcp`` is (project, key file, impersonated
    account), ``azure`` (subscriptions, flow-log accounts), ``aws`` the AWS keywords; the
    Azure block cursor lives in the state folder."""
    project, key, impersonate = gcp
    subscriptions, flow_logs = azure
    return CloudChoice(
        clouds=tuple(clouds),
        regions=tuple(regions),
        gcp_project=project,
        gcp_key=key,
        gcp_impersonate=impersonate,
        azure_subscriptions=tuple(subscriptions),
        azure_flow_logs=tuple(flow_logs),
        azure_cursor=located.root / AZURE_CURSOR_FILE,
        **aws,
    )


def cli_provider(choice: CloudChoice) -> Any:
    """``build_provider`` for a command: a choice that does not fit is a usage error (exit 2)."""
    try:
        return build_provider(choice)
    except CloudChoiceError as exc:
        typer.secho(f"error: {exc} (exit 2)", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc


def actuator(stack: str, state_dir: Path | None) -> Any:
    from reconciler.actuate.actuator import Actuator, StackTarget
    from reconciler.clock import SystemClock

    root = Path(__file__).resolve().parent.parent
    pulumi = state_location(state_dir).pulumi
    target = StackTarget(stack_name=stack, project_dir=root, state_dir=pulumi)
    return Actuator(target, SystemClock())


def no_resources_line(regions: Sequence[str]) -> str:
    return (
        f"no resources found in regions {', '.join(regions)}: check --region, and that the "
        "credentials (or --endpoint-url) reach the account you mean"
    )


def print_report(
    report: RunReport, *, as_json: bool = False, regions: Sequence[str] | None = None
) -> None:
    """The run's status and each step's time and summary; with ``regions``, an empty account
    is said so (not a bare ``ok``)."""
    collected = next((s for s in report.steps if s.name == "collect"), None)
    empty = (
        regions is not None and collected is not None and collected.summary.get("resources") == 0
    )
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        if empty:
            typer.echo(no_resources_line(regions or []), err=True)
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
    if empty:
        console.print(f"[yellow]{no_resources_line(regions or [])}[/yellow]")


def context_factory(
    settings: Any,
    provider: Any,
    policy: Any,
    stack: str,
    state_dir: Path | None,
    *,
    state: Any = None,
    clock: Any = None,
) -> Callable[[], Any]:
    """Builds each scheduled cycle's context (``run``, ``serve``). One ``HistoryStore`` (files
    it checked are not reopened) and one ``ModelCache`` are kept across them, so the fitted
    forecasters are reused until their retrain interval, as the policy's
    ``lookahead_retrain_every`` and ``retrain_every`` intend."""
    from forecasting.cache import ModelCache
    from reconciler.clock import SystemClock
    from reconciler.history import HistoryStore
    from reconciler.steps.build import build_context

    models = ModelCache()
    history = HistoryStore(settings.history_root)

    def make() -> Any:
        return build_context(
            settings,
            clock=clock or SystemClock(),
            provider=provider,
            policy=policy,
            state=state,
            actuator=actuator(stack, state_dir),
            models=models,
            history=history,
        )

    return make


@app.command("run")
def run(
    once: bool = typer.Option(False, "--once", help="Run one cycle and exit."),
    policy: Path = _POLICY,
    history: str | None = _HISTORY,
    state_dir: Path | None = _STATE_DIR,
    database_url: str | None = _DB,
    region: list[str] = _REGIONS,
    endpoint_url: str | None = _ENDPOINT,
    cloud: list[Cloud] = CLOUDS,
    gcp_project: str | None = GCP_PROJECT,
    gcp_key: str | None = GCP_KEY,
    gcp_impersonate: str | None = GCP_IMPERSONATE,
    azure_subscription: list[str] = AZURE_SUBSCRIPTIONS,
    azure_flow_logs: list[str] = AZURE_FLOW_LOGS,
    dry_run: bool = _DRY,
    stack: str = _STACK,
    as_json: bool = typer.Option(False, "--json", help="Print the run report as JSON."),
) -> None:
    """Run the cycle against AWS, GCP or Azure (--cloud, several for one mixed fleet): once
    with --once, else on the policy's cron schedule."""
    from reconciler.loop import RunStatus, run_once
    from reconciler.scheduler import build_scheduler, cycle_job
    from reconciler.steps.build import load_checked_policy

    located = locate(state_dir, history)
    settings = _settings(policy, located, database_url, dry_run)
    provider = cli_provider(
        cloud_choice(
            located,
            region,
            cloud,
            (gcp_project, gcp_key, gcp_impersonate),
            (azure_subscription, azure_flow_logs),
            endpoint_url=endpoint_url,
        )
    )
    loaded = load_checked_policy(policy, provider)
    make = context_factory(settings, provider, loaded, stack, located.root)

    def show(report: RunReport) -> None:
        print_report(report, as_json=as_json, regions=region or ["us-east-1"])

    if once:
        report = run_once(make())
        show(report)
        # a lost lease is a cycle that did not finish (nothing recorded); skipped is not: the
        # reconciler holding the lease runs it
        raise typer.Exit(1 if report.status in (RunStatus.FAILED, RunStatus.LEASE_LOST) else 0)
    sched = build_scheduler(
        loaded.schedule.cron, cycle_job(make, show), timezone=loaded.schedule.timezone
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
    history: str | None = _HISTORY,
    state_dir: Path | None = _STATE_DIR,
    database_url: str | None = _DB,
    region: list[str] = _REGIONS,
    endpoint_url: str | None = _ENDPOINT,
    cloud: list[Cloud] = CLOUDS,
    gcp_project: str | None = GCP_PROJECT,
    gcp_key: str | None = GCP_KEY,
    gcp_impersonate: str | None = GCP_IMPERSONATE,
    azure_subscription: list[str] = AZURE_SUBSCRIPTIONS,
    azure_flow_logs: list[str] = AZURE_FLOW_LOGS,
    dry_run: bool = _DRY,
    stack: str = _STACK,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
    run_now: bool = typer.Option(False, "--run-now", help="Also run a cycle at start-up."),
    demo: bool = typer.Option(
        False,
        "--demo",
        help="Serve the last `headroom demo`'s state (.headroom/demo): API only, no AWS.",
    ),
    api_only: bool = typer.Option(
        False,
        "--api-only",
        help="Serve existing state (--state-dir or --database-url): no scheduler, no AWS.",
    ),
) -> None:
    """The cycle on the policy's cron schedule plus the HTTP API, in one process; with --demo
    or --api-only, the API alone over existing state (no cloud account needed)."""
    from reconciler.api import create_app
    from reconciler.api.cli import api_limits, open_store
    from reconciler.scheduler import cycle_job, serve
    from reconciler.state import StateStore, resolve_database_url
    from reconciler.steps.build import load_checked_policy

    if demo or api_only:
        store = open_store(database_url, state_dir, demo=demo, create=False)
        _serve_api(store, host, port, demo=demo)
        return
    located = locate(state_dir, history)
    settings = _settings(policy, located, database_url, dry_run)
    provider = cli_provider(
        cloud_choice(
            located,
            region,
            cloud,
            (gcp_project, gcp_key, gcp_impersonate),
            (azure_subscription, azure_flow_logs),
            endpoint_url=endpoint_url,
        )
    )
    loaded = load_checked_policy(policy, provider)
    state = StateStore.open(resolve_database_url(database_url, state_dir=located.root))
    make = context_factory(settings, provider, loaded, stack, located.root, state=state)

    serve(
        create_app(state, limits=api_limits()),
        loaded.schedule.cron,
        cycle_job(make),
        timezone=loaded.schedule.timezone,
        host=host,
        port=port,
        run_now=run_now,
    )


def _serve_api(store: StateStore, host: str, port: int, *, demo: bool) -> None:
    """The HTTP API alone over ``store``: no scheduler, no provider, no policy check."""
    import uvicorn

    from reconciler.api import create_app
    from reconciler.api.cli import api_limits

    api = create_app(store, limits=api_limits())
    flag = "--demo" if demo else "--state-dir DIR | --database-url URL"
    typer.echo(
        f"serving the API only (no scheduler, no cloud calls) on http://{host}:{port} "
        f"(docs at /docs); a token: `headroom token create --scope read {flag}`; Ctrl-C stops",
        err=True,
    )
    try:
        uvicorn.run(api, host=host, port=port, log_level="warning")
    finally:
        store.close()


@app.command("demo")
def demo_cmd(
    days: float = typer.Option(3.0, "--days", min=1.6, max=14, help="Days of sandbox history."),
    cycles: int = typer.Option(8, "--cycles", min=1, max=48, help="Simulated cycles to run."),
    interval: int = typer.Option(30, "--interval", min=5, help="Minutes between cycles."),
    out: Path = typer.Option(
        Path(".headroom/demo"),
        "--out",
        help="State folder for the demo (database, history, report); an existing one must be "
        "empty or made by the demo, and only what the demo writes is replaced.",
    ),
) -> None:
    """The full cycle on a sandbox AWS account (moto): no cloud account needed."""
    from datetime import timedelta

    from reconciler.clock import SystemClock
    from reconciler.demo import DemoFolderError, demo_main

    try:
        result = demo_main(
            SystemClock().now(),
            days=days,
            cycles=cycles,
            interval=timedelta(minutes=interval),
            out=out,
        )
    except DemoFolderError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    raise typer.Exit(0 if result.ok_cycles == result.cycles else 1)
