"""``policy validate`` on Azure names: regions, VM families and sizes, one line each with
file:line and field path, without credentials; a region the provider serves and a catalog's
families win over the tables."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from policies import check_against, parse_policy
from policies.check_azure import AZURE_REGIONS, azure_issues, is_azure_family
from policies.cli import app
from policies.loader import locate_issues
from providers.models import InstanceType, ProviderName

GOOD = """\
version: 1
name: azure
pools:
  global_gbps: 200
  regions:
    westeurope: {capacity_gbps: 100}
    eastus2: {capacity_gbps: 50}
    us-east-1: {capacity_gbps: 50}
actions:
  - type: resize
    families: [Dsv5, esv5, m6i]
    largest_size: "16"
"""

BAD = """\
version: 1
name: azure
pools:
  global_gbps: 200
  regions:
    westeurop: {capacity_gbps: 100}
    eastus: {capacity_gbps: 50}
actions:
  - type: resize
    families: [dsv5, dsv9]
    largest_size: Standard_D16s_v5
"""


def _located(text: str, catalog: dict[str, InstanceType] | None = None) -> list[str]:
    policy = parse_policy(text, source="p.yaml")
    return [str(i) for i in locate_issues(text, check_against(policy, catalog, source="p.yaml"))]


def test_azure_aws_names_together_pass() -> None:
    assert _located(GOOD) == []


def test_each_bad_azure_name_is_one_line_with_file_line_and_path() -> None:
    assert _located(BAD) == [
        "p.yaml:6: pools.regions.westeurop: 'westeurop' is not an Azure region "
        "(did you mean westeurope?)",
        "p.yaml:10: actions[0].families[1]: Azure VM family 'dsv9' has no bandwidth figure, so "
        "no size of it can be chosen (did you mean dsv5?) (known: Dsv3, Dsv5, Dv5, Esv5, Fsv2)",
        "p.yaml:11: actions[0].largest_size: 'Standard_D16s_v5' is an Azure VM size; Azure "
        "sizes are capped by vCPUs: write largest_size: '16'",
    ]


def test_names_far_from_any_azure_region_are_left_alone() -> None:
    """``r1`` or a new region (``newcentral``) may be another cloud's or one Azure just added."""
    text = BAD.replace("westeurop:", "r1:").replace("eastus:", "newcentral:")
    assert not [line for line in _located(text) if "pools.regions" in line]


def test_a_region_the_provider_serves_is_never_refused() -> None:
    policy = parse_policy(BAD, source="p.yaml")
    assert "westeurop" not in AZURE_REGIONS
    paths = {i.path for i in azure_issues(policy, None, {"westeurop"})}
    assert "pools.regions.westeurop" not in paths
    assert "actions[0].families[1]" in paths


def _size(name: str, vcpu: int) -> InstanceType:
    return InstanceType(
        name=name,
        provider=ProviderName.AZURE,
        vcpu=vcpu,
        memory_gib=4.0 * vcpu,
        baseline_gbps=12.5,
        peak_gbps=12.5,
    )


def test_an_azure_catalog_decides_families_written_in_lower_case() -> None:
    """Policy families are lower-cased (``Dsv5`` -> ``dsv5``): the catalog check matches them
    to Azure's ``Dsv5`` and owns the family names, so ``dsv9`` is one line, the catalog's."""
    catalog = {"Standard_D4s_v5": _size("Standard_D4s_v5", 4)}
    lines = _located(BAD, catalog)
    families = [line for line in lines if " actions[0].families" in line]
    assert families == [
        "p.yaml:10: actions[0].families: instance family 'dsv9' is not in the catalog"
    ]
    assert any("actions[0].largest_size: 'Standard_D16s_v5'" in line for line in lines)


def test_aws_and_gcp_families_are_not_azure_ones() -> None:
    assert [
        f
        for f in ("m6i", "c7gn", "e2", "n2-standard", "vt1", "dsv5", "Fsv2", "bms")
        if is_azure_family(f)
    ] == [
        "dsv5",
        "Fsv2",
    ]


def test_validate_cli_prints_the_azure_lines_and_fails(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD, encoding="utf-8")
    bad.write_text(BAD, encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", str(good)])
    assert ok.exit_code == 0, ok.output
    res = runner.invoke(app, ["validate", str(good), str(bad)])
    assert res.exit_code == 1
    assert f"{bad}:6: pools.regions.westeurop: 'westeurop' is not an Azure region" in res.output
    assert f"{bad}:10: actions[0].families[1]: Azure VM family 'dsv9'" in res.output
