"""The deployment's stack config (namespace ``headroom-deploy``), read and validated in one place.

Every key, its default and its meaning are in ``infra/deploy/Pulumi.yaml``; a test keeps the two
in step. The database URL is never config: only the ARN of the Secrets Manager secret holding
it, which the Lambda reads at start-up and ECS injects into the task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "CONFIG_NAMESPACE",
    "FORBIDDEN_KEYS",
    "ROOT",
    "DeployConfig",
    "DeployConfigError",
    "load_config",
]

CONFIG_NAMESPACE = "headroom-deploy"
#: The repository root: the Docker build context, holding the policy the image carries.
ROOT = Path(__file__).resolve().parents[2]
#: Keys that would put the database URL (with its password) into plain stack config.
FORBIDDEN_KEYS = ("databaseUrl", "databaseURL", "database_url")


class DeployConfigError(ValueError):
    """The stack config is missing a key or holds a wrong value; the message names the key."""


class DeployConfig(BaseModel):
    """What ``infra/deploy`` declares, as stack config (camelCase keys)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    database_secret_arn: str = Field(
        alias="databaseSecretArn", pattern=r"^arn:aws[\w-]*:secretsmanager:"
    )
    policy: str = "policies/examples/default.yaml"
    image: str | None = None
    image_tag: str | None = Field(None, alias="imageTag")
    regions: list[str] = Field(default_factory=lambda: ["us-east-1"], min_length=1)
    dry_run: bool = Field(False, alias="dryRun")
    history_prefix: str = Field("headroom", alias="historyPrefix", pattern=r"^[\w.-]+(/[\w.-]+)*$")
    lambda_memory_mb: int = Field(3008, alias="lambdaMemoryMb", ge=128, le=10240)
    lambda_timeout_seconds: int = Field(900, alias="lambdaTimeoutSeconds", ge=60, le=900)
    vpc_id: str | None = Field(None, alias="vpcId")
    subnet_ids: list[str] = Field(default_factory=list, alias="subnetIds")
    serve: bool = True
    alb_subnet_ids: list[str] = Field(default_factory=list, alias="albSubnetIds")
    alb_internal: bool = Field(True, alias="albInternal")
    alb_ingress_cidrs: list[str] = Field(default_factory=list, alias="albIngressCidrs")
    certificate_arn: str | None = Field(None, alias="certificateArn")
    serve_desired_count: int = Field(1, alias="serveDesiredCount", ge=0, le=10)
    serve_cpu: int = Field(1024, alias="serveCpu")
    serve_memory_mb: int = Field(2048, alias="serveMemoryMb")

    @model_validator(mode="after")
    def _consistent(self) -> DeployConfig:
        if self.image and self.image_tag:
            raise ValueError("set image (a URI) or imageTag (in the stack's repository), not both")
        if bool(self.vpc_id) != bool(self.subnet_ids):
            raise ValueError("vpcId and subnetIds go together (the Lambda and tasks run there)")
        if self.serve and not (self.vpc_id and self.alb_ingress_cidrs):
            raise ValueError(
                "serve needs vpcId, subnetIds and albIngressCidrs (who may reach the API); "
                "set serve: false to deploy the scheduled Lambda alone"
            )
        policy = (ROOT / self.policy).resolve()
        if not policy.is_relative_to(ROOT / "policies") or not policy.is_file():
            raise ValueError(
                f"policy {self.policy!r} must be a file under policies/ (the image carries "
                "that folder; the schedule is read from it)"
            )
        return self


def _read(config: pulumi.Config) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for name, field in DeployConfig.model_fields.items():
        key = field.alias or name
        value = config.get_object(key) if _structured(field.annotation) else config.get(key)
        if value is not None:
            raw[key] = value
    return raw


def _structured(annotation: Any) -> bool:
    return annotation in (bool, int) or getattr(annotation, "__origin__", None) is list


def load_config(config: pulumi.Config | None = None) -> DeployConfig:
    """The validated config; raises ``DeployConfigError`` listing every problem by key."""
    config = config or pulumi.Config(CONFIG_NAMESPACE)
    leaked = [k for k in FORBIDDEN_KEYS if config.get(k) is not None]
    if leaked:
        raise DeployConfigError(
            f"{CONFIG_NAMESPACE}:{leaked[0]} holds a database URL in stack config: remove it and "
            f"set {CONFIG_NAMESPACE}:databaseSecretArn to a Secrets Manager secret holding it"
        )
    try:
        return DeployConfig.model_validate(_read(config))
    except ValidationError as exc:
        lines = [
            f"{CONFIG_NAMESPACE}:{'.'.join(str(p) for p in e['loc']) or '(config)'}: "
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        ]
        raise DeployConfigError("invalid stack config:\n  " + "\n  ".join(lines)) from exc
