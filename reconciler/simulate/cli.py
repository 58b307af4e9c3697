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
    days: int | None = typer.Option(None, "--days", min=2, help="Days of trace to use in all."),
    forecaster: str = typer.Option("lightgbm", "--forecaster", help="lightgbm or seasonal-naive."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy for Headroom (replay.yaml)."),
    calibrate: bool = typer.Option(
        True,
        "--calibrate/--no-calibrate",
        help="Choose Headroom's scale-in hold on the training days before the replay.",
    ),
) -> None:
    """Replay every strategy on the same trace; print the table and the headline."""
    from policies.loader import PolicyError, load_policy
    from reconciler.simulate.run import Headline, Scenario, Tradeoff
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
    if quick:
        scenario = Scenario.quick()
        scenario.forecaster = forecaster
        scenario.calibrate = calibrate
    else:
        scenario = Scenario(
            n_apps=apps,
            train_days=train_days,
            days=days,
            forecaster=forecaster,
            calibrate=calibrate,
        )
    sim = run(root, scenario, chosen)
    trace, cfg, results = sim.trace, sim.cfg, sim.results
    typer.echo(
        f"{len(trace.apps)} apps, {sum(len(v) for v in trace.vms.values())} VMs, "
        f"{trace.n_steps - cfg.train_steps} replayed 5-minute steps"
    )
    typer.echo("  ".join(f"{c:>13}" for c in COLUMNS))
    for r in results:
        typer.echo(
            f"{r.name:>13}  {r.congested_pct:13.2f}  {r.unmet_pct:13.2f}  {r.slack_pct:13.1f}  "
            f"{r.cost_usd:13.2f}  {r.changes:13d}"
        )
    if sim.calibration is not None:
        typer.echo(sim.calibration.line())
    typer.echo("each peer against Headroom's variants holding no more slack:")
    for peer, pc, ps, ours, oc, os_, fewer in Tradeoff(results).rows():
        typer.echo(
            f"  {peer}: congested {pc:.2f}% at slack {ps:.1f}%; {ours}: congested {oc:.2f}% "
            f"at slack {os_:.1f}% (fewer: {fewer})"
        )
    head = Headline(results)
    typer.echo(head.counts())
    typer.echo(head.line())
