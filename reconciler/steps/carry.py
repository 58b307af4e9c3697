"""Commands of earlier cycles still waiting: scheduled for later, awaiting or given approval.

Each cycle sets them against what the planner proposes now (before its guards):

* nothing proposed for the target any more: the change is no longer needed (skipped);
* a different change proposed: the waiting one is superseded (skipped), the new one goes on;
* the same change proposed: the waiting one stands (a scheduled or approved one is carried
  into this cycle's apply step, a pending approval keeps waiting) and the duplicate is dropped.

Only the newest waiting command per ``(kind, target)`` counts; older ones are superseded.
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


def _key(c: Command) -> Key:
    return (str(c.kind), c.target)


def resolve_pending(pending: Sequence[Any], proposed: Sequence[Command]) -> PendingResolution:
    """Decide the fate of ``pending`` (``CommandRecord``s, newest first) against ``proposed``."""
    wanted = {_key(c): c for c in proposed if not c.is_noop}
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
        now = wanted.get(key)
        if now is None:
            out.superseded.append(
                (
                    rec.id,
                    f"no longer needed: the newest plan proposes no {cmd.kind} of {cmd.target}",
                )
            )
        elif now.after != cmd.after:
            out.superseded.append((rec.id, f"superseded: the newest plan wants {now.after}"))
        else:
            out.duplicates.add(key)
            if rec.status in ("scheduled", "approved"):
                ready = cmd.model_copy(update={"status": CommandStatus.PROPOSED})
                out.carried.append(Carried(rec.id, ready, rec.status))
    return out
