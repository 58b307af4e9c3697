"""HeadroomDeployment: Headroom itself on AWS, a pure function of the deployment's stack config.

* the history bucket (and, unless an image URI is given, the ECR repository for the image);
* once an image is named: the reconciler as a Lambda on the policy's cron (EventBridge
  Scheduler) and, with ``serve``, the API as an ECS Fargate service behind a load balancer.

The schedule is the policy's own ``schedule.cron`` in its ``timezone``, converted to
EventBridge's form (``infra.deploy.cron``) by ``schedule_from_policy`` before anything is
declared; the policy file is the one the image carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from infra.deploy.config import DeployConfig
from infra.deploy.cron import eventbridge_cron
from infra.deploy.permissions import generated_policy
from infra.deploy.scheduled import ScheduledReconciler, ScheduledReconcilerArgs
from infra.deploy.service import ApiService, ApiServiceArgs
from infra.deploy.storage import HistoryBucket, HistoryBucketArgs, ImageRepository
from policies.loader import load_policy

__all__ = ["HeadroomDeployment", "HeadroomDeploymentArgs", "schedule_from_policy"]

COMPONENT_TYPE = "headroom:deploy:HeadroomDeployment"


@dataclass(frozen=True)
class HeadroomDeploymentArgs:
    config: DeployConfig
    root: Path  # the repository: the code the IAM policy is generated from
    stack: str
    schedule_expression: str  # EventBridge's form of the policy's cron
    schedule_timezone: str


def schedule_from_policy(root: Path, config: DeployConfig) -> tuple[str, str]:
    """The EventBridge expression and time zone of the policy ``config`` names; raises
    ``PolicyError`` or ``CronConversionError`` (before anything is declared)."""
    policy = load_policy(root / config.policy)
    return eventbridge_cron(policy.schedule.cron), policy.schedule.timezone


class HeadroomDeployment(pulumi.ComponentResource):
    """Everything the deployment declares; ``outputs`` is what the stack exports."""

    outputs: dict[str, Any]

    def __init__(
        self, name: str, args: HeadroomDeploymentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        cfg = args.config
        tags = {"headroom:deployment": args.stack, "headroom:managed": "true"}
        child = pulumi.ResourceOptions(parent=self)
        prefix = f"{name}-{args.stack}"

        history = HistoryBucket(
            f"{prefix}-history", HistoryBucketArgs(prefix=cfg.history_prefix, tags=tags), child
        )
        self.outputs = {
            "historyBucket": history.bucket.bucket,
            "historyUrl": history.url,
            "schedule": args.schedule_expression,
            "scheduleTimezone": args.schedule_timezone,
        }
        image: pulumi.Input[str] | None = cfg.image
        if cfg.image is None:
            repo = ImageRepository(f"{prefix}-image", tags, child).repository
            self.outputs["imageRepository"] = repo.repository_url
            if cfg.image_tag is not None:
                image = pulumi.Output.concat(repo.repository_url, ":", cfg.image_tag)
        if image is None:
            self.outputs["next"] = (
                "push the image to imageRepository, then "
                "`pulumi config set imageTag <tag>` and `pulumi up` again"
            )
        else:
            self._compute(prefix, args, image, history, tags)
        self.register_outputs(self.outputs)

    def _compute(
        self,
        prefix: str,
        args: HeadroomDeploymentArgs,
        image: pulumi.Input[str],
        history: HistoryBucket,
        tags: dict[str, str],
    ) -> None:
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        reconciler = ScheduledReconciler(
            f"{prefix}-reconciler",
            ScheduledReconcilerArgs(
                image_uri=image,
                generated_policy=generated_policy(args.root),
                database_secret_arn=cfg.database_secret_arn,
                history_bucket_arn=history.bucket.arn,
                history_url=history.url,
                history_prefix=cfg.history_prefix,
                policy_path=cfg.policy,
                schedule_expression=args.schedule_expression,
                schedule_timezone=args.schedule_timezone,
                regions=cfg.regions,
                dry_run=cfg.dry_run,
                memory_mb=cfg.lambda_memory_mb,
                timeout_seconds=cfg.lambda_timeout_seconds,
                tags=tags,
                vpc_id=cfg.vpc_id,
                subnet_ids=tuple(cfg.subnet_ids),
            ),
            child,
        )
        self.outputs["reconcilerFunction"] = reconciler.function.name
        if not cfg.serve or cfg.vpc_id is None:
            return
        api = ApiService(
            f"{prefix}-api",
            ApiServiceArgs(
                image_uri=image,
                database_secret_arn=cfg.database_secret_arn,
                vpc_id=cfg.vpc_id,
                subnet_ids=tuple(cfg.subnet_ids),
                alb_subnet_ids=tuple(cfg.alb_subnet_ids or cfg.subnet_ids),
                alb_internal=cfg.alb_internal,
                ingress_cidrs=tuple(cfg.alb_ingress_cidrs),
                certificate_arn=cfg.certificate_arn,
                desired_count=cfg.serve_desired_count,
                cpu=cfg.serve_cpu,
                memory_mb=cfg.serve_memory_mb,
                tags=tags,
            ),
            child,
        )
        scheme = "https" if cfg.certificate_arn else "http"
        self.outputs["apiUrl"] = pulumi.Output.concat(scheme, "://", api.load_balancer.dns_name)
