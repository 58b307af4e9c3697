"""Listing commands and approving those awaiting approval (API and CLI)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from reconciler.api.commands_cli import app as commands_cli
from reconciler.state import CommandRecord, StateStore
from tests.api.conftest import T0, H


def _commands(store: StateStore) -> list[int]:
    store.record_run_start("plan-run", T0 + H)
    ids = store.save_commands(
        "plan-run",
        T0 + H,
        [
            CommandRecord(
                "scale",
                "web-asg",
                "needs 6 instances",
                {"desired": 2},
                {"desired": 6},
                status="needs_approval",
                evidence={"command": {"not_before": "2026-03-02T13:00:00Z"}},
            ),
            CommandRecord("bandwidth_tier", "web", "tier", {"tier": None}, {"tier": "fast"}),
        ],
    )
    store.record_run_finish("plan-run", T0 + H, status="succeeded", step_timings={})
    return ids


def test_list_commands_by_status(client: TestClient, read_h, store: StateStore) -> None:
    waiting, planned = _commands(store)
    everything = client.get("/commands", headers=read_h)
    assert everything.status_code == 200
    assert [c["id"] for c in everything.json()] == [planned, waiting]
    queue = client.get("/commands", params={"status": "needs_approval"}, headers=read_h).json()
    assert [(c["id"], c["kind"], c["after"]) for c in queue] == [(waiting, "scale", {"desired": 6})]
    assert queue[0]["not_before"] == "2026-03-02T13:00:00Z"
    bad = client.get("/commands", params={"status": "nope"}, headers=read_h)
    assert bad.status_code == 422 and "unknown status nope" in bad.text
    assert client.get("/commands").status_code == 401


def test_approve_command(client: TestClient, read_h, write_h, store: StateStore) -> None:
    waiting, planned = _commands(store)
    assert client.post(f"/commands/{waiting}/approve", headers=read_h).status_code == 403
    ok = client.post(f"/commands/{waiting}/approve", headers=write_h)
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "approved" and "approved by token" in ok.json()["outcome"]
    assert store.get_command(waiting).status == "approved"  # type: ignore[union-attr]
    again = client.post(f"/commands/{waiting}/approve", headers=write_h)
    assert again.status_code == 409 and "is approved, not needs_approval" in again.text
    assert client.post(f"/commands/{planned}/approve", headers=write_h).status_code == 409
    missing = client.post("/commands/999999/approve", headers=write_h)
    assert missing.status_code == 404 and "no command with id 999999" in missing.text


def test_cli_list_and_approve(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = StateStore.open(url)
    waiting, _ = _commands(store)
    runner = CliRunner()
    listed = runner.invoke(
        commands_cli, ["list", "--status", "needs_approval", "--database-url", url]
    )
    assert listed.exit_code == 0, listed.output
    assert f"{waiting}  needs_approval" in listed.stdout and "web-asg" in listed.stdout
    assert "tier" not in listed.stdout
    done = runner.invoke(
        commands_cli, ["approve", str(waiting), "--by", "ops", "--database-url", url]
    )
    assert done.exit_code == 0, done.output
    assert f"command {waiting} (scale web-asg) approved" in done.stdout
    record = store.get_command(waiting)
    assert (
        record is not None and record.status == "approved" and record.outcome == "approved by ops"
    )
    again = runner.invoke(commands_cli, ["approve", str(waiting), "--database-url", url])
    assert again.exit_code == 1 and "is approved, not needs_approval" in again.stderr
    missing = runner.invoke(commands_cli, ["approve", "424242", "--database-url", url])
    assert missing.exit_code == 1 and "no command with id 424242" in missing.stderr
    bad = runner.invoke(commands_cli, ["list", "--status", "nope", "--database-url", url])
    assert bad.exit_code != 0
    store.close()


def _failed_run_command(store: StateStore) -> int:
    store.record_run_start("failed-run", T0 + H)
    (cid,) = store.save_commands(
        "failed-run",
        T0 + H,
        [
            CommandRecord(
                "scale", "web-asg", "r", {"desired": 2}, {"desired": 6}, status="needs_approval"
            )
        ],
    )
    store.record_run_finish("failed-run", T0 + H, status="failed", step_timings={}, error="boom")
    return cid


def test_command_of_a_failed_run_cannot_be_approved(
    client: TestClient, read_h, write_h, store: StateStore
) -> None:
    cid = _failed_run_command(store)
    assert client.get("/commands", params={"status": "needs_approval"}, headers=read_h).json() == []
    refused = client.post(f"/commands/{cid}/approve", headers=write_h)
    assert refused.status_code == 409
    assert f"command {cid} cannot be approved: run failed-run failed" in refused.text
    assert store.get_command(cid).status == "needs_approval"  # type: ignore[union-attr]


def test_cli_refuses_a_failed_runs_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = StateStore.open(url)
    cid = _failed_run_command(store)
    refused = CliRunner().invoke(commands_cli, ["approve", str(cid), "--database-url", url])
    assert refused.exit_code == 1
    assert f"command {cid} cannot be approved: run failed-run failed" in refused.stderr
    assert store.get_command(cid).status == "needs_approval"  # type: ignore[union-attr]
    store.close()
