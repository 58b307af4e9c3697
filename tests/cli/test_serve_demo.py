"""Finding 1: the API on the demo's (or any existing) state, with no cloud account."""

from __future__ import annotations

from pathlib import Path

import httpx
from typer.testing import CliRunner

from reconciler.cli import app
from tests.cli.conftest import Server, make_demo_state

runner = CliRunner()


def test_serve_demo_with_a_demo_token_and_no_aws(demo_cwd: int, tmp_path: Path, serve_process):
    made = runner.invoke(app, ["token", "create", "--scope", "write", "--demo"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    server = Server(["--demo"], cwd=tmp_path)
    serve_process.append(server)
    server.wait()
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.url}/commands").status_code == 401
    listed = httpx.get(f"{server.url}/commands", headers=auth)
    assert listed.status_code == 200, listed.text
    assert [c["id"] for c in listed.json()] == [demo_cwd]
    approved = httpx.post(f"{server.url}/commands/{demo_cwd}/approve", headers=auth)
    assert approved.status_code == 200, approved.text
    out, err = server.stop()
    assert "Traceback" not in out + err
    assert "API only" in out + err


def test_serve_api_only_on_any_state_database(tmp_path: Path, no_aws, serve_process) -> None:
    state = tmp_path / "elsewhere"
    make_demo_state(state)
    url = f"sqlite:///{state / 'headroom.db'}"
    made = runner.invoke(app, ["token", "create", "--scope", "read", "--database-url", url])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    server = Server(["--api-only", "--database-url", url], cwd=tmp_path)
    serve_process.append(server)
    server.wait()
    got = httpx.get(f"{server.url}/groups", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200, got.text
    server.stop()
    by_dir = Server(["--api-only", "--state-dir", str(state)], cwd=tmp_path)
    serve_process.append(by_dir)
    by_dir.wait()
    got = httpx.get(f"{by_dir.url}/groups", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200, got.text


def test_serve_demo_without_a_demo_says_run_it_first(tmp_path: Path, no_aws, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["serve", "--demo"])
    assert result.exit_code == 2, result.output
    assert "headroom demo" in result.output
    assert not (tmp_path / ".headroom").exists()
    token = runner.invoke(app, ["token", "create", "--scope", "read", "--demo"])
    assert token.exit_code == 2, token.output
    assert "headroom demo" in token.output
    assert not (tmp_path / ".headroom").exists()


def test_readme_documents_serving_the_demo() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for line in (
        "headroom serve --demo",
        "headroom token create --scope read --demo",
        "headroom serve --api-only",
    ):
        assert line in readme
