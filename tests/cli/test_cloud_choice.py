"""``--cloud`` and each cloud's options on ``run``/``serve``/``collect``, and the Lambda's
``HEADROOM_CLOUD``: a choice that does not fit is one line naming the fix (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.clouds import Cloud, CloudChoice, CloudChoiceError, choice_from_env, regions_of
from reconciler.handler import HandlerConfigError, config_from_env

runner = CliRunner()
POLICY = str(Path(__file__).resolve().parents[2] / "policies/examples/default.yaml")


@pytest.mark.parametrize(
    "args, says",
    [
        (
            ["--cloud", "azure", "--region", "westeurope"],
            "--cloud azure needs --azure-subscription",
        ),
        (["--cloud", "azure", "--azure-subscription", "s"], "--cloud azure needs its regions"),
        (["--gcp-key", "k.json"], "--gcp-key given without --cloud gcp"),
        (["--cloud", "gcp"], "--cloud gcp needs --gcp-project"),
        (["--region", "westeurope"], "--region westeurope is not a region of aws"),
    ],
)
@pytest.mark.parametrize("command", [["run", "--once"], ["serve"], ["collect"]])
def test_a_choice_that_does_not_fit_is_a_usage_error(
    command: list[str], args: list[str], says: str, tmp_path: Path
) -> None:
    policy = ["--policy", POLICY] if command[0] != "collect" else []
    state = ["--state-dir", str(tmp_path)]
    result = runner.invoke(app, [*command, *policy, *state, *args])
    assert result.exit_code == 2, result.output
    assert says in result.output


def test_an_unknown_cloud_is_refused_by_name() -> None:
    result = runner.invoke(app, ["run", "--once", "--cloud", "oracle"])
    assert result.exit_code == 2 and "oracle" in result.output


def test_each_cloud_takes_its_own_regions() -> None:
    regions = ["us-east-1", "us-central1", "WestEurope", "us-gov-west-1", "europe-west1"]
    assert regions_of(Cloud.AWS, regions) == ["us-east-1", "us-gov-west-1"]
    assert regions_of(Cloud.GCP, regions) == ["us-central1", "europe-west1"]
    assert regions_of(Cloud.AZURE, regions) == ["westeurope"]


def test_the_options_name_the_cloud_when_no_cloud_is_given() -> None:
    assert CloudChoice().check() == (Cloud.AWS,)
    assert CloudChoice(gcp_project="p").check() == (Cloud.GCP,)
    azure = CloudChoice(azure_subscriptions=("s",), regions=("westeurope",))
    assert azure.check() == (Cloud.AZURE,)
    with pytest.raises(CloudChoiceError, match="add --cloud for each"):
        CloudChoice(gcp_project="p", azure_subscriptions=("s",)).check()


def test_the_lambda_reads_its_clouds_from_the_environment() -> None:
    env = {
        "HEADROOM_CLOUD": "aws, azure",
        "HEADROOM_REGIONS": "us-east-1,westeurope",
        "HEADROOM_AZURE_SUBSCRIPTIONS": "s1,s2",
        "HEADROOM_AZURE_FLOW_LOGS": "https://flows.blob.core.windows.net",
        "HEADROOM_AZURE_CURSOR": "/mnt/efs/cursor.json",
    }
    choice = choice_from_env(env)
    assert choice.check() == (Cloud.AWS, Cloud.AZURE)
    assert choice.azure_subscriptions == ("s1", "s2")
    assert choice.azure_cursor == Path("/mnt/efs/cursor.json")


def _lambda_env(**extra: str) -> dict[str, str]:
    return {
        "HEADROOM_DATABASE_URL": "postgresql://u:p@h/db",
        "HEADROOM_HISTORY_URL": "s3://b/h",
        **extra,
    }


@pytest.mark.parametrize(
    "extra, says",
    [
        ({"HEADROOM_CLOUD": "oracle"}, "HEADROOM_CLOUD=oracle"),
        (
            {
                "HEADROOM_CLOUD": "azure",
                "HEADROOM_REGIONS": "westeurope",
                "HEADROOM_AZURE_SUBSCRIPTIONS": "s",
                "HEADROOM_AZURE_FLOW_LOGS": "https://flows.blob.core.windows.net",
            },
            "needs HEADROOM_AZURE_CURSOR",
        ),
        ({"HEADROOM_CLOUD": "gcp"}, "--cloud gcp needs --gcp-project"),
    ],
)
def test_a_lambda_setting_that_does_not_fit_names_it(extra: dict[str, str], says: str) -> None:
    with pytest.raises(HandlerConfigError, match=says):
        config_from_env(_lambda_env(**extra), {})


def test_the_lambda_defaults_to_aws() -> None:
    assert config_from_env(_lambda_env(), {})["clouds"].check() == (Cloud.AWS,)
