"""``headroom commands list|approve``: the approval queue from the command line.

Works on the state database directly (like ``headroom token``); the HTTP API offers the same
through ``GET /commands`` and ``POST /commands/{id}/approve``.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

from reconciler.api.cli import _DEMO, _STATE, _URL, _store

__all__ = ["app"]

app = typer.Typer(
    name="commands",
    help="List planned commands and approve those awaiting approval.",
    no_args_is_help=True,
)


@app.command("list")
def list_commands(
    status: list[str] = typer.Option(
        [],
        "--status",
        help="Only commands with this status (repeatable), e.g. needs_approval, scheduled.",
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="At most this many."),
    database_url: str | None = _URL,
    state_dir: Path | None = _STATE,
    demo: bool = _DEMO,
) -> None:
    """List recent commands, newest first: id, status, kind, target, before -> after."""
    store = _store(database_url, state_dir, demo, create=False)
    try:
        commands = store.list_commands(status, limit=limit)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--status") from exc
    finally:
        store.close()
    if not commands:
        typer.echo("no commands")
    for c in commands:
        body = (c.evidence or {}).get("command") or {}
        when = f"  not before {body['not_before']}" if body.get("not_before") else ""
        typer.echo(
            f"{c.id}  {c.status:14}  {c.kind:14}  {c.target}  {c.before} -> {c.after}{when}  "
            f"({c.reason})"
        )


@app.command("approve")
def approve(
    command_id: int = typer.Argument(..., help="The id shown by `headroom commands list`."),
    by: str | None = typer.Option(None, "--by", help="Who approves (default: the OS user)."),
    database_url: str | None = _URL,
    state_dir: Path | None = _STATE,
    demo: bool = _DEMO,
) -> None:
    """Approve a command awaiting approval; the next cycle applies it after a re-check.

    Commands of a failed, killed or dry run are refused: no cycle would apply them.
    """
    from reconciler.clock import SystemClock
    from reconciler.state import CommandStateError, NotFoundError

    store = _store(database_url, state_dir, demo)
    try:
        record = store.approve_command(command_id, SystemClock().now(), by=by or getpass.getuser())
    except (NotFoundError, CommandStateError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        store.close()
    typer.echo(f"command {record.id} ({record.kind} {record.target}) approved")
