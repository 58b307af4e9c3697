"""ScheduledReconciler: one reconciler cycle per tick of the policy's cron, as a Lambda function
from the Headroom container image, invoked by EventBridge Scheduler.

The function's role carries ``reconciler.iam``'s generated policy unchanged, plus logging, the
history bucket's prefix and the one database secret. The database URL itself never enters the
stack: the function gets the secret's ARN and reads it at start-up (``infra.deploy.entry``).
At most one invocation runs at a time (reserved concurrency 1; the state lease also holds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.deploy import permissions
from infra.deploy.roles import inline_policy, service_role

__all__ = ["LAMBDA_ENTRY", "TASK_ROOT", "ScheduledReconciler", "ScheduledReconcilerArgs"]

COMPONENT_TYPE = "headroom:deploy:ScheduledReconciler"
#: The image's Lambda entry point (also the Dockerfile's CMD).
LAMBDA_ENTRY = "infra.deploy.entry.handler"
#: Where the Lambda base image keeps the function's files (the Dockerfile copies policies/ there).
TASK_ROOT = "/var/task"
#: What each scheduled invocation receives (the handler records it in the run's trigger).
SCHEDULE_INPUT = {
    "source": "aws.scheduler",
    "detail-type": "Scheduled Event",
    "time": "<aws.scheduler.scheduled-time>",
}


@dataclass(frozen=True)
class ScheduledReconcilerArgs:
    image_uri: pulumi.Input[str]
    generated_policy: dict[str, Any]
    database_secret_arn: str
    history_bucket_arn: pulumi.Input[str]
    history_url: pulumi.Input[str]
    history_prefix: str
    policy_path: str  # relative to the repository root (and to TASK_ROOT in the image)
    schedule_expression: str
    schedule_timezone: str
    regions: list[str]
    dry_run: bool
    memory_mb: int
    timeout_seconds: int
    tags: dict[str, str]
    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()


class ScheduledReconciler(pulumi.ComponentResource):
    role: aws.iam.Role
    function: aws.lambda_.Function
    schedule: aws.scheduler.Schedule

    def __init__(
        self, name: str, args: ScheduledReconcilerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = self._role(name, args, child)
        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{name}",
            retention_in_days=30,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        self.function = aws.lambda_.Function(
            name,
            name=name,
            package_type="Image",
            image_uri=args.image_uri,
            image_config={"commands": [LAMBDA_ENTRY]},
            role=self.role.arn,
            memory_size=args.memory_mb,
            timeout=args.timeout_seconds,
            ephemeral_storage={"size": 2048},
            reserved_concurrent_executions=1,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=_environment(args)),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="Text", log_group=logs.name
            ),
            vpc_config=self._vpc_config(name, args, child),
            tags=args.tags,
            opts=child,
        )
        self.schedule = self._schedule(name, args, child)
        self.register_outputs(
            {"functionName": self.function.name, "schedule": args.schedule_expression}
        )

    def _role(
        self, name: str, args: ScheduledReconcilerArgs, child: pulumi.ResourceOptions
    ) -> aws.iam.Role:
        role = service_role(f"{name}-role", "lambda.amazonaws.com", args.tags, child)
        execution = (
            permissions.LAMBDA_VPC_EXECUTION if args.vpc_id else permissions.LAMBDA_BASIC_EXECUTION
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-execution", role=role.name, policy_arn=execution, opts=child
        )
        inline_policy(f"{name}-generated", role, args.generated_policy, child)
        history = pulumi.Output.from_input(args.history_bucket_arn).apply(
            lambda arn: permissions.history_policy(arn, args.history_prefix)
        )
        inline_policy(f"{name}-history", role, history, child)
        secret = permissions.secret_read_policy(args.database_secret_arn)
        inline_policy(f"{name}-database-secret", role, secret, child)
        return role

    def _vpc_config(
        self, name: str, args: ScheduledReconcilerArgs, child: pulumi.ResourceOptions
    ) -> aws.lambda_.FunctionVpcConfigArgs | None:
        if args.vpc_id is None:
            return None
        group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="Headroom reconciler Lambda: outbound only (AWS APIs, the database)",
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
            tags=args.tags,
            opts=child,
        )
        return aws.lambda_.FunctionVpcConfigArgs(
            subnet_ids=list(args.subnet_ids), security_group_ids=[group.id]
        )

    def _schedule(
        self, name: str, args: ScheduledReconcilerArgs, child: pulumi.ResourceOptions
    ) -> aws.scheduler.Schedule:
        invoker = service_role(
            f"{name}-scheduler-role", "scheduler.amazonaws.com", args.tags, child
        )
        invoke = self.function.arn.apply(permissions.invoke_policy)
        inline_policy(f"{name}-scheduler-invoke", invoker, invoke, child)
        return aws.scheduler.Schedule(
            f"{name}-schedule",
            name=name,
            description="Headroom: one reconciler cycle per tick of the policy's schedule.cron",
            schedule_expression=args.schedule_expression,
            schedule_expression_timezone=args.schedule_timezone,
            flexible_time_window={"mode": "OFF"},
            state="ENABLED",
            target={
                "arn": self.function.arn,
                "role_arn": invoker.arn,
                "input": json.dumps(SCHEDULE_INPUT),
                # No retries: the next tick converges on its own (no retry storm).
                "retry_policy": {"maximum_retry_attempts": 0},
            },
            opts=child,
        )


def _environment(args: ScheduledReconcilerArgs) -> dict[str, pulumi.Input[str]]:
    """The handler's settings (docs/lambda.md); the secret's ARN, never its value."""
    return {
        "HEADROOM_DATABASE_SECRET_ARN": args.database_secret_arn,
        "HEADROOM_HISTORY_URL": args.history_url,
        "HEADROOM_POLICY": f"{TASK_ROOT}/{args.policy_path}",
        "HEADROOM_REGIONS": ",".join(args.regions),
        "HEADROOM_DRY_RUN": "true" if args.dry_run else "false",
    }
