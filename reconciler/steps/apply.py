"""Apply step: the plan -> the Pulumi stack through the actuator, or a clear stop at the plan.

Every command is re-checked just before applying (``reconciler.actuate.gate``): one scheduled
for later stays ``scheduled`` (a later cycle applies it), one awaiting approval waits,
forecast-only policies record commands without applying. Pre-allocation records are the state
store's own and count as applied when they pass the re-check (not in a dry run). With no
actuator configured, or no Pulumi CLI on this machine, the cycle stops at the plan and says so.
A locked stack or a failed ``up`` fails the step, so the run keeps the previous allocation in
force and the next cycle converges. Each command's fate is in ``ApplyResult.outcomes``.
"""

from __future__ import annotations

from typing import Any

from reconciler.context import RunContext
from reconciler.logs import get_logger
from reconciler.steps.types import ApplyOutcome, ApplyResult, CommandOutcome, Plan

__all__ = ["run_apply"]

log = get_logger(__name__)


def run_apply(ctx: RunContext, plan: Plan) -> ApplyResult:
    if not plan.commands:
        return ApplyResult(ApplyOutcome.NOTHING_TO_DO, "the plan has no commands")
    from reconciler.actuate.gate import gate
    from reconciler.planning import Command, CommandKind

    policy: Any = ctx.policy
    now = ctx.clock.now()
    outcomes: dict[int, CommandOutcome] = {}
    commands: dict[int, Command] = {}
    for i, view in enumerate(plan.commands):
        if view.body:
            commands[i] = Command.model_validate(view.body)
        else:
            outcomes[i] = CommandOutcome("planned", "no command body: recorded only")
    position = {id(c): i for i, c in commands.items()}
    ready, held = gate(list(commands.values()), policy.safety, plan.history, now)
    for h in held:
        outcomes[position[id(h.command)]] = CommandOutcome(h.status, h.reason)
    stack = [c for c in ready if c.kind is not CommandKind.PREALLOCATE]
    for c in ready:
        if c.kind is CommandKind.PREALLOCATE:
            dry = "dry run: pre-allocation record not changed"
            outcomes[position[id(c)]] = CommandOutcome(
                *("planned", dry) if ctx.dry_run else ("applied", None)
            )

    def done(outcome: ApplyOutcome, message: str, **kw: Any) -> ApplyResult:
        for c in stack:
            outcomes.setdefault(position[id(c)], CommandOutcome("planned", message))
        ordered = tuple(outcomes[i] for i in range(len(plan.commands)))
        return ApplyResult(outcome, message, outcomes=ordered, **kw)

    if policy is not None and policy.safety.forecast_only:
        return done(
            ApplyOutcome.STOPPED_AT_PLAN, "forecast-only policy: commands recorded, nothing applied"
        )
    if not stack:
        return done(
            ApplyOutcome.NOTHING_TO_DO,
            f"no stack change is due ({len(held)} commands held back, "
            f"{len(ready)} pre-allocation records)",
        )
    if ctx.actuator is None:
        return done(ApplyOutcome.STOPPED_AT_PLAN, "no actuator configured: stopped at the plan")
    from reconciler.actuate.errors import PulumiCliMissing, find_pulumi_cli

    try:
        find_pulumi_cli(getattr(ctx.actuator, "which", None) or _which())
    except PulumiCliMissing as exc:
        return done(ApplyOutcome.STOPPED_AT_PLAN, f"stopped at the plan: {exc}")
    try:
        folded = _fold(ctx, stack)
        result = ctx.actuator.apply(folded.state, dry_run=ctx.dry_run)
    except PulumiCliMissing as exc:
        return done(ApplyOutcome.STOPPED_AT_PLAN, f"stopped at the plan: {exc}")
    for c, why in folded.not_applied:
        outcomes[position[id(c)]] = CommandOutcome("skipped", why)
    if folded.not_applied:
        log.info(
            "commands_not_in_stack",
            commands=[f"{c.kind} {c.target}: {why}" for c, why in folded.not_applied],
        )
    status = str(result.status)
    counts = {str(k): int(v) for k, v in result.counts.items()}
    if status in ("applied", "no_changes"):
        for c in folded.applied:
            outcomes[position[id(c)]] = CommandOutcome("applied", result.message)
        kind = ApplyOutcome.APPLIED if status == "applied" else ApplyOutcome.NOTHING_TO_DO
        return done(kind, result.message, changes=counts, raw=result)
    if status == "previewed":
        return done(ApplyOutcome.PREVIEWED, result.message, changes=counts, raw=result)
    raise RuntimeError(f"apply did not complete ({status}): {result.message}")


def _fold(ctx: RunContext, commands: list[Any]) -> Any:
    """The stack's current desired state with the ready commands folded in."""
    from infra.desired_state import DesiredState, parse_desired_state
    from reconciler.actuate.from_commands import desired_state_from

    current = ctx.actuator.current_desired_state(ctx.actuator.open())
    previous = (
        parse_desired_state(current, source="stack config")
        if current
        else DesiredState(schema_version=1)
    )
    return desired_state_from(previous, commands, generated_at=ctx.clock.now())


def _which() -> Any:
    import shutil

    return shutil.which
