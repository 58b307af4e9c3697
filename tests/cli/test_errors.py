"""Finding 2: one line naming the cause and the fix, documented exit codes; --debug shows the
trace."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from tests.cli.conftest import headroom

runner = CliRunner()
POLICY = str(Path(__file__).resolve().parents[2] / "policies/examples/default.yaml")


def test_bad_log_level_is_a_usage_error() -> None:
    result = runner.invoke(app, ["--log-level", "FOO", "version"], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert "FOO" in result.output and "warning" in result.output.lower()
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_log_level_is_case_insensitive() -> None:
    assert runner.invoke(app, ["--log-level", "debug", "version"]).exit_code == 0


@pytest.mark.parametrize("command", [["run", "--once"], ["serve"]])
def test_no_credentials_is_one_line_naming_it(command, no_aws, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*command, "--policy", POLICY, "--region", "us-east-1"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) <= 2, result.output
    assert "no AWS credentials" in lines[-1]
    assert "AccessDenied" not in result.output
    assert "AWS_PROFILE" in lines[-1] and "headroom demo" in lines[-1]


def test_debug_shows_the_trace(no_aws, tmp_path: Path) -> None:
    args = ["run", "--once", "--policy", POLICY]
    plain = headroom(*args, cwd=tmp_path)
    assert plain.returncode == 1
    assert "Traceback" not in plain.stderr and "botocore" not in plain.stderr
    assert "no AWS credentials" in plain.stderr and "--debug" in plain.stderr
    debug = headroom("--debug", *args, cwd=tmp_path)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr or "NoCredentialsError" in debug.stderr


def test_a_policy_error_is_named_without_a_trace(no_aws, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nnot_a_field: 1\n")
    result = runner.invoke(app, ["run", "--once", "--policy", str(bad)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "bad.yaml:2" in result.output and "not_a_field" in result.output


def test_exit_codes_are_documented() -> None:
    result = runner.invoke(app, ["--help"])
    assert "Exit codes" in result.output
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "Exit codes" in readme
