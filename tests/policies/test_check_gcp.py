"""``policy validate`` on Google Cloud names: regions and machine families, each refusal with its
file line and field path, without credentials or a catalog."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from policies import check_against, parse_policy
from policies.check_gcp import GCP_REGIONS, GCP_SERIES, gcp_issues
from policies.cli import app
from policies.loader import locate_issues
from providers.models import InstanceType, ProviderName

GOOD = """\
version: 1
name: gcp
pools:
  global_gbps: 200
  regions:
    us-central1: {capacity_gbps: 100}
    europe-west1: {capacity_gbps: 80}
    us-east-1: {capacity_gbps: 50}
    westeurope: {capacity_gbps: 50}
actions:
  - type: resize
    families: [n2-standard, n2d-highmem, c3-highcpu, e2, m6i]
    largest_size: "16"
"""

BAD = """\
version: 1
name: gcp
pools:
  global_gbps: 200
  regions:
    us-central9: {capacity_gbps: 100}
    us-central1-a: {capacity_gbps: 80}
actions:
  - type: resize
    families: [n2, n3-standard, e2-ultramem]
    largest_size: huge
"""


def _located(text: str) -> list[str]:
    policy = parse_policy(text, source="p.yaml")
    return [str(i) for i in locate_issues(text, check_against(policy, None, source="p.yaml"))]


def test_gcp_aws_and_azure_names_together_pass() -> None:
    assert _located(GOOD) == []


def test_each_bad_gcp_name_is_one_line_with_file_line_and_path() -> None:
    assert _located(BAD) == [
        "p.yaml:6: pools.regions.us-central9: 'us-central9' is not a Google Cloud region "
        "(e.g. us-central1)",
        "p.yaml:7: pools.regions.us-central1-a: 'us-central1-a' is a Google Cloud zone: pools "
        "are per region (us-central1)",
        "p.yaml:10: actions[0].families: 'n2' is a machine series, not a family: write "
        "n2-standard, n2-highmem, n2-highcpu",
        "p.yaml:10: actions[0].families: 'n3-standard': 'n3' is not a Compute Engine series",
        "p.yaml:10: actions[0].families: 'e2-ultramem' is not one of the e2 families: "
        "e2-standard, e2-highmem, e2-highcpu",
        "p.yaml:11: actions[0].largest_size: 'huge' caps no Google Cloud family: give a vCPU "
        "count (16 for n2-standard-16) or an instance size name (8xlarge = 32 vCPUs)",
    ]


def test_a_region_the_provider_serves_is_never_refused() -> None:
    """Google adds regions: a live inventory or --region naming it wins over the table."""
    policy = parse_policy(BAD, source="p.yaml")
    assert "us-central9" not in GCP_REGIONS
    paths = {i.path for i in gcp_issues(policy, None, {"us-central9"})}
    assert "pools.regions.us-central9" not in paths
    assert "pools.regions.us-central1-a" in paths


def test_a_catalog_decides_families_but_not_the_size_cap() -> None:
    """With the project's machine types the catalog check owns family names (no second line);
    a cap no numbered size can be read as is still refused."""
    catalog = {
        "n2-standard-4": InstanceType(
            name="n2-standard-4",
            provider=ProviderName.GCP,
            vcpu=4,
            memory_gib=16,
            baseline_gbps=8,
            peak_gbps=8,
        )
    }
    policy = parse_policy(BAD, source="p.yaml")
    mine = [(i.path, i.message) for i in gcp_issues(policy, catalog)]
    assert [p for p, _ in mine if p.startswith("actions")] == ["actions[0].largest_size"]
    theirs = check_against(policy, catalog, source="p.yaml")
    unknown = [i.message for i in theirs if i.path == "actions[0].families"]
    assert unknown == [
        "instance family 'n2' is not in the catalog",
        "instance family 'n3-standard' is not in the catalog",
        "instance family 'e2-ultramem' is not in the catalog",
    ]


def test_aws_family_names_that_look_like_gcp_series_are_left_alone() -> None:
    """c4, m3, g2 are AWS families too (c4.large): a bare one is not refused as a series."""
    text = GOOD.replace("[n2-standard, n2d-highmem, c3-highcpu, e2, m6i]", "[c4, m3, g2]")
    text = text.replace('largest_size: "16"', "largest_size: 2xlarge")
    assert _located(text) == []
    assert {"c4", "m3", "g2"} <= set(GCP_SERIES)


def test_validate_cli_prints_the_gcp_lines_and_fails(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD, encoding="utf-8")
    bad.write_text(BAD, encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", str(good)])
    assert ok.exit_code == 0, ok.output
    res = runner.invoke(app, ["validate", str(good), str(bad)])
    assert res.exit_code == 1
    assert f"{bad}:6: pools.regions.us-central9: 'us-central9' is not a Google" in res.output
    assert f"{bad}:10: actions[0].families: 'n2' is a machine series" in res.output
    assert "1 of 2 policy file(s) have problems" in res.output
