"""The report in a real browser: Debian's headless Chromium loads the file with every outside
request sent to a recording proxy on loopback; the plots must render and nothing may be asked
of the network. Skipped, with the reason, only where Chromium is not installed (.ci/run
installs it as root)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reconciler.report import ReportData, write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (as root: apt-get install -y chromium; "
    ".ci/run installs it): the report's browser test cannot run",
)


# Chromium's own background services (component updater, clock check, sign-in), which some
# Debian builds call whatever the flags: not the page's requests, so not counted against it
_BROWSER_OWN = ("update.googleapis.com", "clients2.google.com", "accounts.google.com")


def _page_requests(seen: list[str]) -> list[str]:
    return [s for s in seen if not any(h in s.split(" ", 1)[1][:60] for h in _BROWSER_OWN)]


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str]

    def _refuse(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        self.send_response(502)
        self.end_headers()

    do_GET = do_POST = do_HEAD = do_CONNECT = _refuse

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def _chromium(
    page: Path | str, proxy_url: str, profile: Path, *extra: str, bypass: str = ""
) -> str:
    """Headless Chromium on ``page`` (a file, or a URL) with every request but ``bypass``
    (``host:port``) sent to the recording proxy; returns stdout (the DOM with --dump-dom)."""
    assert CHROMIUM is not None
    args = [
        CHROMIUM,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-client-side-phishing-detection",
        "--disable-domain-reliability",
        "--disable-breakpad",
        "--metrics-recording-only",
        "--no-pings",
        "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,"
        "AutofillServerCommunication,CertificateTransparencyComponentUpdater,"
        "InterestFeedContentSuggestions,PrivacySandboxSettings4,AccountConsistency,"
        "ChromeSigninIntercept,SigninInterceptBubble",
        "--disable-signin-promo",
        "--allow-browser-signin=false",
        f"--user-data-dir={profile}",
        f"--proxy-server={proxy_url}",
        "--proxy-bypass-list=<-loopback>" + (f";{bypass}" if bypass else ""),  # loopback too
        "--virtual-time-budget=15000",
        *extra,
        page.as_uri() if isinstance(page, Path) else page,
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@needs_chromium
def test_the_recording_proxy_sees_an_outside_request(
    tmp_path: Path, proxy: tuple[str, list[str]]
) -> None:
    """The check below is not vacuous: a page that asks for a remote image is caught."""
    url, seen = proxy
    page = tmp_path / "remote.html"
    page.write_text("<html><body><img src='http://example.invalid/x.png'></body></html>")
    _chromium(page, url, tmp_path / "profile", "--dump-dom")
    assert any("example.invalid" in s for s in _page_requests(seen)), seen


@needs_chromium
def test_report_renders_offline_in_chromium(
    tmp_path: Path, proxy: tuple[str, list[str]], report_data: ReportData
) -> None:
    url, seen = proxy
    page = write_report(report_data, tmp_path / "report.html")
    dom = _chromium(page, url, tmp_path / "profile", "--dump-dom")
    # every plot was drawn by plotly.js: traffic graph, pools, comparison, 3 group forecasts
    assert dom.count('class="plot-container plotly"') == 6, dom[:500]
    assert len(re.findall(r'class="[^"]*js-plotly-plot', dom)) == 6
    assert dom.count('class="main-svg"') >= 12
    assert "shop" in dom and "search" in dom and "shared services" in dom
    assert _page_requests(seen) == [], f"the report asked the network for {seen}"
    shot = Path(os.environ.get("HEADROOM_REPORT_SCREENSHOT", tmp_path / "report.png"))
    _chromium(page, url, tmp_path / "profile", "--window-size=1280,5200", f"--screenshot={shot}")
    assert shot.stat().st_size > 50_000  # a drawn page, not a blank one
    assert _page_requests(seen) == [], f"the report asked the network for {seen}"
