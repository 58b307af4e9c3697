"""Guards between proposing and applying: no no-ops, no flapping, bounded change per cycle.

Order: drop no-ops; hold back changes below the minimum (capacity decreases, routing and records
only: a needed increase is never held back for being small); hold back targets still cooling
down; fit the rest into the per-cycle budget (largest increases first, a scale-out is clipped to
what is left rather than dropped; with ``safety.budget_scale_outs`` false scale-outs pass
outside the budget); finally mark forecast-only and approval-needing commands.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from policies.schema import Safety
from reconciler.planning.models import Command, CommandKind, CommandStatus, SkippedCommand

__all__ = ["apply_guards", "is_increase", "recheck", "relative_change"]


def _num(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def relative_change(cmd: Command) -> float:
    """How big a change is, as a fraction (1.0 for a categorical change such as a type)."""
    if cmd.kind == CommandKind.SCALE:
        b, a = _num(cmd.before.get("desired")), _num(cmd.after.get("desired"))
        return abs(a - b) / max(b, 1.0)
    if cmd.kind == CommandKind.EDGE_CACHE:
        b, a = _num(cmd.before.get("nodes")), _num(cmd.after.get("nodes"))
        return abs(a - b) / max(b, 1.0)
    if cmd.kind == CommandKind.ROUTING:
        before, after = cmd.before.get("weights", {}), cmd.after.get("weights", {})
        top = max([*after.values(), *before.values(), 1])
        return max((abs(after[r] - before.get(r, 0)) / top for r in after), default=0.0)
    if cmd.kind == CommandKind.PREALLOCATE:
        # the metrics' records; a change of capacity reservations is categorical
        changes = [
            1.0 if k not in cmd.before else abs(v - cmd.before[k]) / max(abs(cmd.before[k]), 1e-9)
            for k, v in cmd.after.items()
            if isinstance(v, int | float)
        ]
        if cmd.after.get("reservations", []) != cmd.before.get("reservations", []):
            changes.append(1.0)
        return max(changes, default=0.0)
    return 1.0


def is_increase(cmd: Command) -> bool:
    """True when a command adds capacity (scale-out, upsizing, more cache nodes, a record up)."""
    return cmd.increase


def _last_issued(history: Sequence[Command]) -> dict[tuple[str, str], datetime]:
    last: dict[tuple[str, str], datetime] = {}
    for c in history:
        key = (str(c.kind), c.target)
        if key not in last or c.issued_at > last[key]:
            last[key] = c.issued_at
    return last


def apply_guards(
    commands: Sequence[Command],
    safety: Safety,
    history: Sequence[Command],
    now: datetime,
    fleet_size: int,
) -> tuple[list[Command], list[SkippedCommand]]:
    """Commands that survive the guards, and those held back with the reason."""
    skipped: list[SkippedCommand] = []
    live: list[Command] = []
    last = _last_issued(history)
    for cmd in commands:
        if cmd.is_noop:
            continue
        change = relative_change(cmd)
        if not is_increase(cmd) and change < safety.min_change_fraction:
            skipped.append(
                SkippedCommand(
                    command=cmd,
                    reason=f"change of {change:.0%} is below the minimum "
                    f"{safety.min_change_fraction:.0%}",
                )
            )
            continue
        cooldown = safety.cooldown_for(str(cmd.kind))
        prev = last.get((str(cmd.kind), cmd.target))
        if prev is not None and now - prev < cooldown:
            skipped.append(
                SkippedCommand(
                    command=cmd,
                    reason=f"cooling down: last {cmd.kind} of {cmd.target} at "
                    f"{prev.isoformat()}, cooldown {cooldown}",
                )
            )
            continue
        live.append(cmd)
    budget = min(
        safety.max_resources_changed, max(1, math.floor(safety.max_fraction_changed * fleet_size))
    )
    kept: list[Command] = []
    for cmd in sorted(live, key=lambda c: (not is_increase(c), -c.urgency, str(c.kind), c.target)):
        if not safety.budget_scale_outs and cmd.kind == CommandKind.SCALE and is_increase(cmd):
            kept.append(cmd)  # adds instances, touches none that serve: bounded by max_count
        elif cmd.resources_changed <= budget:
            budget -= cmd.resources_changed
            kept.append(cmd)
        elif cmd.kind == CommandKind.SCALE and is_increase(cmd) and budget > 0:
            before = int(_num(cmd.before["desired"]))
            clipped = cmd.model_copy(
                update={
                    "after": {"desired": before + budget},
                    "resources_changed": budget,
                    "reason": cmd.reason + f"; clipped to +{budget} by the per-cycle budget",
                }
            )
            budget = 0
            kept.append(clipped)
        else:
            skipped.append(
                SkippedCommand(
                    command=cmd,
                    reason=f"per-cycle budget used up (changes {cmd.resources_changed} resources)",
                )
            )
    return [_status(c, safety) for c in kept], skipped


def _status(cmd: Command, safety: Safety) -> Command:
    if safety.forecast_only:
        return cmd.model_copy(update={"status": CommandStatus.RECORDED})
    if str(cmd.kind) in safety.needs_approval:
        return cmd.model_copy(update={"status": CommandStatus.NEEDS_APPROVAL})
    return cmd


def recheck(cmd: Command, safety: Safety, history: Sequence[Command], now: datetime) -> str | None:
    """Re-check a planned command just before applying it; the reason it must wait, or None.

    Catches what changed since planning: another command on the same target went out (cooldown),
    the command is scheduled for later (``not_before``), it needs approval, or the policy is in
    forecast-only mode.
    """
    if safety.forecast_only or cmd.status == CommandStatus.RECORDED:
        return "forecast-only: recorded, not applied"
    if cmd.status == CommandStatus.NEEDS_APPROVAL:
        return f"{cmd.kind} needs approval"
    if cmd.not_before is not None and now < cmd.not_before:
        return f"scheduled for {cmd.not_before.isoformat()}"
    others = [c for c in history if c is not cmd and c.issued_at > cmd.issued_at]
    prev = _last_issued(others).get((str(cmd.kind), cmd.target))
    if prev is not None and now - prev < safety.cooldown_for(str(cmd.kind)):
        return f"{cmd.target} changed at {prev.isoformat()} after this plan; cooling down"
    return None
