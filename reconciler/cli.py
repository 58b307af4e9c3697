"""The ``headroom`` command. Each capability registers its own sub-commands here."""

from __future__ import annotations

import typer

from reconciler.logs import configure_logging

__all__ = ["app", "main"]

app = typer.Typer(
    name="headroom",
    help="Headroom: bandwidth and capacity for cloud applications before they need it.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root(
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
    json_logs: bool | None = typer.Option(
        None, "--json-logs/--console-logs", help="Log format (default: JSON unless a terminal)."
    ),
) -> None:
    """Headroom: bandwidth and capacity for cloud applications before they need it."""
    configure_logging(log_level, json=json_logs)


@app.command()
def version() -> None:
    """Print Headroom's version."""
    from importlib.metadata import version as dist_version

    typer.echo(dist_version("headroom"))


@app.command("collect")
def collect_command(
    region: list[str] = typer.Option(["us-east-1"], "--region", help="Region (repeatable)."),
    profile: str | None = typer.Option(None, "--profile", help="AWS profile to use."),
    account: list[str] = typer.Option(
        [], "--account", help="Account to reach through --role-name (repeatable)."
    ),
    role_name: str | None = typer.Option(None, "--role-name", help="Role assumed per account."),
    endpoint_url: str | None = typer.Option(None, "--endpoint-url", help="e.g. a moto server."),
    history: str = typer.Option("history", "--history", help="History store dir or fsspec URL."),
    hours: float = typer.Option(1.0, "--hours", min=0.01, help="Collect the last N hours."),
    sandbox: bool = typer.Option(
        False, "--sandbox", help="Seed an in-process moto account and collect from it instead."
    ),
) -> None:
    """Collect inventory, metrics and flow logs into the history store."""
    from datetime import timedelta

    from providers.base import ProviderError
    from reconciler.clock import SystemClock
    from reconciler.collect import collect_from_aws, collect_from_sandbox
    from reconciler.sandbox import SandboxSpec

    clock = SystemClock()
    now = clock.now()
    try:
        if sandbox:
            spec = SandboxSpec(days=hours / 24, surge=None)
            report, _, store = collect_from_sandbox(
                history, now - timedelta(hours=hours), clock, spec=spec
            )
            _print_collect(report)
            _print_traffic(store, report.window)
            return
        else:
            report = collect_from_aws(
                history,
                now - timedelta(hours=hours),
                now,
                regions=region,
                clock=clock,
                profile=profile,
                accounts=account or None,
                role_name=role_name,
                endpoint_url=endpoint_url,
            )
    except ProviderError as exc:
        typer.echo(f"collect failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    _print_collect(report)


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
