from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policies import ACTION_TYPES, PolicyError, check_against, load_policy, parse_policy
from policies.actions import ResizeAction, RoutingAction, ScaleAction
from policies.cli import app
from policies.durations import format_duration, parse_duration
from policies.loader import locate_issues
from providers.models import InstanceType
from reconciler.allocation import provisioning_quantile

EXAMPLES = sorted((Path(__file__).parents[2] / "policies" / "examples").glob("*.yaml"))

CATALOG = {
    t.name: t
    for t in [
        InstanceType(name="m6i.large", vcpu=2, memory_gib=8, baseline_gbps=0.78, peak_gbps=12.5),
        InstanceType(
            name="m6i.8xlarge", vcpu=32, memory_gib=128, baseline_gbps=12.5, peak_gbps=12.5
        ),
        InstanceType(name="c6i.large", vcpu=2, memory_gib=4, baseline_gbps=0.78, peak_gbps=12.5),
        InstanceType(
            name="c6i.8xlarge", vcpu=32, memory_gib=64, baseline_gbps=12.5, peak_gbps=12.5
        ),
        InstanceType(name="r6i.large", vcpu=2, memory_gib=16, baseline_gbps=0.78, peak_gbps=12.5),
        InstanceType(
            name="r6i.8xlarge", vcpu=32, memory_gib=256, baseline_gbps=12.5, peak_gbps=12.5
        ),
    ]
}
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1"]

MINIMAL = """\
name: t
pools:
  global_gbps: 10
  regions:
    r1: {capacity_gbps: 10}
"""


def test_every_example_loads_and_passes_meaning_checks():
    names = {p.name for p in EXAMPLES}
    assert "default.yaml" in names and len(EXAMPLES) >= 4
    for path in EXAMPLES:
        policy = load_policy(path)
        assert policy.name
        assert check_against(policy, CATALOG, REGIONS, source=str(path)) == [], path


def test_registry_matches_union():
    assert set(ACTION_TYPES) == {"resize", "scale", "bandwidth_tier", "edge_cache", "routing"}
    assert ACTION_TYPES["resize"] is ResizeAction
    # more in test_validation.py: the union's members are exactly the registered classes


def test_defaults_and_typed_action_lookup():
    policy = load_policy(EXAMPLES[[p.name for p in EXAMPLES].index("default.yaml")])
    resize = policy.action(ResizeAction)
    assert resize is not None and resize.lead_time == timedelta(minutes=15)
    assert policy.action(RoutingAction) is None
    assert provisioning_quantile(policy, "critical", "network_gbps").quantile == 0.99
    assert provisioning_quantile(policy, "nope", "network_gbps").quantile == 0.9
    assert policy.safety.cooldown_for("resize") == timedelta(hours=6)
    assert policy.safety.cooldown_for("routing") == timedelta(minutes=30)
    assert policy.headroom.apply(10.0) == pytest.approx(10 * 1.15 + 0.1)


def test_every_error_reported_with_path_and_line():
    text = (
        MINIMAL
        + """\
actions:
  - type: resize
    familes: [m6i]
  - type: scale
    min_count: 5
    max_count: 2
  - type: teleport
schedule:
  cron: "61 * * * *"
"""
    )
    with pytest.raises(PolicyError) as info:
        parse_policy(text, source="p.yaml")
    issues = {(i.path, i.line): i.message for i in info.value.issues}
    paths = [i.path for i in info.value.issues]
    assert "actions[0].families" in paths  # missing
    assert "actions[0].familes" in paths  # typo is extra
    assert ("actions[0].familes", 8) in issues
    scale = [i for i in info.value.issues if i.path == "actions[1]"]
    assert scale and "min_count 5 is above max_count 2" in scale[0].message
    assert scale[0].line == 9
    tag = [i for i in info.value.issues if i.path == "actions[2]"]
    assert tag and "teleport" in tag[0].message and tag[0].line == 12
    cron = [i for i in info.value.issues if i.path == "schedule.cron"]
    assert cron and cron[0].line == 14
    assert str(cron[0]).startswith("p.yaml:14: schedule.cron:")


def test_yaml_syntax_error_has_line():
    with pytest.raises(PolicyError) as info:
        parse_policy("name: t\npools: [1,\n  2: 3: 4\n", source="bad.yaml")
    (issue,) = info.value.issues
    assert issue.line is not None and "YAML syntax" in issue.message


def test_cross_references_checked():
    text = (
        MINIMAL
        + """\
group_classes:
  gold: {guarantee_gbps: 2}
forecast:
  quantile_by_class: {silver: 0.9}
"""
    )
    with pytest.raises(PolicyError) as info:
        parse_policy(text)
    msg = str(info.value)
    assert "default_class 'default' is not in group_classes" in msg
    assert "unknown class 'silver'" in msg


def test_meaning_checks():
    text = """\
name: t
pools:
  global_gbps: 10
  regions:
    r1: {capacity_gbps: 12, guaranteed_gbps: 8}
    mars-1: {capacity_gbps: 5, guaranteed_gbps: 4}
group_classes:
  default: {guarantee_gbps: 6}
actions:
  - type: resize
    families: [x9z]
    largest_size: 96xlarge
"""
    policy = parse_policy(text)
    issues = check_against(policy, CATALOG, ["r1"])
    by_path = {i.path: i.message for i in issues}
    assert "not served" in by_path["pools.regions.mars-1"]
    assert "above the global pool" in by_path["pools.regions.r1.capacity_gbps"]
    assert "12 Gbps, above the global pool 10" in by_path["pools.regions"]
    assert "smallest regional pool" in by_path["group_classes.default.guarantee_gbps"]
    assert "'x9z' is not in the catalog" in by_path["actions[0].families"]
    located = {i.path: i.line for i in locate_issues(text, issues)}
    assert located["actions[0].families"] == 11
    assert located["pools.regions.mars-1"] == 6


def test_durations_round_trip():
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration(300) == timedelta(minutes=5)
    assert format_duration(timedelta(days=1, minutes=5)) == "1d5m"
    for bad in ("soon", "5x", "", True, -3):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_scale_action_and_routing_bounds():
    assert ScaleAction(type="scale", min_count=1, max_count=3).max_count == 3
    assert RoutingAction(type="routing", mechanism="global_accelerator").weight_ceiling == 100
    with pytest.raises(ValueError, match="percentages"):
        RoutingAction(type="routing", mechanism="global_accelerator", max_weight=200)


def test_cli_validate(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL)
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL + "safety:\n  max_fraction_changed: 3\n  bogus: 1\n")
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", str(good)])
    assert ok.exit_code == 0, ok.output
    assert "ok (t)" in ok.output
    res = runner.invoke(app, ["validate", str(good), str(bad)])
    assert res.exit_code == 1
    assert f"{bad}:7: safety.max_fraction_changed:" in res.output
    assert f"{bad}:8: safety.bogus: Extra inputs are not permitted" in res.output
    catalog = tmp_path / "catalog.json"
    catalog.write_text(
        '[{"name": "m6i.large", "vcpu": 2, "memory_gib": 8, '
        '"baseline_gbps": 0.78, "peak_gbps": 12.5}]'
    )
    res = runner.invoke(app, ["validate", str(good), "--catalog", str(catalog), "--region", "x"])
    assert res.exit_code == 1
    assert f"{good}:5: pools.regions.r1: region 'r1' is not served by the provider" in res.output
