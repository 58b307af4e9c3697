"""One-line errors about the state database that name it and never show a secret.

The engine hides statement parameters (a failed token write would print its salt and hash),
database URLs are shown with the password masked (also ones that do not parse), and the
driver's errors that mean "this database cannot be used here" (a missing folder, a read-only or
damaged file, a full disk, a lock held too long, a server that cannot be reached) become a
``StateDatabaseError`` whose message names the file or the masked URL and what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

__all__ = [
    "StateDatabaseError",
    "database_error_line",
    "describe_database",
    "mask_url",
    "scrub",
    "translate_error",
]

_MASK = "***"
_ELSEWHERE = "or point --state-dir or HEADROOM_DATABASE_URL elsewhere"


class StateDatabaseError(SQLAlchemyError):
    """The state database cannot be opened, read or written; the message (one line) names it,
    with any password masked, and says what to do."""


def _password(url: str) -> tuple[str, str] | None:
    """``(before, password)`` of the credentials in ``url``, found without parsing it (the
    URLs worth masking are often the ones that do not parse); None when it has none."""
    scheme, sep, rest = url.partition("://")
    head = f"{scheme}{sep}" if sep else ""
    if not sep:
        rest = url
    at = rest.rfind("@")
    user, colon, password = rest[:at].partition(":") if at > 0 else ("", "", "")
    if not colon or "/" in user or not password:
        return None
    return f"{head}{user}:", password


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    found = _password(url)
    if found is None:
        return url
    before, password = found
    return url.replace(f"{before}{password}", f"{before}{_MASK}", 1)


def scrub(text: str, url: str) -> str:
    """``text`` (an error message about ``url``) with the password of ``url`` masked."""
    found = _password(url)
    return text if found is None else text.replace(found[1], _MASK)


def describe_database(url: URL) -> str:
    """How messages name a database: the SQLite file's path, else the masked URL."""
    if url.get_backend_name() == "sqlite":
        return str(url.database) if url.database not in (None, "", ":memory:") else "in memory"
    return url.render_as_string(hide_password=True)


def _sqlite_file(url: URL) -> Path | None:
    name = url.database
    if not name or name == ":memory:":
        return None
    if name.startswith("file:"):  # a URI filename (``?uri=true``)
        name = name.removeprefix("file:").partition("?")[0]
    return Path(name)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


#: SQLite's error text (lower case) -> what it means for the operator; the first match wins.
_SQLITE: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("unable to open database file",),
        "the state database {name} cannot be opened: check that this user may read and write "
        "it and its folder, " + _ELSEWHERE,
    ),
    (
        ("readonly", "read-only"),
        "the state database {name} is read-only: give this user write access to it and its "
        "folder, " + _ELSEWHERE,
    ),
    (
        ("not a database", "malformed"),
        "the state database {name} is damaged or not a SQLite database ({reason}): restore it "
        "from a backup or move it aside",
    ),
    (("full",), "no room to write the state database {name} ({reason}): free disk space"),
    (
        ("locked",),
        "the state database {name} stayed locked by another process ({reason}): try again, or "
        "stop the process holding it",
    ),
    (("disk i/o",), "the state database {name} could not be read or written ({reason})"),
)


def _sqlite_problem(url: URL, reason: str) -> str | None:
    where = _sqlite_file(url)
    low = reason.lower()
    if "unable to open" in low and where is not None and not where.parent.is_dir():
        what = "is not a folder" if where.parent.exists() else "does not exist"
        return f"{where.parent}, the state database's folder, {what}: create it, {_ELSEWHERE}"
    name = describe_database(url) if where is None else str(where)
    for keys, template in _SQLITE:
        if any(k in low for k in keys):
            return template.format(name=name, reason=reason)
    return None


def _postgres_problem(url: URL, exc: DBAPIError, reason: str) -> str | None:
    name = describe_database(url)
    state = getattr(exc.orig, "sqlstate", None) or ""
    if state == "25006":
        return f"the state database {name} is read-only ({reason}): use a primary that takes writes"
    if state.startswith("53"):
        return f"the state database {name} has no room ({reason}): free space on the server"
    unreachable = state.startswith("08") or (not state and type(exc).__name__ == "OperationalError")
    if unreachable or exc.connection_invalidated:
        return f"the state database {name} cannot be reached: {reason}"
    return None


def translate_error(url: URL, exc: BaseException) -> StateDatabaseError | None:
    """The ``StateDatabaseError`` for a driver error that means the database cannot be used
    here, or None for others (a constraint broken, a bug): those keep their type."""
    if not isinstance(exc, DBAPIError) or type(exc).__name__ not in (
        "OperationalError",
        "DatabaseError",
        "InternalError",
    ):
        return None
    said = _first_line(exc.orig if exc.orig is not None else exc)
    reason = scrub(said, url.render_as_string(hide_password=False))
    if url.get_backend_name() == "sqlite":
        message = _sqlite_problem(url, reason)
    else:
        message = _postgres_problem(url, exc, reason)
    return None if message is None else StateDatabaseError(message)


def database_error_line(exc: BaseException) -> str | None:
    """One line for any SQLAlchemy error: the driver's own first line, without the statement
    or its parameters; None for other exceptions."""
    if isinstance(exc, StateDatabaseError):
        return str(exc)
    if not isinstance(exc, SQLAlchemyError):
        return None
    orig: Any = getattr(exc, "orig", None)
    reason = _first_line(orig if orig is not None else exc)
    return f"the state database failed: {type(exc).__name__}: {reason}"
