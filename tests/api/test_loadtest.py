from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from reconciler.api import create_app, issue_token
from reconciler.api.loadtest import main, run_load
from reconciler.state import StateStore
from tests.api.conftest import T0


@pytest.fixture
def served(store: StateStore) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_run_load_reports_latency_per_path(served: str, store: StateStore) -> None:
    _, token = issue_token(store, name="load", scope="read", at=T0)
    report = run_load(
        served, token, ["/metrics/global", "/metrics/group/{group}"], rps=100, requests=40
    )
    assert report.requests == 40 and report.errors == 0
    assert [p.path for p in report.paths] == ["/metrics/global", "/metrics/group/{group}"]
    assert all(p.requests == 20 for p in report.paths)
    assert 0 < report.p50_ms <= report.p99_ms
    assert report.achieved_rps > 0


def test_bad_token_counts_errors_and_cli_reports_failures(served: str, capsys) -> None:
    report = run_load(
        served, "hr_000000000000_" + "x" * 30, ["/metrics/global"], rps=50, requests=5
    )
    assert report.errors == 5
    assert main(["--url", served, "--token", "bad", "--path", "/metrics/group/{group}"]) == 2
    assert "401" in capsys.readouterr().err
    with pytest.raises(ValueError, match="rps > 0, requests > 0, connections > 0"):
        run_load(served, "t", ["/healthz"], rps=0)
