"""Engines and session factories from a database URL (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.orm import Session, sessionmaker

from reconciler.state.errors import mask_url, translate_error

__all__ = [
    "DATABASE_FILE",
    "DATABASE_URL_ENV",
    "DEFAULT_STATE_DIR",
    "DEMO_STATE_DIR",
    "STATE_DIR_ENV",
    "StateLocation",
    "StateNotFoundError",
    "make_engine",
    "make_session_factory",
    "normalise_url",
    "resolve_database_url",
    "state_location",
]

DATABASE_URL_ENV = "HEADROOM_DATABASE_URL"
STATE_DIR_ENV = "HEADROOM_STATE_DIR"
DEFAULT_STATE_DIR = Path(".headroom")
DEMO_STATE_DIR = DEFAULT_STATE_DIR / "demo"
DATABASE_FILE = "headroom.db"


class StateNotFoundError(FileNotFoundError):
    """A command that only reads state found no database where it looked."""


@dataclass(frozen=True)
class StateLocation:
    """Everything Headroom keeps under one state folder; every command resolves it this way
    (``--state-dir``, else ``HEADROOM_STATE_DIR``, else ``.headroom``), the demo included."""

    root: Path

    @property
    def database(self) -> Path:
        return self.root / DATABASE_FILE

    @property
    def history(self) -> Path:
        return self.root / "history"

    @property
    def pulumi(self) -> Path:
        """The Pulumi file backend shared by ``run``, ``serve``, ``plan`` and ``apply``."""
        return self.root / "pulumi-state"


def state_location(
    state_dir: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> StateLocation:
    """The state folder: ``state_dir``, else ``HEADROOM_STATE_DIR``, else ``.headroom``."""
    env = os.environ if environ is None else environ
    return StateLocation(state_dir or Path(env.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR))


def resolve_database_url(
    url: str | None = None,
    *,
    state_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    create: bool = True,
) -> str:
    """The database URL to use: explicit ``url``, else ``HEADROOM_DATABASE_URL``, else SQLite.

    The SQLite default lives at ``<state_dir>/headroom.db`` where ``state_dir`` is the argument,
    else ``HEADROOM_STATE_DIR``, else ``.headroom``; the folder is created when needed.
    With ``create=False`` (commands that only read) a missing SQLite file raises
    ``StateNotFoundError`` instead of being created empty.
    """
    env = os.environ if environ is None else environ
    chosen = url or env.get(DATABASE_URL_ENV)
    if chosen:
        normal = normalise_url(chosen)
        database = make_url(normal).database
        if not create and normal.startswith("sqlite") and database and database != ":memory:":
            _require(Path(database), f"no state database at {database}")
        return normal
    where = state_location(state_dir, environ=env)
    if not create:
        _require(where.database, f"no Headroom state in {where.root} (no {DATABASE_FILE})")
    where.root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{where.database.resolve()}"


def _require(path: Path, message: str) -> None:
    if not path.is_file():
        raise StateNotFoundError(message)


def normalise_url(url: str) -> str:
    """Pin PostgreSQL URLs to the psycopg 3 driver (the only one installed) and check the scheme."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        # the parser's reason may quote a piece of the password: give it only when there is none
        why = str(exc) if mask_url(url) == url else "its parts could not be read"
        raise ValueError(
            f"not a database URL: {mask_url(url)!r} ({why}; expected "
            "postgresql://user:password@host:port/database, with @ : / in the password written "
            "%40 %3A %2F, or sqlite:///path)"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {backend!r} in URL; use sqlite:// or postgresql://")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys on.

    Statement parameters are never shown in errors or logs (a failed token write would show
    its salt and hash), and errors that mean the database cannot be used here are raised as
    one-line ``StateDatabaseError`` naming it (see ``reconciler.state.errors``).
    """
    url = normalise_url(url)
    common: dict[str, Any] = {
        "echo": echo,
        "hide_parameters": True,
        "pool_size": 20,
        "max_overflow": 20,
    }
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **common)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, **common)
    event.listen(engine, "handle_error", _name_the_database)
    return engine


def _name_the_database(context: ExceptionContext) -> None:
    """Raise the one-line ``StateDatabaseError`` in place of a driver error that says the
    database cannot be used here (not while the pool pings a connection it may replace)."""
    error = context.sqlalchemy_exception
    if context.is_pre_ping or context.engine is None or error is None:
        return
    translated = translate_error(context.engine.url, error)
    if translated is not None:
        raise translated from None


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
