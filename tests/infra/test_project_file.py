"""Pulumi.yaml points at the program and describes the config key the program reads."""

from __future__ import annotations

from pathlib import Path

import yaml

from infra.desired_state import CONFIG_KEY, CONFIG_NAMESPACE

ROOT = Path(__file__).resolve().parents[2]


def test_project_file_matches_the_program() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert project["name"] == CONFIG_NAMESPACE  # project config keys live in its namespace
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    assert (ROOT / project["main"] / "__main__.py").is_file()
    entry = project["config"][CONFIG_KEY]
    assert entry["type"] == "string"
    assert "desired_state.schema.json" in entry["description"]
