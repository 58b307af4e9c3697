"""The last check before applying: ``reconciler.planning.guards.recheck`` on every command.

A command that must wait is held back with the status the state store keeps it under:
``scheduled`` until its ``not_before`` (a later cycle at or after that time applies it),
``needs_approval`` until a person approves it, ``planned`` when the policy is forecast-only,
``skipped`` when another change to its target went out since it was planned (cooldown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from policies.schema import Safety
from reconciler.planning import Command, CommandStatus, recheck

__all__ = ["Held", "gate"]


@dataclass(frozen=True)
class Held:
    command: Command
    status: str
    reason: str


def _status(cmd: Command, safety: Safety, now: datetime) -> str:
    """The store status for a command ``recheck`` held back (its checks, in its order)."""
    if safety.forecast_only or cmd.status == CommandStatus.RECORDED:
        return "planned"
    if cmd.status == CommandStatus.NEEDS_APPROVAL:
        return "needs_approval"
    if cmd.not_before is not None and now < cmd.not_before:
        return "scheduled"
    return "skipped"


def gate(
    commands: Sequence[Command], safety: Safety, history: Sequence[Command], now: datetime
) -> tuple[list[Command], list[Held]]:
    """Commands ready to apply now, and those held back with their status and reason."""
    ready: list[Command] = []
    held: list[Held] = []
    for cmd in commands:
        why = recheck(cmd, safety, history, now)
        if why is None:
            ready.append(cmd)
        else:
            held.append(Held(cmd, _status(cmd, safety, now), why))
    return ready, held
