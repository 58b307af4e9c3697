from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from reconciler.api.cli import app
from reconciler.api.tokens import parse_token, verify_token
from reconciler.state import StateStore

runner = CliRunner()


def test_token_create_list_revoke(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    made = runner.invoke(
        app, ["create", "--scope", "write", "--name", "deploy", "--database-url", url]
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    token_id, _ = parse_token(token)
    assert "scope write" in made.stderr and "not shown again" in made.stderr
    store = StateStore.open(url)
    record = verify_token(store, token)
    assert record is not None and record.scope == "write" and record.name == "deploy"
    listed = runner.invoke(app, ["list", "--database-url", url])
    assert token_id in listed.stdout and "deploy" in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout
    revoked = runner.invoke(app, ["revoke", token_id, "--database-url", url])
    assert revoked.exit_code == 0 and f"token {token_id} revoked" in revoked.stdout
    assert verify_token(store, token) is None
    assert "revoked" in runner.invoke(app, ["list", "--database-url", url]).stdout
    store.close()


def test_token_errors_are_clear(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    bad_scope = runner.invoke(app, ["create", "--scope", "admin", "--database-url", url])
    assert bad_scope.exit_code == 2 and "'admin' is not one of read, write" in bad_scope.output
    missing = runner.invoke(app, ["revoke", "abc", "--database-url", url])
    assert missing.exit_code == 1 and "no API token with id 'abc'" in missing.output
    bad_url = runner.invoke(app, ["list", "--database-url", "mysql://x/y"])
    assert bad_url.exit_code == 2 and "unsupported database 'mysql'" in bad_url.output


def test_default_database_is_sqlite_in_the_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    made = runner.invoke(
        app,
        ["create", "--scope", "read", "--state-dir", str(state)],
        env={"HEADROOM_DATABASE_URL": ""},
    )
    assert made.exit_code == 0, made.output
    assert (state / "headroom.db").exists()
    assert (
        runner.invoke(
            app, ["list"], env={"HEADROOM_STATE_DIR": str(state), "HEADROOM_DATABASE_URL": ""}
        ).stdout.count("read")
        == 1
    )
