"""Regression tests for the policy validator: each check reports its field path and file line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from policies import ACTION_TYPES, PolicyError, PolicyIssue, check_against, parse_policy
from policies.actions import Action
from policies.check import CACHE_NODE_TYPE
from policies.cli import app
from policies.loader import locate_issues
from policies.schema import ActionKind, Policy
from providers.models import InstanceType

POOLS = """\
name: t
pools:
  global_gbps: 10
  regions:
    r1: {capacity_gbps: 10}
"""


def _issues(text: str) -> dict[str, PolicyIssue]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, source="p.yaml")
    return {i.path: i for i in info.value.issues}


def _located(text: str, catalog: dict[str, InstanceType] | None = None) -> list[PolicyIssue]:
    issues = check_against(parse_policy(text, source="p.yaml"), catalog, source="p.yaml")
    return locate_issues(text, issues)


# 1. provider-independent meaning checks run without --catalog, and the output says what ran


OVERBOOKED = """\
name: over
pools:
  global_gbps: 10
  regions:
    r1: {capacity_gbps: 10, guaranteed_gbps: 8}
    r2: {capacity_gbps: 10, guaranteed_gbps: 8}
actions:
  - type: resize
    families: [nosuch]
"""


def test_cli_checks_budgets_without_catalog(tmp_path: Path) -> None:
    path = tmp_path / "over.yaml"
    path.write_text(OVERBOOKED)
    res = CliRunner().invoke(app, ["validate", str(path)])
    assert res.exit_code == 1, res.output
    assert (
        f"{path}:4: pools.regions: regional guarantees add up to 16 Gbps, above the global pool "
        "10 Gbps" in res.output
    )
    assert "instance families/sizes: skipped (no --catalog or --aws)" in res.output
    assert "pool regions: skipped (no --region)" in res.output
    assert "budgets" in res.output.splitlines()[0]
    assert "nosuch" not in res.output  # the family check needs a catalog
    assert "ok" not in res.output


def test_cli_checks_families_against_the_aws_catalog(tmp_path: Path, mocked_aws: None) -> None:
    """--aws reads DescribeInstanceTypes (moto here): a real family passes, a made-up one fails."""
    path = tmp_path / "p.yaml"
    path.write_text(OVERBOOKED.replace("guaranteed_gbps: 8", "guaranteed_gbps: 4"))
    res = CliRunner().invoke(app, ["validate", "--aws", str(path)])
    assert res.exit_code == 1, res.output
    assert "instance families/sizes: against AWS us-east-1 (" in res.output.splitlines()[0]
    assert f"{path}:9: actions[0].families: instance family 'nosuch' is not in the catalog" in (
        res.output
    )
    path.write_text(path.read_text().replace("nosuch", "m6i"))
    ok = CliRunner().invoke(app, ["validate", "--aws", str(path)])
    assert ok.exit_code == 0, ok.output
    both = CliRunner().invoke(app, ["validate", "--aws", "--catalog", str(path), str(path)])
    assert both.exit_code == 2 and "not both" in both.output


def test_cli_aws_catalog_unreachable_exits_2(tmp_path: Path, aws_credentials: None) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(OVERBOOKED)
    res = CliRunner().invoke(
        app, ["validate", "--aws", "--endpoint-url", "http://127.0.0.1:9", str(path)]
    )
    assert res.exit_code == 2
    assert "cannot read the instance catalog from AWS in us-east-1" in res.output


def test_cli_says_when_the_catalog_was_used(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(OVERBOOKED.replace("guaranteed_gbps: 8", "guaranteed_gbps: 4"))
    catalog = tmp_path / "catalog.json"
    catalog.write_text(
        '[{"name": "m6i.large", "vcpu": 2, "memory_gib": 8, '
        '"baseline_gbps": 0.78, "peak_gbps": 12.5}]'
    )
    res = CliRunner().invoke(app, ["validate", str(path), "--catalog", str(catalog)])
    assert res.exit_code == 1, res.output
    assert f"instance families/sizes: against {catalog} (1 types)" in res.output
    assert f"{path}:9: actions[0].families: instance family 'nosuch' is not in the catalog" in (
        res.output
    )
    catalog.write_text('{"not": "a list"}')
    res = CliRunner().invoke(app, ["validate", str(path), "--catalog", str(catalog)])
    assert res.exit_code == 2
    assert "expected a JSON list" in res.output


CLOUDS = """\
name: clouds
pools:
  global_gbps: 100
  regions:
    us-east-1: {capacity_gbps: 40}
    us-central1: {capacity_gbps: 30}
    westeurope: {capacity_gbps: 30}
actions:
  - type: resize
    families: [m6i, n2-standard, dsv5]
"""


def _first_line(tmp_path: Path, text: str, *args: str) -> tuple[int, str, str]:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    res = CliRunner().invoke(app, ["validate", str(path), *args])
    return res.exit_code, res.output.splitlines()[0], res.output


def test_cli_says_which_gcp_and_azure_checks_ran(tmp_path: Path) -> None:
    code, line, output = _first_line(tmp_path, CLOUDS)
    assert code == 0, output
    assert "Google Cloud regions: against Headroom's list (2025; a zone is refused)" in line
    assert "Google Cloud families: against Headroom's series table (2025)" in line
    assert "Azure regions: near misses of Azure's region list (a name far from all passes)" in line
    assert "Azure families: against the series with a bandwidth figure" in line
    assert "skipped for the --region names" not in line
    # the tables are what ran: a typo of each is refused by them
    typos = CLOUDS.replace("us-central1:", "us-central9:").replace("dsv5", "dsv9")
    code, _, output = _first_line(tmp_path, typos)
    assert code == 1 and "'us-central9' is not a Google Cloud region" in output
    assert "Azure VM family 'dsv9'" in output


def test_cli_says_which_cloud_checks_a_catalog_and_regions_skip(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(
        '[{"name": "m6i.large", "vcpu": 2, "memory_gib": 8, '
        '"baseline_gbps": 0.78, "peak_gbps": 12.5}]'
    )
    regions = ["--region", "us-east-1", "--region", "us-central1", "--region", "westeurope"]
    code, line, output = _first_line(tmp_path, CLOUDS, "--catalog", str(catalog), *regions)
    assert code == 1, output
    assert (
        f"Google Cloud families: against {catalog} only (Headroom's series table skipped: "
        "a catalog is given)" in line
    )
    assert (
        f"Azure families: against {catalog} only (the bandwidth table skipped: a catalog is "
        "given)" in line
    )
    assert (
        "Google Cloud regions: against Headroom's list (2025; a zone is refused), skipped for "
        "the --region names (taken as served)" in line
    )
    assert (
        "Azure regions: near misses of Azure's region list (a name far from all passes), "
        "skipped for the --region names (taken as served)" in line
    )
    # and it is so: the families are refused by the catalog, not by the tables
    assert "instance family 'n2-standard' is not in the catalog" in output
    assert "instance family 'dsv5' is not in the catalog" in output


def test_cli_names_only_the_clouds_the_policies_write(tmp_path: Path) -> None:
    aws_only = (
        OVERBOOKED.replace("guaranteed_gbps: 8", "guaranteed_gbps: 4")
        .replace("r1:", "us-east-1:")
        .replace("r2:", "us-west-2:")
    )
    code, line, output = _first_line(tmp_path, aws_only)
    assert code == 0, output
    assert line == (
        "checks: structure, budgets, references, edge-cache node types; instance "
        "families/sizes: skipped (no --catalog or --aws); pool regions: skipped (no --region)"
    )
    gcp_regions_only = aws_only.replace("us-west-2:", "europe-west1:")
    _, line, _ = _first_line(tmp_path, gcp_regions_only)
    assert "Google Cloud regions:" in line
    assert "Google Cloud families" not in line and "Azure" not in line
    # a file that fails to load names nothing; the others still count
    bad, good = tmp_path / "bad.yaml", tmp_path / "good.yaml"
    bad.write_text("name: [broken\n")
    good.write_text(CLOUDS)
    res = CliRunner().invoke(app, ["validate", str(bad), str(good)])
    assert res.exit_code == 1
    assert "Azure families:" in res.output.splitlines()[0]
    assert f"{good}: ok (clouds)" in res.output


def test_check_against_without_catalog_skips_only_catalog_checks() -> None:
    policy = parse_policy(OVERBOOKED)
    paths = [i.path for i in check_against(policy, None)]
    assert paths == ["pools.regions"]


# 2. cross-reference problems: one issue each, at its own field and line


def test_cross_references_reported_separately_with_path_and_line() -> None:
    text = (
        POOLS
        + """\
group_classes:
  gold: {}
default_class: platinum
forecast:
  quantile_by_class:
    gold: 0.9
    silver: 0.8
group_selection:
  manual_groups:
    - {name: a, members: [i-1], group_class: gold}
    - {name: b, members: [i-2], group_class: gold}
    - name: c
      members: [i-3]
      group_class: bronze
      region: mars-1
actions:
  - type: scale
  - type: routing
  - type: scale
"""
    )
    by_path = _issues(text)
    assert set(by_path) == {
        "default_class",
        "forecast.quantile_by_class.silver",
        "group_selection.manual_groups[2].group_class",
        "group_selection.manual_groups[2].region",
        "actions[2].type",
    }
    assert by_path["default_class"].line == 8
    assert by_path["forecast.quantile_by_class.silver"].line == 12
    klass = by_path["group_selection.manual_groups[2].group_class"]
    assert (klass.line, klass.message) == (19, "manual group 'c' uses unknown class 'bronze'")
    assert str(klass) == (
        "p.yaml:19: group_selection.manual_groups[2].group_class: "
        "manual group 'c' uses unknown class 'bronze'"
    )
    region = by_path["group_selection.manual_groups[2].region"]
    assert region.line == 20 and "unknown region 'mars-1'" in region.message
    dup = by_path["actions[2].type"]
    assert dup.line == 24
    assert dup.message == "action type 'scale' is listed more than once (first at actions[0])"


def test_unwritten_default_class_points_at_group_classes() -> None:
    by_path = _issues(POOLS + "group_classes:\n  gold: {}\n")
    assert by_path["group_classes"].line == 6
    assert "default_class 'default' is not in group_classes" in by_path["group_classes"].message


def test_cross_references_outside_the_loader_name_their_fields() -> None:
    data = {
        "name": "t",
        "pools": {"global_gbps": 1, "regions": {"r1": {"capacity_gbps": 1}}},
        "group_selection": {"manual_groups": [{"name": "a", "members": ["i"], "region": "x"}]},
    }
    with pytest.raises(ValidationError, match=r"group_selection\.manual_groups\[0\]\.region: "):
        Policy.model_validate(data)


# 3. edge-cache node_type


EDGE = (
    POOLS
    + """\
actions:
  - type: edge_cache
    regions: [r1]
    node_type: NODE_TYPE
    node_gbps: 10
    threshold_gbps: 5
"""
)


@pytest.mark.parametrize(
    "node_type", ["cache.r7g.large", "cache.t4g.micro", "cache.r6gd.16xlarge", "cache.c7gn.xlarge"]
)
def test_edge_cache_node_type_accepted(node_type: str) -> None:
    assert CACHE_NODE_TYPE.fullmatch(node_type)
    assert _located(EDGE.replace("NODE_TYPE", node_type)) == []


@pytest.mark.parametrize(
    "node_type", ["r7g.large", "cache.r7g", "cache.r7g.huge", "Cache.R7G.large"]
)
def test_edge_cache_node_type_rejected_with_path_and_line(node_type: str) -> None:
    (issue,) = _located(EDGE.replace("NODE_TYPE", node_type))
    assert (issue.path, issue.line) == ("actions[0].node_type", 9)
    assert f"{node_type!r} is not an ElastiCache node type" in issue.message


def test_cli_checks_node_type_without_catalog(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(EDGE.replace("NODE_TYPE", "redis.large"))
    res = CliRunner().invoke(app, ["validate", str(path)])
    assert res.exit_code == 1
    assert f"{path}:9: actions[0].node_type: 'redis.large' is not an ElastiCache node type" in (
        res.output
    )


# 4. largest_size: the planner caps each family by size order, so the check is per family


def _t(name: str, vcpu: int) -> InstanceType:
    return InstanceType(name=name, vcpu=vcpu, memory_gib=vcpu * 4, baseline_gbps=1, peak_gbps=1)


SIZED = {
    t.name: t
    for t in [_t("m6i.large", 2), _t("m6i.8xlarge", 32), _t("c6i.large", 2), _t("c6i.12xlarge", 48)]
}


def test_largest_size_capped_by_order_in_each_family() -> None:
    text = (
        POOLS + "actions:\n  - type: resize\n    families: [m6i, c6i]\n    largest_size: 8xlarge\n"
    )
    # c6i lacks 8xlarge but keeps large under the cap: fine (the planner caps by size order)
    assert _located(text, SIZED) == []
    issues = _located(text.replace("8xlarge", "medium"), SIZED)
    assert [(i.path, i.line, i.message) for i in issues] == [
        (
            "actions[0].largest_size",
            9,
            "family 'm6i' has no size at or below 'medium' (catalog sizes: 8xlarge, large)",
        ),
        (
            "actions[0].largest_size",
            9,
            "family 'c6i' has no size at or below 'medium' (catalog sizes: 12xlarge, large)",
        ),
    ]


def test_largest_size_outside_the_naming_scheme_must_exist() -> None:
    text = POOLS + "actions:\n  - type: resize\n    families: [m6i]\n    largest_size: huge\n"
    (issue,) = _located(text, SIZED)
    assert issue.path == "actions[0].largest_size"
    assert "'huge' is not a known size name and no allowed family has it" in issue.message


def test_largest_size_not_checked_for_a_family_missing_from_the_catalog() -> None:
    text = (
        POOLS + "actions:\n  - type: resize\n    families: [m6i, x9z]\n    largest_size: 8xlarge\n"
    )
    (issue,) = _located(text, SIZED)
    assert issue.path == "actions[0].families" and "'x9z' is not in the catalog" in issue.message


# 5. schedule.timezone


def test_unknown_timezone_rejected_with_path_and_line() -> None:
    by_path = _issues(POOLS + "schedule:\n  cron: '0 * * * *'\n  timezone: Mars/Olympus\n")
    assert set(by_path) == {"schedule.timezone"}  # the cron itself is fine
    issue = by_path["schedule.timezone"]
    assert issue.line == 8 and "'Mars/Olympus' is not an IANA time zone" in issue.message


def test_bad_cron_and_timezone_both_reported() -> None:
    by_path = _issues(POOLS + "schedule:\n  cron: '61 * * * *'\n  timezone: utc\n")
    assert set(by_path) == {"schedule.timezone", "schedule.cron"}
    assert (
        by_path["schedule.cron"].line == 7
        and "not valid in UTC" in by_path["schedule.cron"].message
    )


def test_scheduler_fires_in_the_policy_timezone() -> None:
    from reconciler.scheduler import build_scheduler, next_run

    policy = parse_policy(POOLS + "schedule:\n  cron: '0 9 * * *'\n  timezone: Europe/Berlin\n")
    assert policy.schedule.timezone == "Europe/Berlin"
    sched = build_scheduler(policy.schedule.cron, lambda: None, timezone=policy.schedule.timezone)
    fire = next_run(sched, datetime(2026, 1, 15, 0, 0, tzinfo=UTC))
    assert fire is not None and fire.astimezone(UTC) == datetime(2026, 1, 15, 8, 0, tzinfo=UTC)


# 6. the Action union is exactly the registry


def test_action_union_members_are_exactly_the_registered_classes() -> None:
    union, _field = get_args(Action)
    members = set(get_args(union))
    assert members == set(ACTION_TYPES.values())
    for name, cls in ACTION_TYPES.items():
        assert cls.model_fields["type"].annotation == Literal[name], cls


@pytest.mark.parametrize("name", sorted(ACTION_TYPES))
def test_every_registered_action_type_is_accepted_by_the_policy(name: str) -> None:
    data = {
        "name": "t",
        "pools": {"global_gbps": 1, "regions": {"r1": {"capacity_gbps": 1}}},
        "actions": [{"type": name}],
    }
    try:
        Policy.model_validate(data)
    except ValidationError as exc:  # missing required fields are fine; an unknown tag is not
        assert "union_tag_invalid" not in {e["type"] for e in exc.errors()}
    assert name in get_args(ActionKind)  # cooldowns and needs_approval can name it
