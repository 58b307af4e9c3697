"""Apply step: the plan -> the Pulumi stack through the actuator, or a clear stop at the plan.

Nothing to do when the plan is empty; forecast-only policies record commands without applying;
with no actuator configured, or no Pulumi CLI on this machine, the cycle stops at the plan and
says so (the commands are recorded as planned). A locked stack or a failed ``up`` fails the
step, so the run keeps the previous allocation in force and the next cycle converges.
"""

from __future__ import annotations

from typing import Any

from reconciler.context import RunContext
from reconciler.logs import get_logger
from reconciler.steps.types import ApplyOutcome, ApplyResult, Plan

__all__ = ["run_apply"]

log = get_logger(__name__)


def run_apply(ctx: RunContext, plan: Plan) -> ApplyResult:
    if not plan.commands:
        return ApplyResult(ApplyOutcome.NOTHING_TO_DO, "the plan has no commands")
    policy: Any = ctx.policy
    if policy is not None and policy.safety.forecast_only:
        return ApplyResult(
            ApplyOutcome.STOPPED_AT_PLAN,
            "forecast-only policy: commands recorded, nothing applied",
        )
    if ctx.actuator is None:
        return ApplyResult(
            ApplyOutcome.STOPPED_AT_PLAN, "no actuator configured: stopped at the plan"
        )
    from reconciler.actuate.errors import PulumiCliMissing, find_pulumi_cli

    try:
        find_pulumi_cli(getattr(ctx.actuator, "which", None) or _which())
    except PulumiCliMissing as exc:
        return ApplyResult(ApplyOutcome.STOPPED_AT_PLAN, f"stopped at the plan: {exc}")
    try:
        desired, not_applied = _fold(ctx, plan)
        result = ctx.actuator.apply(desired, dry_run=ctx.dry_run)
    except PulumiCliMissing as exc:
        return ApplyResult(ApplyOutcome.STOPPED_AT_PLAN, f"stopped at the plan: {exc}")
    if not_applied:
        log.info("commands_not_in_stack", commands=not_applied)
    status = str(result.status)
    counts = {str(k): int(v) for k, v in result.counts.items()}
    if status == "applied":
        return ApplyResult(ApplyOutcome.APPLIED, result.message, counts, raw=result)
    if status == "previewed":
        return ApplyResult(ApplyOutcome.PREVIEWED, result.message, counts, raw=result)
    if status == "no_changes":
        return ApplyResult(ApplyOutcome.NOTHING_TO_DO, result.message, counts, raw=result)
    raise RuntimeError(f"apply did not complete ({status}): {result.message}")


def _fold(ctx: RunContext, plan: Plan) -> tuple[Any, list[str]]:
    """The stack's current desired state with this plan's commands folded in."""
    from infra.desired_state import DesiredState, parse_desired_state
    from reconciler.actuate.from_commands import desired_state_from
    from reconciler.planning import Command

    current = ctx.actuator.current_desired_state(ctx.actuator.open())
    previous = (
        parse_desired_state(current, source="stack config")
        if current
        else DesiredState(schema_version=1)
    )
    commands = [Command.model_validate(c.body) for c in plan.commands if c.body]
    folded = desired_state_from(previous, commands, generated_at=ctx.clock.now())
    return folded.state, [f"{c.kind} {c.target}: {why}" for c, why in folded.not_applied]


def _which() -> Any:
    import shutil

    return shutil.which
