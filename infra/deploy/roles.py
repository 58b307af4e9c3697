"""IAM roles and their inline policies, declared one way for every component."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.deploy.permissions import assume_role

__all__ = ["inline_policy", "service_role"]


def service_role(
    name: str, service: str, tags: dict[str, str], opts: pulumi.ResourceOptions
) -> aws.iam.Role:
    """A role that only ``service`` (e.g. ``lambda.amazonaws.com``) may assume."""
    return aws.iam.Role(
        name, assume_role_policy=json.dumps(assume_role(service)), tags=tags, opts=opts
    )


def inline_policy(
    name: str,
    role: aws.iam.Role,
    document: pulumi.Input[dict[str, Any]],
    opts: pulumi.ResourceOptions,
) -> aws.iam.RolePolicy:
    """``document`` (a policy, possibly naming resources not created yet) inline on ``role``."""
    return aws.iam.RolePolicy(
        name, role=role.id, policy=pulumi.Output.json_dumps(document), opts=opts
    )
