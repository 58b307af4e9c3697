"""The deployment program (infra/deploy) under Pulumi mocks: what it declares, with which
permissions, on which schedule, and that the database secret never enters the stack."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from infra.deploy.config import DeployConfigError
from infra.deploy.cron import eventbridge_cron
from infra.deploy.scheduled import LAMBDA_ENTRY, TASK_ROOT
from infra.deploy.service import API_PORT, HEALTH_PATH, serve_command
from policies.loader import load_policy
from reconciler.iam import render_policy
from tests.infra.deploy_harness import SECRET_ARN, DeployRun, base_config, run_deploy
from tests.infra.harness import ProgramFailed

ROOT = Path(__file__).resolve().parents[2]
FUNCTION = "aws:lambda/function:Function"
SCHEDULE = "aws:scheduler/schedule:Schedule"
BUCKET = "aws:s3/bucket:Bucket"
SERVICE = "aws:ecs/service:Service"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
TASK = "aws:ecs/taskDefinition:TaskDefinition"


@pytest.fixture(scope="module")
def full() -> DeployRun:
    return run_deploy(base_config())


def test_everything_is_declared_once_under_the_deployment(full: DeployRun) -> None:
    types = Counter(d.type for d in full.declared)
    for type_ in (FUNCTION, SCHEDULE, BUCKET, SERVICE, TARGET_GROUP, TASK):
        assert types[type_] == 1, type_
    assert types["aws:ecr/repository:Repository"] == 1
    assert types["aws:lb/loadBalancer:LoadBalancer"] == 1
    assert types["aws:lb/listener:Listener"] == 1
    assert types["aws:ecs/cluster:Cluster"] == 1
    # lambda role, scheduler role, task execution role, task role
    assert types["aws:iam/role:Role"] == 4
    assert set(full.outputs) >= {"historyUrl", "schedule", "reconcilerFunction", "apiUrl"}


def test_lambda_runs_the_image_with_the_handler_and_settings(full: DeployRun) -> None:
    (fn,) = full.of_type(FUNCTION)
    assert fn.inputs["packageType"] == "Image"
    assert fn.inputs["imageUri"].endswith("/headroom-test-image:abc1234")
    assert fn.inputs["imageConfig"] == {"commands": [LAMBDA_ENTRY]}
    assert (fn.inputs["memorySize"], fn.inputs["timeout"]) == (3008, 900)
    assert fn.inputs["reservedConcurrentExecutions"] == 1
    env = fn.inputs["environment"]["variables"]
    assert env == {
        "HEADROOM_DATABASE_SECRET_ARN": SECRET_ARN,
        "HEADROOM_HISTORY_URL": full.outputs["historyUrl"],
        "HEADROOM_POLICY": f"{TASK_ROOT}/policies/examples/default.yaml",
        "HEADROOM_REGIONS": "us-east-1",
        "HEADROOM_DRY_RUN": "false",
    }
    assert full.outputs["historyUrl"] == f"s3://{full.outputs['historyBucket']}/headroom"
    assert fn.inputs["vpcConfig"]["subnetIds"] == ["subnet-a", "subnet-b"]


def test_reconciler_role_carries_exactly_the_generated_policy(full: DeployRun) -> None:
    generated = full.policy("reconciler-generated")
    assert generated == json.loads(render_policy(ROOT))
    assert generated == json.loads((ROOT / "docs" / "iam-policy.json").read_text())
    attachments = {
        d.inputs["policyArn"].rsplit("/", 1)[-1]
        for d in full.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    }
    assert attachments == {"AWSLambdaVPCAccessExecutionRole", "AmazonECSTaskExecutionRolePolicy"}


def test_grants_beside_it_name_one_resource_each(full: DeployRun) -> None:
    for suffix in ("reconciler-database-secret", "api-database-secret"):
        (statement,) = full.policy(suffix)["Statement"]
        assert statement["Action"] == "secretsmanager:GetSecretValue"
        assert statement["Resource"] == SECRET_ARN
    bucket_arn = f"arn:aws:s3:::{full.outputs['historyBucket']}"
    listing, objects = full.policy("reconciler-history")["Statement"]
    assert (listing["Action"], listing["Resource"]) == ("s3:ListBucket", bucket_arn)
    assert objects["Resource"] == f"{bucket_arn}/headroom/*"
    (invoke,) = full.policy("scheduler-invoke")["Statement"]
    (fn,) = full.of_type(FUNCTION)
    assert invoke["Action"] == "lambda:InvokeFunction"
    assert invoke["Resource"].endswith(f":{fn.name}")
    # the API task's own role has no permissions at all
    roles = {p.name for p in full.of_type("aws:iam/rolePolicy:RolePolicy")}
    assert not any("task-role" in r for r in roles)


def test_schedule_is_the_policys_cron_in_its_timezone(full: DeployRun) -> None:
    policy = load_policy(ROOT / "policies" / "examples" / "default.yaml")
    (schedule,) = full.of_type(SCHEDULE)
    assert schedule.inputs["scheduleExpression"] == eventbridge_cron(policy.schedule.cron)
    assert schedule.inputs["scheduleExpression"] == "cron(0/15 * * * ? *)"  # "*/15 * * * *"
    assert schedule.inputs["scheduleExpressionTimezone"] == policy.schedule.timezone
    assert schedule.inputs["flexibleTimeWindow"] == {"mode": "OFF"}
    assert schedule.inputs["target"]["retryPolicy"] == {"maximumRetryAttempts": 0}


def test_another_policy_gives_another_schedule() -> None:
    run = run_deploy(base_config(policy="policies/examples/tenants.yaml", serve=False))
    (schedule,) = run.of_type(SCHEDULE)
    assert schedule.inputs["scheduleExpression"] == "cron(0 * * * ? *)"  # "0 * * * *"
    (fn,) = run.of_type(FUNCTION)
    assert fn.inputs["environment"]["variables"]["HEADROOM_POLICY"].endswith("tenants.yaml")


def test_the_secret_value_never_enters_the_stack(full: DeployRun) -> None:
    text = json.dumps([d.inputs for d in full.declared], default=str)
    assert "postgresql" not in text and 'HEADROOM_DATABASE_URL": "' not in text
    assert not any("secretsmanager" in token for token, _ in full.calls)
    (task,) = full.of_type(TASK)
    (container,) = json.loads(task.inputs["containerDefinitions"])
    assert container["secrets"] == [{"name": "HEADROOM_DATABASE_URL", "valueFrom": SECRET_ARN}]
    assert "environment" not in container


def test_a_database_url_in_config_is_refused() -> None:
    with pytest.raises(ProgramFailed) as failed:
        run_deploy(base_config(databaseUrl="postgresql://u:hunter2@db/headroom"))
    assert isinstance(failed.value.error, DeployConfigError)
    assert "hunter2" not in str(failed.value.error)
    assert "databaseSecretArn" in str(failed.value.error)
    assert failed.value.declared == []


def test_what_the_user_owns_is_retained(full: DeployRun) -> None:
    (bucket,) = full.of_type(BUCKET)
    assert full.retained[bucket.name] and bucket.inputs["forceDestroy"] is False
    kept = [d for d in full.declared if d.name.startswith(f"{bucket.name}-")]
    assert len(kept) == 4 and all(full.retained[d.name] for d in kept)
    (versioning,) = full.of_type("aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
    (block,) = full.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(
        block.inputs[k]
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    (repo,) = full.of_type("aws:ecr/repository:Repository")
    assert full.retained[repo.name] and repo.inputs["imageTagMutability"] == "IMMUTABLE"
    assert not full.retained[full.of_type(FUNCTION)[0].name]  # compute is replaceable


def test_api_service_health_check_is_the_apis_health_route(full: DeployRun, tmp_path: Path) -> None:
    from reconciler.api.app import create_app
    from reconciler.state import StateStore

    (group,) = full.of_type(TARGET_GROUP)
    assert group.inputs["healthCheck"]["path"] == HEALTH_PATH
    assert (group.inputs["port"], group.inputs["targetType"]) == (API_PORT, "ip")
    store = StateStore.open(f"sqlite:///{tmp_path / 'headroom.db'}")
    try:
        paths = {getattr(r, "path", None) for r in create_app(store).routes}
    finally:
        store.close()
    assert HEALTH_PATH in paths
    (service,) = full.of_type(SERVICE)
    assert service.inputs["launchType"] == "FARGATE"
    assert service.inputs["loadBalancers"][0]["containerPort"] == API_PORT
    assert service.inputs["networkConfiguration"]["assignPublicIp"] is False


def test_api_container_runs_a_real_serve_command(full: DeployRun) -> None:
    from reconciler.runner_cli import serve_cmd

    (task,) = full.of_type(TASK)
    (container,) = json.loads(task.inputs["containerDefinitions"])
    assert container["entryPoint"] == ["headroom"]
    assert container["command"] == serve_command()
    options = {opt for p in typer_params(serve_cmd) for opt in p}
    assert {a for a in serve_command() if a.startswith("--")} <= options


def typer_params(command: object) -> list[list[str]]:
    import typer.main

    click_command = typer.main.get_command_from_info(
        typer.models.CommandInfo(callback=command),  # type: ignore[arg-type]
        pretty_exceptions_short=True,
        rich_markup_mode=None,
    )
    return [list(p.opts) for p in click_command.params]


def test_without_an_image_only_the_bucket_and_repository() -> None:
    run = run_deploy(base_config(imageTag=None))
    aws = {d.type for d in run.declared if d.type.startswith("aws:")}
    assert aws == {
        BUCKET,
        "aws:ecr/repository:Repository",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    }
    assert "imageTag" in run.outputs["next"]


def test_an_image_uri_needs_no_repository_and_serve_can_be_off() -> None:
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mine:1.0"
    run = run_deploy(
        base_config(image=image, imageTag=None, serve=False, vpcId=None, subnetIds=None)
    )
    assert run.of_type("aws:ecr/repository:Repository") == []
    assert run.of_type(SERVICE) == [] and run.of_type("aws:lb/loadBalancer:LoadBalancer") == []
    (fn,) = run.of_type(FUNCTION)
    assert fn.inputs["imageUri"] == image and "vpcConfig" not in fn.inputs
    attachments = [
        d.inputs["policyArn"]
        for d in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    ]
    assert [a.rsplit("/", 1)[-1] for a in attachments] == ["AWSLambdaBasicExecutionRole"]


def test_https_listener_with_a_certificate() -> None:
    cert = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    run = run_deploy(base_config(certificateArn=cert))
    (listener,) = run.of_type("aws:lb/listener:Listener")
    assert (listener.inputs["port"], listener.inputs["protocol"]) == (443, "HTTPS")
    assert listener.inputs["certificateArn"] == cert
    assert run.outputs["apiUrl"].startswith("https://")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"databaseSecretArn": None}, "databaseSecretArn: Field required"),
        ({"databaseSecretArn": "hunter2"}, "databaseSecretArn: String should match pattern"),
        ({"policy": "../etc/policy.yaml"}, "must be a file under policies/"),
        ({"albIngressCidrs": None}, "serve needs vpcId, subnetIds and albIngressCidrs"),
        ({"image": "x:1"}, "not both"),
        ({"lambdaTimeoutSeconds": 1200}, "lambdaTimeoutSeconds: Input should be less"),
    ],
)
def test_config_errors_name_the_key_and_declare_nothing(overrides: dict, message: str) -> None:
    with pytest.raises(ProgramFailed) as failed:
        run_deploy(base_config(**overrides))
    assert message in str(failed.value.error)
    assert failed.value.declared == []
