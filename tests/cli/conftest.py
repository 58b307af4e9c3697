"""Fixtures for the ``headroom`` command tests: a process with no AWS credentials, a demo-like
state folder (the demo's marker, a migrated database, one command awaiting approval)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """No credentials anywhere botocore looks (env, files, instance metadata)."""
    for name in list(os.environ):
        if name.startswith("AWS_") and name != "AWS_CA_BUNDLE":
            monkeypatch.delenv(name)
    env = {
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "HEADROOM_DATABASE_URL": "",
        "HEADROOM_STATE_DIR": "",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def make_demo_state(out: Path) -> int:
    """A folder as ``headroom demo --out`` leaves it; returns the id of a command to approve."""
    from reconciler.demo import prepare_out
    from reconciler.state import CommandRecord, StateStore
    from reconciler.state.engine import resolve_database_url

    prepare_out(out)
    store = StateStore.open(resolve_database_url(None, state_dir=out, environ={}))
    store.record_run_start("demo-run", T0)
    (cid,) = store.save_commands(
        "demo-run",
        T0,
        [
            CommandRecord(
                "scale",
                "shop-asg",
                "the shop surge needs 6 instances",
                {"desired": 2},
                {"desired": 6},
                status="needs_approval",
            )
        ],
    )
    store.record_run_finish("demo-run", T0, status="succeeded", step_timings={})
    store.close()
    (out / "report.html").write_text("<html></html>")
    return int(cid)


@pytest.fixture
def demo_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_aws: dict[str, str]) -> int:
    """The working directory holds the demo's state at ``.headroom/demo``."""
    monkeypatch.chdir(tmp_path)
    return make_demo_state(tmp_path / ".headroom" / "demo")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def headroom(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real ``headroom`` program in a subprocess (the environment as it is now)."""
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


class Server:
    """``headroom serve ...`` on loopback; stopped (and reaped) on exit."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler.cli", "serve", *args, "--port", str(self.port)],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )

    def wait(self, timeout: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"serve exited {self.proc.returncode}: {out}\n{err}")
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("serve did not start listening")

    def stop(self) -> tuple[str, str]:
        self.proc.terminate()
        try:
            return self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.communicate()


@pytest.fixture
def serve_process() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for s in started:
        if s.proc.poll() is None:
            s.stop()
