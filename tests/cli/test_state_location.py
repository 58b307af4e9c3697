"""Finding 4: one state location for every command; read-only commands never create one."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.state.engine import state_location
from tests.cli.conftest import make_demo_state

runner = CliRunner()


def test_commands_list_finds_the_demo_commands(demo_cwd: int, tmp_path: Path) -> None:
    by_flag = runner.invoke(app, ["commands", "list", "--demo"])
    assert by_flag.exit_code == 0, by_flag.output
    assert f"{demo_cwd}  needs_approval" in by_flag.output and "shop-asg" in by_flag.output
    by_dir = runner.invoke(app, ["commands", "list", "--state-dir", ".headroom/demo"])
    assert by_dir.stdout == by_flag.stdout
    by_env = runner.invoke(app, ["commands", "list"], env={"HEADROOM_STATE_DIR": ".headroom/demo"})
    assert by_env.stdout == by_flag.stdout
    approved = runner.invoke(app, ["commands", "approve", str(demo_cwd), "--demo"])
    assert approved.exit_code == 0, approved.output


@pytest.mark.parametrize("command", [["commands", "list"], ["token", "list"]])
def test_read_only_commands_never_create_a_database(
    command: list[str], tmp_path: Path, no_aws, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*command, "--state-dir", "nothing-here"])
    assert result.exit_code == 2, result.output
    assert "no Headroom state in nothing-here" in result.output
    assert "headroom demo" in result.output
    assert not (tmp_path / "nothing-here").exists()
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    by_url = runner.invoke(app, [*command, "--database-url", url])
    assert by_url.exit_code == 2, by_url.output
    assert not (tmp_path / "absent.db").exists()


def test_demo_writes_where_the_other_commands_look(tmp_path: Path) -> None:
    where = state_location(tmp_path / "demo", environ={})
    make_demo_state(where.root)
    assert where.database.is_file()
    from reconciler.demo import demo_paths

    paths = demo_paths(where.root)
    assert paths.database == where.database
    assert paths.history == where.history and paths.pulumi == where.pulumi


def test_run_serve_and_apply_share_the_pulumi_and_history_folders(tmp_path: Path) -> None:
    from reconciler.actuate.cli import _actuator
    from reconciler.runner_cli import actuator, locate

    where = state_location(tmp_path, environ={})
    assert actuator("dev", tmp_path).target.state_dir == where.pulumi
    assert _actuator("dev", Path("."), where.root, None, None).target.state_dir == where.pulumi
    located = locate(tmp_path, None)
    assert located.history == str(where.history)


def test_state_dir_env_reaches_run_and_serve(tmp_path: Path, monkeypatch) -> None:
    from reconciler.runner_cli import locate

    monkeypatch.setenv("HEADROOM_STATE_DIR", str(tmp_path / "env-state"))
    assert locate(None, None).root == tmp_path / "env-state"
    for command in ("run", "serve", "collect", "apply", "plan"):
        help_text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        assert "HEADROOM_STATE_DIR" in help_text, command
