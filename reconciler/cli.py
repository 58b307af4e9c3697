"""The ``headroom`` command. Each capability registers its own sub-commands here.

Every command fails the way ``collect`` does: one line naming the cause and the fix, and an
exit code from ``EXIT_CODES``; ``headroom --debug ...`` shows the trace instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from reconciler.clouds import (
    AZURE_FLOW_LOGS,
    AZURE_SUBSCRIPTIONS,
    CLOUDS,
    GCP_IMPERSONATE,
    GCP_KEY,
    GCP_PROJECT,
    Cloud,
)
from reconciler.logs import configure_logging

__all__ = ["EXIT_CODES", "app", "explain", "main"]

EXIT_CODES = (
    "Exit codes: 0 done; 1 failed (a cycle failed, the cloud refused or could not be reached, "
    "the policy is invalid); 2 usage (a bad option, no state where some was expected); "
    "3 the Pulumi CLI is missing; 4 the Pulumi stack is locked; 130 interrupted."
)
DEBUG_ENV = "HEADROOM_DEBUG"


class _Headroom(TyperGroup):
    """The root group: plain metavars in every help, and errors turned into one line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_metavars(self)

    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)
        for param in params:  # typer adds the completion options after __init__
            _plain_label(param)
        return params

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except BrokenPipeError:
            raise typer.Exit(1) from None  # the reader went away (`headroom ... | head`)
        except (Exception, KeyboardInterrupt) as exc:
            if ctx.params.get("debug") or os.environ.get(DEBUG_ENV):
                raise
            code, message = explain(exc)
            typer.secho(
                f"error: {message} (exit {code}; `headroom --debug ...` shows the trace)",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(code) from None


def _plain_metavars(command: Any) -> None:
    """Name each value in help as click does (TEXT, PATH, INTEGER), not by its Python type
    (``<bool>``, ``<list[str]>``); flags show none. The installed typer has no setting for it,
    so each parameter's help label is replaced (the lazily made ``--help`` option included)."""
    for param in command.params:
        _plain_label(param)
    make_help = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = make_help(ctx)
        if option is not None:
            _plain_label(option)
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        _plain_metavars(sub)


def _plain_label(param: Any) -> None:
    if isinstance(param, TyperOption) and param.is_flag:
        label = ""
    elif isinstance(param, TyperOption | TyperArgument):
        desc = param.type_descriptor
        if desc.is_choice and not desc.is_list:
            return
        if desc.is_choice:  # a repeatable choice: its values, as for a single one
            label = f"[{'|'.join(str(c) for c in desc.choices or ())}]"
        else:
            names = {int: "INTEGER", float: "NUMBER", datetime: "DATETIME"}
            label = "PATH" if desc.is_path else names.get(desc.annotation, "TEXT")
    else:
        return
    param.display_type_rich = lambda ctx=None: label


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


_NO_CREDENTIALS = (
    "configure them (`aws configure`, AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY), or try Headroom without an account: `headroom demo`, then "
    "`headroom serve --demo`"
)


#: A cloud's name in messages, the file listing the permissions Headroom's identity needs
#: ("" where none is generated), and what the credentials must reach.
_CLOUDS: dict[str, tuple[str, str, str]] = {
    "aws": ("AWS", "docs/iam-policy.json", "account"),
    "gcp": ("Google Cloud", "docs/gcp-roles.json", "project"),
    "azure": ("Azure", "docs/azure-roles.json", "subscription"),
}
_MODULES = {"botocore": "aws", "boto3": "aws", "google": "gcp", "azure": "azure"}


def _cloud_of(exc: BaseException, names: set[str]) -> str | None:
    """Which cloud raised a provider error: a ``MultiProvider``'s ``gcp: ...`` prefix, else the
    client library or provider package of it or a cause, else AWS's credential and region
    errors; None if unknown."""
    for cloud in _CLOUDS:
        if str(exc).startswith(f"{cloud}: "):
            return cloud
    for e in _chain(exc):
        found = _MODULES.get(type(e).__module__.split(".", 1)[0]) or _raised_in(e)
        if found is not None:
            return found
    if names & {"NoCredentialsError", "PartialCredentialsError", "NoRegionError"}:
        return "aws"
    if "no AWS credentials" in str(exc) or "must specify a region" in str(exc):
        return "aws"
    return None


def _raised_in(exc: BaseException) -> str | None:
    """The cloud whose provider package (``providers.gcp``...) raised ``exc``, if one did."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = str(tb.tb_frame.f_globals.get("__name__", "")) if tb is not None else ""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "providers" and parts[1] in _CLOUDS else None


def _provider_line(exc: BaseException, names: set[str]) -> str:
    """The line for a provider error, naming the cloud that raised it (AWS's credential, region
    and profile errors keep their own fixes)."""
    from providers.base import AccessDeniedError, ProviderError, ProviderUnavailableError

    assert isinstance(exc, ProviderError)
    call = " ".join(p for p in (exc.operation, f"in {exc.region}" if exc.region else "") if p)
    where = f" ({call})" if call else ""
    cloud = _cloud_of(exc, names)
    if cloud == "aws":
        if names & {"NoCredentialsError", "PartialCredentialsError"} or (
            "no AWS credentials" in str(exc)
        ):
            return f"no AWS credentials found{where}: {_NO_CREDENTIALS}"
        if "NoRegionError" in names or "must specify a region" in str(exc):
            return f"no AWS region{where}: pass --region or set AWS_DEFAULT_REGION"
        if "ProfileNotFound" in names:
            return f"{exc}: check --profile or AWS_PROFILE (`aws configure list-profiles`)"
    name, permissions, scope = _CLOUDS.get(cloud or "", ("the cloud provider", "", "account"))
    if isinstance(exc, AccessDeniedError):
        listed = f" ({permissions} lists it)" if permissions else ""
        return (
            f"{name} refused the call: {exc}: check that the credentials reach the right "
            f"{scope} and allow what Headroom reads{listed}"
        )
    if isinstance(exc, ProviderUnavailableError):
        fix = "the network and --endpoint-url" if cloud == "aws" else "the network"
        return f"{name} could not be reached: {exc}: check {fix}"
    return f"{name} failed: {exc}" if cloud else f"the cloud provider failed: {exc}"


def explain(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one line that names ``exc``'s cause and its fix."""
    from policies import PolicyError
    from providers.base import ProviderError
    from reconciler.actuate.errors import PulumiCliMissing
    from reconciler.api.cli import MISSING_STATE_FIX
    from reconciler.state.engine import StateNotFoundError
    from reconciler.state.errors import database_error_line

    names = {type(e).__name__ for e in _chain(exc)}
    if isinstance(exc, KeyboardInterrupt):
        return 130, "interrupted"
    if isinstance(exc, ProviderError):
        return 1, _provider_line(exc, names)
    if isinstance(exc, PolicyError):
        return 1, f"invalid policy (`headroom policy validate FILE` checks one):\n{exc}"
    if isinstance(exc, StateNotFoundError):
        return 2, f"{exc}: {MISSING_STATE_FIX}"
    if isinstance(exc, PulumiCliMissing):
        return 3, str(exc)
    database = database_error_line(exc)
    if database is not None:
        return 1, database
    if isinstance(exc, OSError) and exc.strerror:
        return 1, f"{exc.filename or ''}: {exc.strerror}".lstrip(": ")
    return 1, f"{type(exc).__name__}: {exc}"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


app = typer.Typer(
    name="headroom",
    help="Headroom: bandwidth and capacity for cloud applications before they need it.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    cls=_Headroom,
)


@app.callback()
def _root(
    log_level: LogLevel = typer.Option(
        LogLevel.INFO, "--log-level", case_sensitive=False, help="How much to log."
    ),
    json_logs: bool | None = typer.Option(
        None, "--json-logs/--console-logs", help="Log format (default: JSON unless a terminal)."
    ),
    debug: bool = typer.Option(
        False, "--debug", "-v", help=f"On an error show the full trace (or set {DEBUG_ENV}=1)."
    ),
) -> None:
    """Headroom: bandwidth and capacity for cloud applications before they need it."""
    configure_logging(log_level.value, json=json_logs)


@app.command()
def version() -> None:
    """Print Headroom's version."""
    from importlib.metadata import version as dist_version

    typer.echo(dist_version("headroom"))


@app.command("collect")
def collect_command(
    region: list[str] = typer.Option(
        [], "--region", help="Region (repeatable), each cloud taking its own (see `run --help`)."
    ),
    profile: str | None = typer.Option(None, "--profile", help="AWS profile to use."),
    account: list[str] = typer.Option(
        [], "--account", help="Account to reach through --role-name (repeatable)."
    ),
    role_name: str | None = typer.Option(None, "--role-name", help="Role assumed per account."),
    endpoint_url: str | None = typer.Option(None, "--endpoint-url", help="e.g. a moto server."),
    history: str | None = typer.Option(
        None, "--history", help="History store dir or fsspec URL (default: <state-dir>/history)."
    ),
    state_dir: Path | None = typer.Option(
        None,
        "--state-dir",
        envvar="HEADROOM_STATE_DIR",
        help="Headroom's state folder (default .headroom).",
    ),
    hours: float = typer.Option(1.0, "--hours", min=0.01, help="Collect the last N hours."),
    sandbox: bool = typer.Option(
        False, "--sandbox", help="Seed an in-process moto account and collect from it instead."
    ),
    cloud: list[Cloud] = CLOUDS,
    gcp_project: str | None = GCP_PROJECT,
    gcp_key: str | None = GCP_KEY,
    gcp_impersonate: str | None = GCP_IMPERSONATE,
    azure_subscription: list[str] = AZURE_SUBSCRIPTIONS,
    azure_flow_logs: list[str] = AZURE_FLOW_LOGS,
) -> None:
    """Collect inventory, metrics and flow logs into the history store."""
    from datetime import timedelta

    from providers.base import ProviderError
    from providers.models import TimeWindow
    from reconciler.clock import SystemClock
    from reconciler.collect import collect, collect_from_sandbox
    from reconciler.history import HistoryStore
    from reconciler.runner_cli import cli_provider, cloud_choice, locate, no_resources_line
    from reconciler.sandbox import SandboxSpec

    located = locate(state_dir, history)
    root = located.history
    clock = SystemClock()
    now = clock.now()
    try:
        if sandbox:
            spec = SandboxSpec(days=hours / 24, surge=None)
            report, _, store = collect_from_sandbox(
                root, now - timedelta(hours=hours), clock, spec=spec
            )
            _print_collect(report)
            _print_traffic(store, report.window)
            return
        else:
            choice = cloud_choice(
                located,
                region,
                cloud,
                (gcp_project, gcp_key, gcp_impersonate),
                (azure_subscription, azure_flow_logs),
                endpoint_url=endpoint_url,
                profile=profile,
                accounts=tuple(account),
                role_name=role_name,
            )
            provider = cli_provider(choice)
            window = TimeWindow(start=now - timedelta(hours=hours), end=now)
            report = collect(provider, HistoryStore(root), window, clock)
    except ProviderError as exc:
        typer.echo(f"collect failed: {explain(exc)[1]}", err=True)
        raise typer.Exit(1) from exc
    _print_collect(report)
    if not report.resources:
        typer.echo(no_resources_line(region or ["us-east-1"]))


def _print_collect(report: object) -> None:
    from rich.console import Console
    from rich.table import Table

    from reconciler.collect import CollectReport

    assert isinstance(report, CollectReport)
    console = Console()
    flows = report.flows
    span = f"{report.window.start:%Y-%m-%d %H:%M} to {report.window.end:%Y-%m-%d %H:%M} UTC"
    table = Table(title=f"Collected {span}")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("seconds", justify="right")
    table.add_row("resources", str(report.resources), f"{report.timings.get('inventory', 0):.1f}")
    table.add_row(
        "metric series / points",
        f"{report.metric_series} / {report.metric_points}",
        f"{report.timings.get('metrics', 0):.1f}",
    )
    table.add_row("flow-log objects", str(flows.sources), f"{report.timings.get('flows', 0):.1f}")
    table.add_row("  skipped (already ingested)", str(flows.skipped_duplicates), "")
    table.add_row("flow records read", f"{flows.read:,}", "")
    table.add_row("  accepted", f"{flows.accepted:,}", "")
    table.add_row("  quarantined", f"{flows.rejected:,}", "")
    for reason, count in sorted(flows.rejected_by_reason.items()):
        table.add_row(f"    {reason}", str(count), "")
    console.print(table)


def _print_traffic(store: object, window: object) -> None:
    import polars as pl
    from rich.console import Console
    from rich.table import Table

    from providers.models import TimeWindow
    from reconciler.history import HistoryStore

    assert isinstance(store, HistoryStore) and isinstance(window, TimeWindow)
    console = Console()
    times = store.snapshot_times()
    resources = store.snapshot(times[-1]) if times else []
    names = {r.id: f"{r.name} ({r.tags['app']})" if "app" in r.tags else r.name for r in resources}

    kinds = Table(title="Resources by region and kind")
    for col in ("region", "kind", "count", "apps / tenants"):
        kinds.add_column(col, justify="right" if col == "count" else "left")
    groups: dict[tuple[str, str], list[str]] = {}
    for r in resources:
        label = r.tags.get("app", "-") + (f"/{r.tags['tenant']}" if "tenant" in r.tags else "")
        groups.setdefault((r.region, str(r.kind)), []).append(label)
    for (region, kind), labels in sorted(groups.items()):
        kinds.add_row(region, kind, str(len(labels)), ", ".join(sorted(set(labels))))
    console.print(kinds)

    edges = store.edges(window)
    totals = edges.group_by("src", "dst").agg(pl.col("bytes").sum(), pl.col("flows").sum())
    top = totals.sort("bytes", descending=True).head(12)
    edge_table = Table(title=f"Top edges ({edges.height:,} edge-buckets, 5-minute windows)")
    for col in ("source", "destination", "GB", "flows"):
        edge_table.add_column(col, justify="right" if col in {"GB", "flows"} else "left")
    for row in top.iter_rows(named=True):
        edge_table.add_row(
            names.get(row["src"], row["src"]),
            names.get(row["dst"], row["dst"]),
            f"{row['bytes'] / 1e9:,.1f}",
            f"{row['flows']:,}",
        )
    console.print(edge_table)

    series = store.resource_series(window)
    talkers = (
        series.group_by("resource")
        .agg(pl.col("bytes_out").sum(), pl.col("bytes_in").sum())
        .with_columns((pl.col("bytes_out") + pl.col("bytes_in")).alias("total"))
        .sort("total", descending=True)
        .head(10)
    )
    talk_table = Table(title="Top talkers")
    for col in ("resource", "GB out", "GB in"):
        talk_table.add_column(col, justify="left" if col == "resource" else "right")
    for row in talkers.iter_rows(named=True):
        talk_table.add_row(
            names.get(row["resource"], row["resource"]),
            f"{row['bytes_out'] / 1e9:,.1f}",
            f"{row['bytes_in'] / 1e9:,.1f}",
        )
    console.print(talk_table)
    counts = store.quarantine_counts()
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none"
    console.print(f"Quarantined records by reason: {summary}")


def _register_subcommands() -> None:
    """Attach each capability's commands; their heavy imports happen inside the commands."""
    from forecasting.cli import backtest
    from policies.cli import app as policy_app
    from reconciler.actuate.cli import apply, plan
    from reconciler.api.cli import app as token_app
    from reconciler.api.commands_cli import app as commands_app
    from reconciler.runner_cli import demo_cmd, run, serve_cmd
    from reconciler.simulate.cli import simulate

    app.add_typer(policy_app, name="policy")
    app.add_typer(token_app, name="token")
    app.add_typer(commands_app, name="commands")
    app.command("backtest")(backtest)
    app.command("simulate")(simulate)
    app.command("plan")(plan)
    app.command("apply")(apply)
    app.command("demo")(demo_cmd)
    app.command("run")(run)
    app.command("serve")(serve_cmd)


_register_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
