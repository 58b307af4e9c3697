"""A state database that cannot be used fails in one line naming it (issue 13, finding 15).

A missing folder or a read-only file gave SQLAlchemy's multi-line error without the path; a
malformed URL echoed its password; a failed write printed the token's salt and hash (the
statement's parameters). Now: one line naming the file (or the URL with its password masked),
through ``headroom``'s usual ``error: ...`` path, and statement parameters never shown.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from typer.testing import CliRunner

from reconciler.cli import app, explain
from reconciler.state import StateStore, normalise_url
from reconciler.state.errors import StateDatabaseError, mask_url
from tests.state.conftest import T0

SECRET = "s3cret"
HEX = re.compile(r"[0-9a-f]{32,}")  # a salt (32) or a salted hash (64)


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _one_line_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ") and "Traceback" not in output, output
    return lines[0]


def read_only_url(path: Path) -> str:
    """The file opened read-only by SQLite (a chmod does not stop root, who runs CI here)."""
    return f"sqlite:///file:{path}?mode=ro&uri=true"


def test_a_missing_database_folder_is_one_line_naming_it(tmp_path: Path) -> None:
    where = tmp_path / "no" / "such" / "folder" / "state.db"
    with pytest.raises(
        StateDatabaseError, match=f"{where.parent}, the state database's folder, does not exist"
    ):
        StateStore.open(f"sqlite:///{where}")
    code, out = _cli("token", "create", "--scope", "read", "--database-url", f"sqlite:///{where}")
    assert code == 1
    assert str(where.parent) in _one_line_error(out)


def test_a_read_only_database_is_one_line_naming_it_and_shows_no_salt_or_hash(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    StateStore.open(f"sqlite:///{path}").close()
    code, out = _cli("token", "create", "--scope", "write", "--database-url", read_only_url(path))
    assert code == 1
    line = _one_line_error(out)
    assert str(path) in line and "read-only" in line
    assert not HEX.search(out), out
    store = StateStore.open(read_only_url(path), migrate=False)
    with pytest.raises(StateDatabaseError, match="is read-only"):
        store.acquire_lease("a", T0, timedelta(minutes=1))
    store.close()


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://u:{SECRET}@host:notaport/db",
        f"postgresql://u:{SECRET}@[::1/db",
        f"mysql://u:{SECRET}@host/db",
        f"postgresql+nosuchdriver://u:{SECRET}@host/db",
        f"u:{SECRET}@host/db",
        f"postgresql://u:{SECRET}@host:99999/db",
    ],
)
def test_a_malformed_database_url_never_shows_its_password(url: str) -> None:
    with pytest.raises((ValueError, SQLAlchemyError)) as caught:
        StateStore.open(url)
    assert SECRET not in str(caught.value)
    code, out = _cli("token", "list", "--database-url", url)
    assert code != 0 and SECRET not in out, out
    assert "Traceback" not in out


def test_an_unreachable_postgresql_is_one_line_with_the_password_masked() -> None:
    url = f"postgresql://u:{SECRET}@127.0.0.1:1/db"
    with pytest.raises(StateDatabaseError) as caught:
        StateStore.open(url)
    message = str(caught.value)
    assert "cannot be reached" in message and "u:***@127.0.0.1:1/db" in message
    assert SECRET not in message and "\n" not in message


def test_mask_url_hides_every_password_even_in_urls_that_do_not_parse() -> None:
    assert mask_url(f"postgresql://u:{SECRET}@h/db") == "postgresql://u:***@h/db"
    assert mask_url(f"postgresql://u:{SECRET}@h:notaport/db") == "postgresql://u:***@h:notaport/db"
    assert mask_url(f"u:{SECRET}@host/db") == "u:***@host/db"
    assert mask_url(f"postgresql://u:p@ss:{SECRET}@h/db") == "postgresql://u:***@h/db"
    assert mask_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    with pytest.raises(ValueError) as caught:
        normalise_url(f"postgresql://u:{SECRET}@host:notaport/db")
    assert SECRET not in str(caught.value) and "u:***@host" in str(caught.value)


def test_a_failed_write_never_shows_the_statement_parameters(store: StateStore) -> None:
    salt, digest = "a" * 32, "b" * 64
    store.add_token("t1", name="x", scope="read", salt=salt, secret_hash=digest, at=T0)
    with pytest.raises(IntegrityError) as caught:
        store.add_token("t1", name="x", scope="read", salt=salt, secret_hash=digest, at=T0)
    assert salt not in str(caught.value) and digest not in str(caught.value)
    code, message = explain(caught.value)
    assert code == 1 and "\n" not in message and "api_tokens" in message
    assert salt not in message and "INSERT" not in message


def test_explain_gives_a_state_database_error_as_its_one_line() -> None:
    assert explain(StateDatabaseError("the state database /x is read-only: fix it")) == (
        1,
        "the state database /x is read-only: fix it",
    )
