"""``plan`` and ``apply`` through typer's CliRunner, on a machine without the Pulumi CLI."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from reconciler.actuate.cli import app
from tests.actuate.test_diff import inventory
from tests.infra.samples import web_state

NO_PULUMI = {"PATH": "", "COLUMNS": "200"}  # shutil.which("pulumi") finds nothing


def files(tmp_path: Path) -> tuple[Path, Path]:
    desired = tmp_path / "desired.json"
    desired.write_text(json.dumps(web_state()))
    inv = tmp_path / "inventory.json"
    inv.write_text(json.dumps([r.model_dump(mode="json") for r in inventory()]))
    return desired, inv


def test_plan_shows_own_diff_when_cli_missing(tmp_path: Path) -> None:
    desired, inv = files(tmp_path)
    args = ["plan", "--desired", str(desired), "--inventory", str(inv)]
    result = CliRunner().invoke(app, [*args, "--state-dir", str(tmp_path)], env=NO_PULUMI)
    assert result.exit_code == 0, result.output
    assert "Headroom diff" in result.output
    assert "m5.2xlarge" in result.output and "new_cache" in result.output
    assert "No pulumi preview" in result.output
    assert "get.pulumi.com" in result.output


def test_apply_without_cli_exits_3_with_install_hint(tmp_path: Path) -> None:
    desired, _ = files(tmp_path)
    result = CliRunner().invoke(app, ["apply", "--desired", str(desired)], env=NO_PULUMI)
    assert result.exit_code == 3
    assert "Pulumi CLI was not found" in result.output
    assert "curl -fsSL https://get.pulumi.com | sh" in result.output
    assert "Traceback" not in result.output


def test_bad_desired_state_names_the_field(tmp_path: Path) -> None:
    doc = web_state()
    doc["edge_caches"][0]["num_nodes"] = 0
    desired = tmp_path / "desired.json"
    desired.write_text(json.dumps(doc))
    result = CliRunner().invoke(app, ["apply", "--desired", str(desired)], env=NO_PULUMI)
    assert result.exit_code == 1
    assert "edge_caches.0.num_nodes" in result.output
