"""Commands of earlier cycles still waiting: scheduled for later, awaiting or given approval.

Each cycle sets them against what the planner proposes now, and what of that survives its
guards (cooldowns, minimum change, the per-cycle budget):

* nothing proposed for the target any more: the change is no longer needed (skipped);
* the guarded plan has a different change for the target: the waiting one is superseded
  (skipped), the new one goes on;
* the guarded plan has the same change (the same ``after``, budget clipping included): the
  waiting one stands (a scheduled or approved one is carried into this cycle's apply step, a
  pending approval keeps waiting) and the duplicate is dropped;
* a change is proposed but the guards hold it back this cycle: the waiting one is kept as it
  is (neither carried nor superseded), so a replacement that cannot go on never drops it.

Only the newest waiting command per ``(kind, target)`` counts; older ones are superseded.
Waiting commands are not in the cooldown history (they never went out), so they never hold
back their own replacement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.planning import Command, CommandStatus

__all__ = ["Carried", "PendingResolution", "resolve_pending"]

Key = tuple[str, str]


@dataclass(frozen=True)
class Carried:
    """A stored command this cycle's apply step takes up (``status``: its stored status)."""

    id: int
    command: Command
    status: str


@dataclass(frozen=True)
class PendingResolution:
    carried: list[Carried] = field(default_factory=list)
    superseded: list[tuple[int, str]] = field(default_factory=list)  # (id, reason)
    duplicates: set[Key] = field(default_factory=set)  # new commands the waiting ones cover
    kept: list[tuple[int, str]] = field(default_factory=list)  # (id, why it still waits)


def _key(c: Command) -> Key:
    return (str(c.kind), c.target)


def resolve_pending(
    pending: Sequence[Any], proposed: Sequence[Command], guarded: Sequence[Command]
) -> PendingResolution:
    """Decide the fate of ``pending`` (``CommandRecord``s, newest first) against ``proposed``
    (the planner's commands before its guards) and ``guarded`` (those that survived them)."""
    wanted = {_key(c) for c in proposed if not c.is_noop}
    going = {_key(c): c for c in guarded if not c.is_noop}
    out = PendingResolution()
    seen: dict[Key, int] = {}
    for rec in pending:
        body = (rec.evidence or {}).get("command")
        if rec.id is None or not body:
            continue
        cmd = Command.model_validate(body)
        key = _key(cmd)
        if key in seen:
            out.superseded.append((rec.id, f"superseded by command {seen[key]}"))
            continue
        seen[key] = rec.id
        now = going.get(key)
        if key not in wanted:
            out.superseded.append(
                (
                    rec.id,
                    f"no longer needed: the newest plan proposes no {cmd.kind} of {cmd.target}",
                )
            )
        elif now is None:
            out.kept.append((rec.id, f"the newest plan's {cmd.kind} of {cmd.target} is held back"))
        elif now.after != cmd.after:
            out.superseded.append((rec.id, f"superseded: the newest plan wants {now.after}"))
        else:
            out.duplicates.add(key)
            if rec.status in ("scheduled", "approved"):
                ready = cmd.model_copy(update={"status": CommandStatus.PROPOSED})
                out.carried.append(Carried(rec.id, ready, rec.status))
    return out
