"""`/docs` in a real browser, air-gapped (issue 12, finding 7): Debian's headless Chromium loads
the API's Swagger UI from a live server on loopback with every other request sent to a
recording proxy; the operations must render and nothing may be asked of the network."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.api import create_app
from reconciler.state import StateStore
from tests.report.test_browser import _chromium, _page_requests, needs_chromium, proxy

__all__ = ["proxy"]  # the recording proxy fixture, shared with the report's browser test


@pytest.fixture
def live_api(tmp_path: Path) -> Iterator[str]:
    import uvicorn

    state = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the API did not start"
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    state.close()


@needs_chromium
def test_docs_render_offline_in_chromium(
    tmp_path: Path, proxy: tuple[str, list[str]], live_api: str
) -> None:
    url, seen = proxy
    dom = _chromium(
        f"http://{live_api}/docs", url, tmp_path / "profile", "--dump-dom", bypass=live_api
    )
    assert 'class="swagger-ui' in dom, dom[:800]
    # the operations were rendered from the served schema
    for path in ("/groups/create", "/metrics/global", "/groups/{group_id}/bandwidth"):
        assert path in dom, path
    assert dom.count("opblock-summary") >= 8
    assert _page_requests(seen) == [], f"/docs asked the network for {seen}"
