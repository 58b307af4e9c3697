import pytest
from typer.testing import CliRunner

from reconciler.cli import app

COMMANDS = [
    "version",
    "collect",
    "demo",
    "backtest",
    "simulate",
    "plan",
    "apply",
    "run",
    "serve",
    "policy",
    "policy validate",
    "token",
    "token create",
    "commands",
    "commands list",
    "commands approve",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command: str) -> None:
    result = CliRunner().invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_policy_validate_reports_field_and_line(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nnot_a_field: 1\n")
    result = CliRunner().invoke(app, ["policy", "validate", str(bad)])
    assert result.exit_code == 1
    assert "bad.yaml:2" in result.output
    assert "not_a_field" in result.output
