"""IAM documents of the deployment: the generated least-privilege policy and the few grants
beside it, each scoped to the one resource it is for.

The reconciler's own policy is ``reconciler.iam``'s, generated from the AWS calls the code makes
(what ``docs/iam-policy.json`` holds), used as it is. Beside it: read the one database secret,
read and write the history bucket's prefix, let the scheduler invoke the one function.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from reconciler.iam import render_policy

__all__ = [
    "LAMBDA_BASIC_EXECUTION",
    "LAMBDA_VPC_EXECUTION",
    "TASK_EXECUTION",
    "assume_role",
    "generated_policy",
    "history_policy",
    "invoke_policy",
    "secret_read_policy",
]

_MANAGED = "arn:aws:iam::aws:policy/service-role/"
#: CloudWatch Logs for the function (the "basic execution" managed policy).
LAMBDA_BASIC_EXECUTION = _MANAGED + "AWSLambdaBasicExecutionRole"
#: Network interfaces for a function in a VPC (and the same logging).
LAMBDA_VPC_EXECUTION = _MANAGED + "AWSLambdaVPCAccessExecutionRole"
#: Pull the image from ECR and write the task's logs.
TASK_EXECUTION = _MANAGED + "AmazonECSTaskExecutionRolePolicy"


def _document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def generated_policy(root: Path) -> dict[str, Any]:
    """``reconciler.iam``'s policy for the code under ``root``, unchanged."""
    document: dict[str, Any] = json.loads(_rendered(root))
    return document


@cache
def _rendered(root: Path) -> str:
    """The scan takes seconds (every boto3 service model it names); once per process."""
    return render_policy(root)


def assume_role(service: str) -> dict[str, Any]:
    """Trust policy letting ``service`` (e.g. ``lambda.amazonaws.com``) assume the role."""
    return _document(
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    )


def secret_read_policy(secret_arn: str) -> dict[str, Any]:
    """Read the one secret holding the database URL, and nothing else in Secrets Manager."""
    return _document(
        {
            "Sid": "HeadroomDatabaseSecret",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": secret_arn,
        }
    )


def history_policy(bucket_arn: str, prefix: str) -> dict[str, Any]:
    """List the bucket under ``prefix``, and read, write and replace objects there (a history
    file is written under a temporary name, then moved into place)."""
    return _document(
        {
            "Sid": "HeadroomHistoryList",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}},
        },
        {
            "Sid": "HeadroomHistoryObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": f"{bucket_arn}/{prefix}/*",
        },
    )


def invoke_policy(function_arn: str) -> dict[str, Any]:
    """Let EventBridge Scheduler invoke the one function."""
    return _document(
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function_arn}
    )
