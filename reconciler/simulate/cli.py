"""``headroom simulate``: replay the Bitbrains trace through Headroom and its peers."""

from __future__ import annotations

import os
from pathlib import Path

import typer

__all__ = ["app"]

app = typer.Typer(name="simulate", help="Replay real traces through provisioning strategies.")

COLUMNS = ["strategy", "congested %", "unmet %", "slack %", "cost USD", "changes"]


@app.callback(invoke_without_command=True)
def simulate(
    data: Path | None = typer.Option(
        None, "--data", help="Data root (default $HEADROOM_DATA or ../shared/data)."
    ),
    quick: bool = typer.Option(False, "--quick", help="Few VMs and days: a smoke run."),
    apps: int = typer.Option(8, "--apps", min=1, help="Applications the VMs are spread over."),
    train_days: int = typer.Option(14, "--train-days", min=1, help="Days of history first."),
    days: float | None = typer.Option(None, "--days", min=1, help="Days of trace to use in all."),
    forecaster: str = typer.Option("lightgbm", "--forecaster", help="lightgbm or seasonal-naive."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy for Headroom (replay.yaml)."),
    cron: str | None = typer.Option(
        None,
        "--cron",
        help="Headroom's schedule in the replay (default hourly; 'policy' keeps the policy's).",
    ),
) -> None:
    """Replay every strategy on the same trace; print the table and the headline.

    Headroom runs its real cycle (``run_once``) on a replayed provider, clock and actuator:
    one cycle costs seconds, so the default schedule is hourly (``--cron``)."""
    from policies.loader import PolicyError, load_policy
    from reconciler.logs import configure_logging
    from reconciler.simulate.run import REPLAY_CRON, Headline, Scenario, Tradeoff
    from reconciler.simulate.run import simulate as run

    root = data or Path(os.environ.get("HEADROOM_DATA") or "../shared/data")
    if not (root / "bitbrains_rnd").is_dir():
        typer.echo(f"no Bitbrains trace at {root / 'bitbrains_rnd'} (pass --data DIR)", err=True)
        raise typer.Exit(2)
    try:
        chosen = load_policy(policy) if policy is not None else None
    except PolicyError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    schedule = None if cron == "policy" else (cron or REPLAY_CRON)
    if quick:
        scenario = Scenario.quick()
    else:
        scenario = Scenario(n_apps=apps, train_days=train_days, days=days)
    scenario.forecaster = forecaster
    scenario.cron = schedule
    configure_logging("WARNING")  # thousands of cycles: their step logs only when wrong
    sim = run(root, scenario, chosen)
    trace, cfg, results = sim.trace, sim.cfg, sim.results
    typer.echo(
        f"{len(trace.apps)} apps, {sum(len(v) for v in trace.vms.values())} VMs, "
        f"{trace.n_steps - cfg.train_steps} replayed 5-minute steps"
    )
    typer.echo(sim.cycles_line())
    typer.echo("  ".join(f"{c:>13}" for c in COLUMNS))
    for r in results:
        typer.echo(
            f"{r.name:>13}  {r.congested_pct:13.2f}  {r.unmet_pct:13.2f}  {r.slack_pct:13.1f}  "
            f"{r.cost_usd:13.2f}  {r.changes:13d}"
        )
    typer.echo("each peer against Headroom holding no more slack:")
    for peer, pc, ps, ours, oc, os_, fewer in Tradeoff(results).rows():
        typer.echo(
            f"  {peer}: congested {pc:.2f}% at slack {ps:.1f}%; {ours}: congested {oc:.2f}% "
            f"at slack {os_:.1f}% (fewer: {fewer})"
        )
    head = Headline(results)
    typer.echo(head.counts())
    typer.echo(head.line())
