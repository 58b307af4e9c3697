"""Run the deployment program (``infra/deploy/__main__.py``) under Pulumi mocks.

Through ``harness.run_main``, with what the deployment needs besides: resources answer with an
``arn`` (and the other attributes the program reads back), ``aws.get_region`` answers, every
provider function call is recorded, and each resource's ``retain_on_delete`` is kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.sync_await import _sync_await

from tests.infra.harness import Declared, ProgramRun, run_main

MAIN = Path(__file__).resolve().parents[2] / "infra" / "deploy" / "__main__.py"
PROJECT = "headroom-deploy"
REGION = "us-east-1"
ACCOUNT = "123456789012"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:headroom/database-AbCdEf"


def base_config(**overrides: Any) -> dict[str, Any]:
    """A complete stack config: image tag, VPC, API service."""
    config: dict[str, Any] = {
        "databaseSecretArn": SECRET_ARN,
        "imageTag": "abc1234",
        "vpcId": "vpc-0123",
        "subnetIds": ["subnet-a", "subnet-b"],
        "albIngressCidrs": ["10.0.0.0/8"],
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


def _state(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    """What the cloud would answer besides the inputs: ARNs, generated names, URLs."""
    state = dict(args.inputs)
    service = args.typ.split(":")[1].split("/")[0]
    state.setdefault("arn", f"arn:aws:{service}:{REGION}:{ACCOUNT}:{args.name}")
    if args.typ == "aws:s3/bucket:Bucket":
        state["bucket"] = f"{args.inputs['bucketPrefix']}0001"
        state["arn"] = f"arn:aws:s3:::{state['bucket']}"
    if args.typ == "aws:ecr/repository:Repository":
        state["repositoryUrl"] = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{args.name}"
    if args.typ == "aws:lb/loadBalancer:LoadBalancer":
        state["dnsName"] = f"{args.name}.{REGION}.elb.amazonaws.com"
    state.setdefault("name", args.name)
    return state


@dataclass
class DeployMocks(pulumi.runtime.Mocks):
    declared: list[Declared] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.declared.append(Declared(args.typ, args.name, dict(args.inputs), None))
        return f"{args.name}-id", _state(args)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        self.calls.append((args.token, dict(args.args)))
        if args.token == "aws:index/getRegion:getRegion":
            return {"region": REGION, "name": REGION, "id": REGION}, []
        return {}, []


class RetainRecordingMonitor(pulumi_mocks.MockMonitor):
    """Keeps each resource's ``retain_on_delete`` (the mocks are not told it)."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.retained: dict[str, bool] = {}

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method, by its name
        self.retained[request.name] = bool(request.retainOnDelete)
        return super().RegisterResource(request)


@dataclass
class DeployRun(ProgramRun):
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    retained: dict[str, bool] = field(default_factory=dict)

    def policy(self, name_suffix: str) -> dict[str, Any]:
        """The JSON document of the one inline role policy whose name ends with the suffix."""
        (found,) = [
            d for d in self.of_type("aws:iam/rolePolicy:RolePolicy") if d.name.endswith(name_suffix)
        ]
        document: dict[str, Any] = json.loads(found.inputs["policy"])
        return document


def run_deploy(config: dict[str, Any]) -> DeployRun:
    """Run the deployment with ``config`` (keys without the namespace); raises ``ProgramFailed``."""
    full = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    mocks = DeployMocks()
    monitor = RetainRecordingMonitor(mocks)
    result = run_main(MAIN, full, project=PROJECT, mocks=mocks, monitor=monitor)
    outputs = {k: _resolved(v) for k, v in result.get("outputs", {}).items()}
    return DeployRun(
        declared=mocks.declared, outputs=outputs, calls=mocks.calls, retained=monitor.retained
    )


def _resolved(value: Any) -> Any:
    if isinstance(value, pulumi.Output):
        return _sync_await(value.future())
    return value
