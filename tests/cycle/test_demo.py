"""The demo end to end on a small sandbox (slow: seeds moto and runs real cycles)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from policies import load_policy
from reconciler.demo import DEMO_POLICY, demo_main


def test_demo_policy_loads() -> None:
    policy = load_policy(DEMO_POLICY)
    assert policy.group_selection.tag_keys.hard == ["app"]


@pytest.mark.slow
def test_demo_runs_cycles_and_writes_the_report(tmp_path: Path) -> None:
    now = datetime.now(UTC)  # moto keeps CloudWatch points for recent times only
    result = demo_main(now, days=1.7, cycles=2, interval=timedelta(minutes=30), out=tmp_path)
    assert result.ok_cycles == 2
    assert result.groups >= 4
    # every metric and every kind of action, not only bandwidth (issue 12, finding 9)
    kinds = result.command_kinds
    assert kinds.keys() & {"resize", "scale"}, kinds
    assert kinds.keys() & {"edge_cache", "routing"}, kinds
    assert kinds.get("preallocate") and result.reserved_instances > 0, kinds
    for metric in ("network_gbps", "cpu_vcpu", "memory_gib", "io_mbps", "latency_ms"):
        assert result.forecast_metrics.get(metric), result.forecast_metrics
    assert result.quarantined > 0  # the sandbox's malformed flow-log lines
    assert "Pulumi CLI was not found" in result.apply_message or result.apply_message
    html = result.report_path.read_text()
    assert html.count("data:image/png;base64,") >= 3
    assert "Congestion avoided" in html
    # the last desired state is written, schema-valid, with every group's tier and the fleet
    from infra.desired_state import parse_desired_state

    desired = parse_desired_state(
        (tmp_path / "desired-state.json").read_text(), source="demo desired-state.json"
    )
    assert len(desired.groups) >= 4
    assert sum(len(g.instances) + len(g.scaling_groups) for g in desired.groups) >= 10
    assert all(i.import_id for g in desired.groups for i in g.instances)
    assert sum(1 for g in desired.groups if g.bandwidth_tier is not None) >= 4
    assert "What reaches the stack" in html
    # and the fleet it was built from, which `headroom plan --inventory` reads
    from reconciler.actuate.diff import load_inventory

    fleet = load_inventory(tmp_path / "inventory.json")
    assert fleet.rejected == [] and len(fleet.resources) >= 10
    # the API over the demo's state serves measured traffic and utilisation (not only grants)
    from fastapi.testclient import TestClient

    from reconciler.api import create_app, issue_token
    from reconciler.demo import demo_paths
    from reconciler.state import StateStore

    state = StateStore.open(f"sqlite:///{demo_paths(tmp_path).database}")
    # groups carry human names (issue 12, finding 5): the sandbox's apps and tenants
    names = {g.name for g in state.latest_groups()}
    assert {"shop", "search", "billing", "analytics", "tenant=globex"} <= names, names
    with TestClient(create_app(state)) as client:
        _, token = issue_token(state, name="reader", scope="read", at=now)
        h = {"Authorization": f"Bearer {token}"}
        top = client.get("/metrics/global", headers=h).json()
        assert top["global_pool"]["used_gbps"] is not None
        assert all(r["utilisation"] is not None for r in top["regions"])
        gid = state.latest_allocations()[0].group_id
        group = client.get(f"/metrics/group/{gid}", headers=h).json()
        assert any(t["used_gbps"] is not None for t in group["traffic"])
    state.close()
