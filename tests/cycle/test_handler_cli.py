from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cycle import FleetSpec, synthetic_fleet
from reconciler.clock import SimulatedClock
from reconciler.handler import HandlerConfigError, config_from_env, handle
from reconciler.runner_cli import app
from tests.cycle.test_full_cycle import NOW

EVENT = {"source": "aws.events", "detail-type": "Scheduled Event", "time": "2026-03-04T12:00:00Z"}


def test_handler_needs_database_and_history() -> None:
    with pytest.raises(HandlerConfigError, match="HEADROOM_DATABASE_URL is not set"):
        config_from_env({}, EVENT)
    with pytest.raises(HandlerConfigError, match="HEADROOM_HISTORY_URL is not set"):
        config_from_env({"HEADROOM_DATABASE_URL": "sqlite://"}, EVENT)
    with pytest.raises(HandlerConfigError, match="HEADROOM_POLICY /nope.yaml does not exist"):
        config_from_env(
            {
                "HEADROOM_DATABASE_URL": "x",
                "HEADROOM_HISTORY_URL": "s3://b/p",
                "HEADROOM_POLICY": "/nope.yaml",
            },
            EVENT,
        )


def test_handler_runs_one_cycle_and_returns_its_report(tmp_path: Path) -> None:
    env = {
        "HEADROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "HEADROOM_HISTORY_URL": str(tmp_path / "history"),
        "HEADROOM_REGIONS": "us-east-1",
    }
    provider = synthetic_fleet(FleetSpec(resources=12, groups=3, metric_days=0.5), NOW)
    body = handle({**EVENT, "dry_run": True}, env, provider=provider, clock=SimulatedClock(NOW))
    assert body["status"] == "ok", body["error"]
    assert body["dry_run"] is True
    assert body["steps"][0]["name"] == "collect"
    assert body["trigger"]["detail_type"] == "Scheduled Event"


def test_cli_help_lists_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "run" in result.output and "serve" in result.output
    result = CliRunner().invoke(app, ["run", "--help"])
    assert "--once" in result.output
