"""``run_once`` on a GCP-only fleet: the GCP provider against recorded REST exchanges, through
the real steps (collect, groups, forecasts, allocation, plan, apply's desired state)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses
from google.auth.credentials import AnonymousCredentials

from providers.gcp import GcpProvider, GcpSessionFactory
from reconciler.clock import SimulatedClock
from reconciler.loop import run_once
from reconciler.steps.build import CycleSettings, build_context
from reconciler.steps.package import StepSettings
from tests.e2e.gcp_cloud import PROJECT, serve

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
POLICY = """\
version: 1
name: gcp-fleet
pools:
  global_gbps: 200
  regions:
    us-central1: {capacity_gbps: 120, guaranteed_gbps: 40}
    europe-west1: {capacity_gbps: 80, guaranteed_gbps: 20}
group_selection:
  tag_keys: {hard: [app]}
  traffic: {form_cycles: 1}
forecast: {horizon: 2h, lookback: 3d, frequency: 5m}
actions:
  - type: resize
    families: [n2-standard, n2-highmem]
    largest_size: "16"
  - type: scale
"""


@pytest.fixture
def cloud() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        serve(rsps)
        yield rsps


def test_one_cycle_on_a_gcp_fleet(cloud: responses.RequestsMock, tmp_path: Path) -> None:
    policy = tmp_path / "gcp.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    provider = GcpProvider(
        factory=GcpSessionFactory(project=PROJECT, credentials=AnonymousCredentials()),
        regions=["us-central1", "europe-west1"],
    )
    settings = CycleSettings(
        policy_path=policy,
        history_root=str(tmp_path / "history"),
        state_dir=tmp_path / "state",
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        steps=StepSettings(flow_backfill=timedelta(days=3), metric_backfill=timedelta(days=3)),
        model_store="",
    )
    ctx = build_context(settings, clock=SimulatedClock(NOW), provider=provider)
    report = run_once(ctx)
    assert report.ok, report.error
    collect = report.step("collect").summary
    assert collect["resources"] == 5 and collect["flow_records"] > 0
    assert collect["metric_points"] > 0 and collect["rejected"] == 0
    compose = report.step("compose").summary
    assert compose["groups"] >= 2
    assert report.step("forecast").summary["series"] >= 2
    alloc = report.step("allocate").summary
    assert alloc["total_gbps"] > 0
    assert set(alloc["pools"]) == {"global", "us-central1", "europe-west1"}
    apply = report.step("apply").summary
    assert apply["outcome"] == "stopped_at_plan" and apply["desired_groups"] == 2
    # every GCP instance is declared in the desired state (by its relative name, with its
    # machine type): nothing is reported as "not declared"
    assert apply.get("not_declared", 0) == 0


def _key_file(path: Path) -> Path:
    """A service-account key in the JSON layout the console downloads (a fresh RSA key)."""
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "0123456789abcdef",
        "private_key": pem.decode(),
        "client_email": f"headroom@{PROJECT}.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path.write_text(json.dumps(key), encoding="utf-8")
    return path


def test_headroom_collect_from_a_gcp_project_with_a_key_file(
    cloud: responses.RequestsMock, tmp_path: Path
) -> None:
    """The operator's path: ``headroom collect --gcp-project P --gcp-key key.json``; the key is
    exchanged for a token and every API call carries it."""
    from typer.testing import CliRunner

    from reconciler.cli import app

    cloud.post(
        "https://oauth2.googleapis.com/token",
        json={"access_token": "ya29.e2e", "expires_in": 3600, "token_type": "Bearer"},
    )
    key = _key_file(tmp_path / "key.json")
    args = ["collect", "--gcp-project", PROJECT, "--gcp-key", str(key)]
    args += ["--state-dir", str(tmp_path / "state"), "--hours", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "resources" in result.output and "5" in result.output
    api_calls = [c for c in cloud.calls if "oauth2" not in str(c.request.url)]
    auth = {
        str(c.request.url).split("/")[2]: c.request.headers.get("Authorization") for c in api_calls
    }
    # Compute's client signs its own JWT with the key; the REST readers use the exchanged token
    assert str(auth["compute.googleapis.com"]).startswith("Bearer eyJ")
    assert auth["monitoring.googleapis.com"] == auth["logging.googleapis.com"] == "Bearer ya29.e2e"
