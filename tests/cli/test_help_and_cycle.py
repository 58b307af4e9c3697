"""Finding 9 (CLI): help without Python types, --endpoint-url with --region, an empty account."""

from __future__ import annotations

import re
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from tests.test_cli import COMMANDS

runner = CliRunner()
POLICY = str(Path(__file__).resolve().parents[2] / "policies/examples/default.yaml")
PYTHON_TYPES = re.compile(r"<(bool|str|int|float|path|list\[[^\]]*\]|datetime)>")


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_shows_no_python_types(command: str) -> None:
    result = runner.invoke(app, [*command.split(), "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert not PYTHON_TYPES.search(result.output), result.output


def test_empty_account_through_an_endpoint_says_no_resources(
    moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # --region alone must be enough
    monkeypatch.delenv("HEADROOM_DATABASE_URL", raising=False)
    monkeypatch.setenv("HEADROOM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.chdir(tmp_path)
    reset = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=30).read()
    regions = ["--region", "us-east-1", "--region", "eu-west-1"]
    args = ["run", "--once", "--dry-run", "--policy", POLICY, "--endpoint-url", moto_server]
    result = runner.invoke(app, [*args, *regions], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "no resources found in regions us-east-1, eu-west-1" in result.output
    assert (tmp_path / "state" / "headroom.db").is_file()
    assert (tmp_path / "state" / "history").is_dir()


@pytest.mark.parametrize(
    ("status", "code"),
    [("ok", 0), ("skipped", 0), ("failed", 1), ("lease_lost", 1)],
)
def test_run_once_exits_non_zero_when_the_cycle_did_not_finish(
    status: str, code: int, moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle that lost its lease recorded nothing: `run --once` says so with exit 1, as for
    a failed one; a skipped cycle (another reconciler holds the lease) is not an error."""
    import reconciler.loop
    from reconciler.loop import RunReport, RunStatus

    def finished(ctx: object) -> RunReport:
        report = RunReport(run_id="r1", holder="h", started_at=datetime.now(UTC))
        report.status = RunStatus(status)
        return report

    monkeypatch.setattr(reconciler.loop, "run_once", finished)
    monkeypatch.setenv("HEADROOM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    args = ["run", "--once", "--dry-run", "--policy", POLICY, "--endpoint-url", moto_server]
    result = runner.invoke(app, [*args, "--region", "us-east-1"], env={"COLUMNS": "200"})
    assert result.exit_code == code, result.output
    assert status in result.output
