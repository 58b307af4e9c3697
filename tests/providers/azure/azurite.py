"""Azurite, Microsoft's storage emulator, on loopback for the blob tests.

``HEADROOM_TEST_AZURITE_URL`` (the blob endpoint, e.g. ``http://127.0.0.1:10000/devstoreaccount1``)
uses a running one (``.ci/run`` starts it); otherwise the binary under ``.ci/azurite`` (``npm
install``) is started for the session. Without either, a test that needs it is skipped with the
reason, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BINARY = ROOT / ".ci" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
#: The emulator's documented well-known development account.
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_LISTENING = re.compile(r"listens on (http://[0-9.]+:\d+)")


def unavailable(reason: str) -> None:
    """Skip outside CI; fail in CI, where Azurite must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"Azurite is required in CI: {reason}")
    pytest.skip(reason)


@contextmanager
def azurite_server() -> Iterator[str]:
    """The blob endpoint (account URL) of a running Azurite."""
    given = os.environ.get("HEADROOM_TEST_AZURITE_URL")
    if given:
        yield given.rstrip("/")
        return
    node = shutil.which("node")
    if not BINARY.exists() or node is None:
        unavailable(
            f"no Azurite: set HEADROOM_TEST_AZURITE_URL or `npm install --prefix .ci/azurite "
            f"azurite` (binary {BINARY} {'missing' if not BINARY.exists() else 'present'}, "
            f"node {'missing' if node is None else 'present'})"
        )
    workdir = tempfile.mkdtemp(prefix="headroom-azurite-")
    proc = subprocess.Popen(
        [
            str(BINARY),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            "0",
            "--location",
            workdir,
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--loose",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = _wait_for_port(proc)
        yield f"{url}/{ACCOUNT}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for_port(proc: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 30
    seen: list[str] = []
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if m := _LISTENING.search(line):
            return m.group(1)
    unavailable(f"Azurite did not start: {''.join(seen)[-500:]}")
    raise AssertionError("unreachable")
