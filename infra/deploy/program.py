"""The deployment program's body: read and check the config, declare, export.

A config or policy problem (a cron EventBridge cannot express included) raises before anything
is declared, so the stack is left as it was.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra.deploy.config import ROOT, load_config
from infra.deploy.deployment import (
    HeadroomDeployment,
    HeadroomDeploymentArgs,
    schedule_from_policy,
)

__all__ = ["main"]


def main() -> dict[str, Any]:
    """Entry point of ``infra/deploy/__main__.py``; returns the exported outputs."""
    config = load_config()
    expression, timezone = schedule_from_policy(ROOT, config)
    args = HeadroomDeploymentArgs(
        config=config,
        root=ROOT,
        stack=pulumi.get_stack(),
        schedule_expression=expression,
        schedule_timezone=timezone,
    )
    deployment = HeadroomDeployment("headroom", args)
    for key, value in deployment.outputs.items():
        pulumi.export(key, value)
    return deployment.outputs
