"""``plan`` and ``apply``: show our diff (and a Pulumi preview when the CLI exists), or apply.

Registered by the root CLI. Heavy imports happen inside the commands so ``headroom --help``
stays fast. Exit codes: 0 done, 1 bad input or a failed update, 3 Pulumi CLI missing, 4 locked.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from infra.desired_state import DesiredState
    from reconciler.actuate.actuator import ActuationResult, Actuator
    from reconciler.actuate.diff import Change

__all__ = ["app"]

app = typer.Typer(
    help="Drive the Pulumi stacks: diff a desired state against the inventory, preview, apply.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

EXIT_BAD_INPUT, EXIT_CLI_MISSING, EXIT_LOCKED = 1, 3, 4

_STACK = typer.Option("dev", "--stack", envvar="HEADROOM_PULUMI_STACK", help="Stack name.")
_PROJECT = typer.Option(
    Path("."), "--project-dir", help="Folder holding Pulumi.yaml (the repository root)."
)
_STATE = typer.Option(
    None,
    "--state-dir",
    envvar="HEADROOM_STATE_DIR",
    help="Headroom's state folder; its pulumi-state/ is the local file backend shared with "
    "`run` and `serve` (default .headroom).",
)
_PULUMI_STATE = typer.Option(
    None,
    "--pulumi-state",
    envvar="HEADROOM_PULUMI_STATE",
    help="Another local file backend folder (default: <state-dir>/pulumi-state).",
)
_BACKEND = typer.Option(
    None,
    "--backend-url",
    envvar="HEADROOM_PULUMI_BACKEND",
    help="Any Pulumi backend URL (s3://bucket, https://api.pulumi.com, file://...).",
)


def _console() -> Console:
    from rich.console import Console

    return Console(soft_wrap=False)


def _load_desired(path: Path, label: str = "desired state") -> DesiredState:
    from infra.desired_state import DesiredStateError, parse_desired_state

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"{label} {path}: cannot read: {exc.strerror}", EXIT_BAD_INPUT)
    try:
        return parse_desired_state(text, source=str(path))
    except DesiredStateError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)


def _fail(message: str, code: int) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _actuator(
    stack: str,
    project_dir: Path,
    state_dir: Path | None,
    pulumi_state: Path | None,
    backend: str | None,
) -> Actuator:
    from reconciler.actuate.actuator import Actuator, StackTarget
    from reconciler.clock import SystemClock
    from reconciler.state.engine import state_location

    folder = pulumi_state or state_location(state_dir).pulumi
    target = StackTarget(stack, project_dir.resolve(), folder, backend_url=backend)
    return Actuator(target, SystemClock())


def _changes_table(changes: list[Change]) -> object:
    from rich.table import Table

    table = Table(title=f"Headroom diff: {len(changes)} changes", show_lines=False)
    for column in ("kind", "target", "before", "after", "note"):
        table.add_column(column)
    for c in changes:
        table.add_row(str(c.kind), c.target, c.before or "-", c.after, c.detail)
    return table


def _result_table(result: ActuationResult) -> object:
    from rich.table import Table

    changes = result.applied or result.preview
    table = Table(title=f"stack {result.stack}: {result.status}")
    for column in ("op", "type", "name", "changed properties"):
        table.add_column(column)
    for c in changes:
        table.add_row(c.op, c.type, c.name, ", ".join(c.diffs))
    return table


@app.command()
def plan(
    desired: Path = typer.Option(..., "--desired", help="Desired-state JSON file."),
    inventory: Path = typer.Option(..., "--inventory", help="Inventory JSON (list of resources)."),
    previous: Path | None = typer.Option(
        None, "--previous", help="The last applied desired state (for weights and tiers)."
    ),
    preview: bool = typer.Option(True, "--preview/--no-preview", help="Also run pulumi preview."),
    stack: str = _STACK,
    project_dir: Path = _PROJECT,
    state_dir: Path | None = _STATE,
    pulumi_state: Path | None = _PULUMI_STATE,
    backend_url: str | None = _BACKEND,
) -> None:
    """Show what would change: our own diff, then pulumi preview if the CLI is installed."""
    from reconciler.actuate.diff import diff_desired_vs_inventory, load_inventory
    from reconciler.actuate.errors import PulumiCliMissing

    console = _console()
    state = _load_desired(desired)
    before = _load_desired(previous, "previous desired state") if previous else None
    try:
        loaded = load_inventory(inventory)
    except ValueError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    if loaded.rejected:
        console.print(f"[yellow]{len(loaded.rejected)} inventory records rejected:[/yellow]")
        for r in loaded.rejected:
            console.print(f"  record {r.line}: {r.reason}")
    changes = diff_desired_vs_inventory(state, loaded.resources, previous=before)
    console.print(_changes_table(changes))
    if not preview:
        return
    try:
        result = _actuator(stack, project_dir, state_dir, pulumi_state, backend_url).apply(
            state, dry_run=True
        )
    except PulumiCliMissing as exc:
        console.print(f"[yellow]No pulumi preview:[/yellow] {exc}")
        return
    console.print(_result_table(result))
    console.print(result.message)


@app.command()
def apply(
    desired: Path = typer.Option(..., "--desired", help="Desired-state JSON file."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Stop after preview."),
    stack: str = _STACK,
    project_dir: Path = _PROJECT,
    state_dir: Path | None = _STATE,
    pulumi_state: Path | None = _PULUMI_STATE,
    backend_url: str | None = _BACKEND,
) -> None:
    """Write the desired state into the stack config, preview, then up (unless --dry-run)."""
    from reconciler.actuate.actuator import ActuationStatus
    from reconciler.actuate.errors import PulumiCliMissing

    state = _load_desired(desired)
    try:
        result = _actuator(stack, project_dir, state_dir, pulumi_state, backend_url).apply(
            state, dry_run=dry_run
        )
    except PulumiCliMissing as exc:
        _fail(str(exc), EXIT_CLI_MISSING)
    console = _console()
    console.print(_result_table(result))
    console.print(result.message)
    if result.status is ActuationStatus.LOCKED:
        raise typer.Exit(EXIT_LOCKED)
    if result.status is ActuationStatus.FAILED:
        raise typer.Exit(EXIT_BAD_INPUT)
