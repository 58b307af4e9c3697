"""infra/deploy/Pulumi.yaml and the program agree: every config key it declares is one the
program reads, with the same default; every optional key is listed in its comments."""

from __future__ import annotations

from pathlib import Path

import yaml

from infra.deploy.config import CONFIG_NAMESPACE, DeployConfig

PROJECT = Path(__file__).resolve().parents[2] / "infra" / "deploy" / "Pulumi.yaml"


def test_project_file_points_at_the_program() -> None:
    project = yaml.safe_load(PROJECT.read_text(encoding="utf-8"))
    assert project["name"] == CONFIG_NAMESPACE
    assert project["runtime"]["name"] == "python"
    venv = PROJECT.parent / project["runtime"]["options"]["virtualenv"]
    assert venv.resolve() == (PROJECT.parents[2] / ".venv").resolve()
    assert "main" not in project and (PROJECT.parent / "__main__.py").is_file()


def test_declared_keys_and_defaults_match_the_config_model() -> None:
    text = PROJECT.read_text(encoding="utf-8")
    declared = yaml.safe_load(text)["config"]
    fields = {f.alias or name: f for name, f in DeployConfig.model_fields.items()}
    assert set(declared) <= set(fields)
    for key, entry in declared.items():
        field = fields[key]
        if "default" in entry:
            default = field.get_default(call_default_factory=True)
            assert entry["default"] == default, key
        else:  # Pulumi requires a value for a declared key without a default
            assert field.is_required(), key
    optional = set(fields) - set(declared)
    for key in optional:
        assert f"#   {key}: " in text, f"{key} is not documented in Pulumi.yaml"
