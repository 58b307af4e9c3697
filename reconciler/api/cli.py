"""``headroom token create|list|revoke``: manage the API's bearer tokens (stored hashed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from reconciler.api.limits import ApiLimits
    from reconciler.state import StateStore

__all__ = ["MISSING_STATE_FIX", "api_limits", "app", "open_store"]

MISSING_STATE_FIX = (
    "run `headroom demo` first (then pass --demo), or point --state-dir, --database-url or "
    "HEADROOM_STATE_DIR at existing state"
)

app = typer.Typer(
    name="token", help="Create, list and revoke HTTP API tokens.", no_args_is_help=True
)

_URL = typer.Option(
    None,
    "--database-url",
    envvar="HEADROOM_DATABASE_URL",
    help="State database URL (default: SQLite in the state folder).",
)
_STATE = typer.Option(
    None,
    "--state-dir",
    envvar="HEADROOM_STATE_DIR",
    help="Headroom's state folder, holding headroom.db (default .headroom).",
)
_DEMO = typer.Option(False, "--demo", help="Use the last `headroom demo`'s state (.headroom/demo).")


def open_store(
    database_url: str | None,
    state_dir: Path | None,
    *,
    demo: bool = False,
    create: bool = True,
) -> StateStore:
    """The state store every command resolves the same way. ``--demo`` and ``create=False``
    (commands that only read) need existing state: a clear exit 2, never an empty database."""
    from reconciler.state import StateStore
    from reconciler.state.engine import DEMO_STATE_DIR, StateNotFoundError, resolve_database_url

    try:
        if demo:
            url = resolve_database_url(None, state_dir=DEMO_STATE_DIR, environ={}, create=False)
        else:
            url = resolve_database_url(database_url, state_dir=state_dir, create=create)
        return StateStore.open(url)
    except StateNotFoundError as exc:
        typer.secho(f"error: {exc}: {MISSING_STATE_FIX}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--database-url") from exc


def api_limits() -> ApiLimits:
    """The API's request limits for ``headroom serve``: the defaults (1 MiB bodies, 5,000
    members) unless ``HEADROOM_API_MAX_BODY_BYTES`` or ``HEADROOM_API_MAX_GROUP_MEMBERS`` is
    set; a bad value is a one-line error and exit 2."""
    import os

    from reconciler.api.limits import ApiLimits

    try:
        return ApiLimits.from_env(os.environ)
    except ValueError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc


def _store(
    database_url: str | None, state_dir: Path | None, demo: bool = False, create: bool = True
) -> StateStore:
    return open_store(database_url, state_dir, demo=demo, create=create)


@app.command("create")
def create(
    scope: str = typer.Option(..., "--scope", help="read, or write (write implies read)."),
    name: str = typer.Option("api", "--name", help="A label to recognise the token by."),
    database_url: str | None = _URL,
    state_dir: Path | None = _STATE,
    demo: bool = _DEMO,
) -> None:
    """Create a token and print it once: only its salted hash is stored."""
    from reconciler.api.tokens import SCOPES, issue_token
    from reconciler.clock import SystemClock

    if scope not in SCOPES:
        raise typer.BadParameter(
            f"{scope!r} is not one of {', '.join(SCOPES)}", param_hint="--scope"
        )
    store = _store(database_url, state_dir, demo)
    try:
        record, token = issue_token(store, name=name, scope=scope, at=SystemClock().now())
    finally:
        store.close()
    typer.echo(token)
    typer.echo(
        f"token {record.id} ({record.name}, scope {record.scope}) created; it is not shown again",
        err=True,
    )


@app.command("list")
def list_tokens(
    database_url: str | None = _URL, state_dir: Path | None = _STATE, demo: bool = _DEMO
) -> None:
    """List tokens (never their secrets)."""
    store = _store(database_url, state_dir, demo, create=False)
    try:
        tokens = store.list_tokens()
    finally:
        store.close()
    if not tokens:
        typer.echo("no tokens")
    for t in tokens:
        used = t.last_used_at.isoformat() if t.last_used_at else "never"
        state = f"revoked {t.revoked_at.isoformat()}" if t.revoked_at else "active"
        typer.echo(
            f"{t.id}  {t.scope:5}  {t.name}  created {t.created_at.isoformat()}  "
            f"last used {used}  {state}"
        )


@app.command("revoke")
def revoke(
    token_id: str = typer.Argument(..., help="The id shown by `headroom token list`."),
    database_url: str | None = _URL,
    state_dir: Path | None = _STATE,
    demo: bool = _DEMO,
) -> None:
    """Revoke a token: requests with it get 401 from then on."""
    from reconciler.clock import SystemClock
    from reconciler.state import NotFoundError

    store = _store(database_url, state_dir, demo)
    try:
        record = store.revoke_token(token_id, SystemClock().now())
    except NotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        store.close()
    typer.echo(f"token {record.id} revoked")
