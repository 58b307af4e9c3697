"""Apply step: the fleet as observed + the plan -> the desired state -> the Pulumi stack.

The desired state is built every cycle (``reconciler.actuate.observed``): the fleet as the
provider reports it now, laid out by this cycle's groups, each group's bandwidth tier carrying
its grant from the allocator (rate, ceiling, priority), every resource with its import id; the
ready commands are folded into it. It is the step's result (``ApplyResult.desired``) whether or
not it can be applied: with the Pulumi CLI absent it is what ``pulumi up`` would apply.

Every command is re-checked just before applying (``reconciler.actuate.gate``): one scheduled
for later stays ``scheduled`` (a later cycle applies it), one awaiting approval waits,
forecast-only policies record commands without applying. A pre-allocation holds capacity
reservations (folded into the desired state like any change); one without them (no zone or
type known) is the state store's record only and counts as applied when it passes the re-check
(not in a dry run). With no
actuator configured, or no Pulumi CLI on this machine, the cycle stops at the plan and says so.
A locked stack or a failed ``up`` fails the step, so the run keeps the previous allocation in
force and the next cycle converges. Each command's fate is in ``ApplyResult.outcomes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from infra.desired_state import DesiredState, parse_desired_state
from providers.models import Resource, ScalingGroup
from reconciler.actuate.bandwidth import BandwidthBook, group_rates, restated_tiers
from reconciler.actuate.from_commands import FoldResult, desired_state_from
from reconciler.actuate.observed import ObservedGroup, observed_state
from reconciler.context import RunContext
from reconciler.logs import get_logger
from reconciler.planning import Command, CommandKind
from reconciler.steps.types import (
    Allocation,
    ApplyOutcome,
    ApplyResult,
    CommandOutcome,
    GroupSet,
    Plan,
)

__all__ = ["run_apply"]

log = get_logger(__name__)


def run_apply(
    ctx: RunContext,
    plan: Plan,
    groups: GroupSet,
    allocation: Allocation,
    inventory: Sequence[Resource],
    scaling: Sequence[ScalingGroup] = (),
    *,
    base: DesiredState | None = None,
) -> ApplyResult:
    """Gate the plan's commands, build the desired state and put it on the stack (or stop at the
    plan). ``base``: fold into this desired state (restating its bandwidth tiers from
    ``allocation``) instead of the fleet as observed: remediation acting after the apply step
    starts from what the apply step produced."""
    from reconciler.actuate.gate import gate

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
    # a pre-allocation without capacity reservations is a state-store record only
    record_only = [
        c for c in ready if c.kind is CommandKind.PREALLOCATE and "reservations" not in c.after
    ]
    stack = [c for c in ready if not any(c is r for r in record_only)]
    for c in record_only:
        dry = "dry run: pre-allocation record not changed"
        outcomes[position[id(c)]] = CommandOutcome(
            *("planned", dry) if ctx.dry_run else ("applied", None)
        )

    stack_config, why_not = _stack_config(ctx, policy)
    previous = parse_desired_state(stack_config, source="stack config") if stack_config else None
    folded = _desired(ctx, plan, groups, allocation, inventory, scaling, previous, stack, base)
    notes = folded.notes

    def done(outcome: ApplyOutcome, message: str, **kw: Any) -> ApplyResult:
        for c in stack:
            outcomes.setdefault(position[id(c)], CommandOutcome("planned", message))
        ordered = tuple(outcomes[i] for i in range(len(plan.commands)))
        return ApplyResult(
            outcome, message, outcomes=ordered, desired=folded.fold.state, notes=notes, **kw
        )

    if why_not is not None:
        return done(ApplyOutcome.STOPPED_AT_PLAN, why_not)
    for c, why in folded.fold.not_applied:
        outcomes[position[id(c)]] = CommandOutcome("skipped", why)
    if folded.fold.not_applied:
        log.info(
            "commands_not_in_stack",
            commands=[f"{c.kind} {c.target}: {why}" for c, why in folded.fold.not_applied],
        )
    if not folded.fold.applied and previous is not None and _same(previous, folded.fold.state):
        return done(
            ApplyOutcome.NOTHING_TO_DO,
            f"the stack already declares the desired state ({len(held)} commands held back)",
        )
    from reconciler.actuate.errors import PulumiCliMissing

    actuator = ctx.actuator
    assert actuator is not None  # _stack_config said it can apply
    try:
        result = actuator.apply(folded.fold.state, dry_run=ctx.dry_run)
    except PulumiCliMissing as exc:
        return done(ApplyOutcome.STOPPED_AT_PLAN, f"stopped at the plan: {exc}")
    status = str(result.status)
    counts = {str(k): int(v) for k, v in result.counts.items()}
    if status in ("applied", "no_changes"):
        for c in folded.fold.applied:
            outcomes[position[id(c)]] = CommandOutcome("applied", result.message)
        kind = ApplyOutcome.APPLIED if status == "applied" else ApplyOutcome.NOTHING_TO_DO
        return done(kind, result.message, changes=counts, actuation=result)
    if status == "previewed":
        return done(ApplyOutcome.PREVIEWED, result.message, changes=counts, actuation=result)
    raise RuntimeError(f"apply did not complete ({status}): {result.message}")


@dataclass(frozen=True)
class _Folded:
    """The desired state with this cycle's ready commands folded in, and the builder's notes."""

    fold: FoldResult
    notes: tuple[str, ...]


def _stack_config(ctx: RunContext, policy: Any) -> tuple[str | None, str | None]:
    """The stack's current desired state (None when there is none), and why nothing can be
    applied this cycle (None when the actuator can apply)."""
    if policy is not None and policy.safety.forecast_only:
        return None, "forecast-only policy: commands recorded, nothing applied"
    actuator = ctx.actuator
    if actuator is None:
        return None, "no actuator configured: stopped at the plan"
    from reconciler.actuate.errors import PulumiCliMissing, find_pulumi_cli

    try:
        find_pulumi_cli(getattr(actuator, "which", None) or _which())
        current = actuator.current_desired_state(actuator.open())
    except PulumiCliMissing as exc:
        return None, f"stopped at the plan: {exc}"
    return (str(current) if current else None), None


def _desired(
    ctx: RunContext,
    plan: Plan,
    groups: GroupSet,
    allocation: Allocation,
    inventory: Sequence[Resource],
    scaling: Sequence[ScalingGroup],
    previous: DesiredState | None,
    stack: list[Command],
    base: DesiredState | None = None,
) -> _Folded:
    """The fleet as observed, laid out by ``groups`` with their grants, commands folded in."""
    now = ctx.clock.now()
    capacity = {p.pool_id: p.capacity_gbps for p in allocation.pools}
    rates = group_rates(allocation.result, allocation.groups, capacity)
    book = BandwidthBook.of(rates, ctx.policy, plan.tiers_in_force, previous)
    notes: tuple[str, ...] = ()
    if base is not None:
        start = restated_tiers(base, (g.id for g in groups.groups), book)
    else:
        observed = observed_state(
            inventory,
            scaling,
            [ObservedGroup(g.id, g.members, book.spec(g.id)) for g in groups.groups],
            previous=previous,
            generated_at=now,
        )
        start, notes = observed.state, observed.notes
    fold = desired_state_from(
        start, stack, generated_at=now, tier_for=lambda gid, name: book.spec(gid, name)
    )
    return _Folded(fold, notes)


def _same(a: DesiredState, b: DesiredState) -> bool:
    """Whether two desired states declare the same things (the time they were made aside)."""
    return a.model_copy(update={"generated_at": None}) == b.model_copy(
        update={"generated_at": None}
    )


def _which() -> Any:
    import shutil

    return shutil.which
