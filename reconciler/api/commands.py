"""Routes for planned commands: list them by status, approve one awaiting approval.

Commands of the kinds listed in the policy's ``safety.needs_approval`` are recorded with status
``needs_approval``; ``POST /commands/{id}/approve`` (write scope) makes them ``approved`` and the
next cycle applies them, after re-checking them (cooldown, schedule) just before applying.
Only commands of runs that succeeded (not failed, killed or dry runs) are listed and can be
approved: no cycle would apply the others.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from reconciler.api.auth import require_scope
from reconciler.api.deps import ApiContext
from reconciler.api.fields import CommandIdPath
from reconciler.state import CommandRecord, CommandStateError, NotFoundError
from reconciler.state.models import COMMAND_STATUSES

__all__ = ["CommandOut", "router"]

router = APIRouter()


class CommandOut(BaseModel):
    """A planned change and what became of it."""

    model_config = ConfigDict(frozen=True)

    id: int
    run_id: str | None
    kind: str
    target: str
    status: str = Field(description=f"one of {', '.join(COMMAND_STATUSES)}")
    before: Any = None
    after: Any = None
    reason: str
    outcome: str | None = None
    not_before: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, c: CommandRecord) -> CommandOut:
        body = (c.evidence or {}).get("command") or {}
        return cls(
            id=c.id or 0,
            run_id=c.run_id,
            kind=c.kind,
            target=c.target,
            status=c.status,
            before=c.before,
            after=c.after,
            reason=c.reason,
            outcome=c.outcome,
            not_before=body.get("not_before"),
            created_at=c.created_at,
            updated_at=c.updated_at,
        )


def _ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


@router.get(
    "/commands",
    response_model=list[CommandOut],
    dependencies=[Depends(require_scope("read"))],
    tags=["commands"],
)
def list_commands(
    request: Request,
    status_: Annotated[
        list[str] | None, Query(alias="status", description="Only these statuses (repeatable).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CommandOut]:
    """Recent commands, newest first (``?status=needs_approval`` for the approval queue)."""
    wanted = status_ or []
    unknown = sorted(set(wanted) - set(COMMAND_STATUSES))
    if unknown:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[
                {
                    "field": "query.status",
                    "reason": f"unknown status {', '.join(unknown)}; "
                    f"one of {', '.join(COMMAND_STATUSES)}",
                }
            ],
        )
    records = _ctx(request).store.list_commands(wanted, limit=limit)
    return [CommandOut.of(c) for c in records]


@router.post(
    "/commands/{command_id}/approve",
    response_model=CommandOut,
    tags=["commands"],
    responses={
        404: {"description": "no command with this id"},
        409: {
            "description": "the command is not awaiting approval, or its run failed, was "
            "killed or was a dry run (no cycle would apply it)"
        },
    },
)
def approve_command(
    command_id: CommandIdPath,
    request: Request,
    token: Annotated[Any, Depends(require_scope("write"))],
) -> CommandOut:
    """Approve a command awaiting approval from a run that succeeded; the next cycle applies it
    (after a re-check)."""
    ctx = _ctx(request)
    who = f"token {token.id} ({token.name})"
    try:
        record = ctx.store.approve_command(command_id, ctx.clock.now(), by=who)
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except CommandStateError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return CommandOut.of(record)
