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


def test_logging_follows_the_current_stderr(capsys):
    """configure_logging under a swapped stderr that is closed later must not break logging."""
    import io
    import sys

    from reconciler.logs import configure_logging, get_logger

    swapped = io.StringIO()
    real = sys.stderr
    sys.stderr = swapped
    try:
        configure_logging("INFO", json=True)
    finally:
        sys.stderr = real
    swapped.close()
    get_logger("t").info("still_logging", n=1)
    assert '"still_logging"' in capsys.readouterr().err
