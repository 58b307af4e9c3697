"""Least-privilege IAM policy generated from the AWS calls the code actually makes.

A static scan of the source: every ``.client("svc")`` literal names a service, and every method
call (or ``get_paginator("op")``) whose name is an operation of one of those services is a call
the code makes (a name several services share counts for the one the receiver is named after,
``elbv2.describe_tags``, when it is). The operations map to IAM actions (with the few S3
renames), and the policy is exactly those actions. ``docs/iam-policy.json`` is generated from
it and checked by a test, and an e2e test records the calls made against moto and checks each
is allowed.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
from botocore import xform_name

__all__ = [
    "DEFAULT_SCAN",
    "AwsCall",
    "generate_policy",
    "iam_action",
    "policy_actions",
    "render_policy",
    "scan_calls",
]

#: Code that runs in production against a real account (the sandbox and tests do not).
DEFAULT_SCAN: tuple[str, ...] = ("providers/aws", "reconciler/history", "reconciler/handler.py")

#: boto3 service name -> IAM action prefix, where the two differ from the signing name.
_PREFIX = {
    "cloudwatch": "cloudwatch",
    "elbv2": "elasticloadbalancing",
    "elb": "elasticloadbalancing",
}

#: API operations whose IAM action has another name.
_RENAMED = {
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "ListObjectVersions"): "ListBucketVersions",
    ("s3", "CreateMultipartUpload"): "PutObject",
    ("s3", "UploadPart"): "PutObject",
    ("s3", "CompleteMultipartUpload"): "PutObject",
    ("s3", "AbortMultipartUpload"): "AbortMultipartUpload",
    ("s3", "DeleteObjects"): "DeleteObject",
}

#: Methods of a boto3 client that are not API calls.
_NOT_CALLS = {"get_paginator", "get_waiter", "can_paginate", "close", "generate_presigned_url"}


@dataclass(frozen=True, order=True)
class AwsCall:
    """One AWS API operation the code calls, and where."""

    service: str
    operation: str
    where: str = ""


@cache
def _operations(service: str) -> dict[str, str]:
    """snake_case method name -> API operation name for a boto3 service."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(op): op for op in model.operation_names}


@cache
def _known_services() -> frozenset[str]:
    return frozenset(botocore.session.get_session().get_available_services())


def _service_literals(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("client", "resource", "_client", "make_client") or name.endswith("client"):
            for arg in [
                *node.args[:1],
                *(k.value for k in node.keywords if k.arg == "service_name"),
            ]:
                if (
                    isinstance(arg, ast.Constant)
                    and isinstance(arg.value, str)
                    and arg.value in _known_services()
                ):
                    found.add(arg.value)
    return found


def _tracked(root: Path) -> set[Path] | None:
    """Files git tracks under ``root`` (None outside a git checkout): the policy describes the
    committed code, not work in progress beside it."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {(root / p).resolve() for p in out.decode().split("\0") if p}


def _files(paths: Iterable[Path], only: set[Path] | None = None) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(p.rglob("*.py")))
        elif p.suffix == ".py" and p.exists():
            out.append(p)
    return [f for f in out if only is None or f.resolve() in only]


def scan_calls(
    paths: Iterable[Path], root: Path | None = None, *, only: set[Path] | None = None
) -> list[AwsCall]:
    """Every AWS operation called in the Python files under ``paths`` (sorted, deduplicated
    per file and line). Services come from the ``client("svc")`` literals across all files.
    ``only`` limits the scan to those files (e.g. the ones git tracks)."""
    files = _files(paths, only)
    trees: list[tuple[Path, ast.AST]] = []
    for f in files:
        try:
            trees.append((f, ast.parse(f.read_text(encoding="utf-8"), filename=str(f))))
        except SyntaxError as exc:
            raise ValueError(f"cannot scan {f} for AWS calls: {exc}") from exc
    services: set[str] = set()
    for _, tree in trees:
        services |= _service_literals(tree)
    ops_by_method: dict[str, list[tuple[str, str]]] = {}
    for svc in sorted(services):
        for method, op in _operations(svc).items():
            ops_by_method.setdefault(method, []).append((svc, op))

    calls: set[AwsCall] = set()
    for f, tree in trees:
        where_file = str(f.relative_to(root)) if root and f.is_relative_to(root) else str(f)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            method = node.func.attr
            if method in ("get_paginator", "can_paginate") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    method = arg.value
            elif method in _NOT_CALLS:
                continue
            for svc, op in _narrow(ops_by_method.get(method, []), node.func.value):
                calls.add(AwsCall(svc, op, f"{where_file}:{node.lineno}"))
    return sorted(calls)


def _narrow(candidates: list[tuple[str, str]], receiver: ast.expr) -> list[tuple[str, str]]:
    """Where several services share a method name (``describe_tags`` is EC2's and ELBv2's),
    keep the one the receiver is named after (``elbv2.describe_tags``); else keep them all."""
    if len(candidates) < 2:
        return candidates
    name = (
        receiver.id
        if isinstance(receiver, ast.Name)
        else receiver.attr
        if isinstance(receiver, ast.Attribute)
        else ""
    ).lower()
    named = [(svc, op) for svc, op in candidates if svc.replace("-", "_") == name]
    return named or candidates


def iam_action(service: str, operation: str) -> str:
    """The IAM action that allows calling ``operation`` of boto3 ``service``."""
    model = botocore.session.get_session().get_service_model(service)
    prefix = _PREFIX.get(service, model.signing_name or service)
    return f"{prefix}:{_RENAMED.get((service, operation), operation)}"


def policy_actions(calls: Iterable[AwsCall]) -> list[str]:
    return sorted({iam_action(c.service, c.operation) for c in calls})


def generate_policy(calls: Iterable[AwsCall]) -> dict[str, Any]:
    """An IAM policy document allowing exactly the actions the calls need, one statement per
    service so an operator can narrow ``Resource`` per service (buckets, log groups)."""
    by_prefix: dict[str, list[str]] = {}
    for action in policy_actions(calls):
        by_prefix.setdefault(action.split(":", 1)[0], []).append(action)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Headroom" + "".join(w.capitalize() for w in prefix.split("-")),
                "Effect": "Allow",
                "Action": actions,
                "Resource": "*",
            }
            for prefix, actions in sorted(by_prefix.items())
        ],
    }


def render_policy(root: Path, scan: Iterable[str] = DEFAULT_SCAN) -> str:
    """The policy JSON text for the code under ``root`` (what ``docs/iam-policy.json`` holds)."""
    calls = scan_calls([root / p for p in scan], root, only=_tracked(root))
    return json.dumps(generate_policy(calls), indent=2) + "\n"


def main() -> None:  # pragma: no cover - thin wrapper: python -m reconciler.iam [--write]
    import sys

    root = Path(__file__).resolve().parent.parent
    text = render_policy(root)
    if "--write" in sys.argv:
        (root / "docs").mkdir(exist_ok=True)
        (root / "docs" / "iam-policy.json").write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":  # pragma: no cover
    main()
