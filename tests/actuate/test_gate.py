"""The re-check just before applying, and holding back commands scheduled for later."""

from __future__ import annotations

from datetime import timedelta

from infra.desired_state import DesiredState
from policies.schema import Safety
from reconciler.actuate.from_commands import desired_state_from
from reconciler.actuate.gate import gate
from reconciler.planning.models import Command, CommandKind, CommandStatus
from tests.actuate.fakes import T0
from tests.infra.samples import web_state

H = timedelta(hours=1)


def _cmd(kind: CommandKind, target: str, after: dict, **kw) -> Command:  # type: ignore[no-untyped-def, type-arg]
    return Command(kind=kind, target=target, before={}, after=after, reason="t", issued_at=T0, **kw)


def test_gate_holds_scheduled_unapproved_and_cooling_down_commands() -> None:
    safety = Safety(cooldowns={"scale": timedelta(minutes=30)})
    ready = _cmd(CommandKind.RESIZE, "i-1", {"instance_type": "m6i.xlarge"}, not_before=T0)
    later = _cmd(CommandKind.RESIZE, "i-2", {"instance_type": "m6i.xlarge"}, not_before=T0 + H)
    waiting = _cmd(
        CommandKind.ROUTING, "route53/app", {"weights": {}}, status=CommandStatus.NEEDS_APPROVAL
    )
    stale = _cmd(CommandKind.SCALE, "asg-1", {"desired": 4})
    newer = stale.model_copy(
        update={"issued_at": T0 + timedelta(minutes=10), "after": {"desired": 5}}
    )
    now = T0 + timedelta(minutes=15)
    ok, held = gate([ready, later, waiting, stale], safety, [stale, newer], now)
    assert ok == [ready]
    assert [(h.command.target, h.status) for h in held] == [
        ("i-2", "scheduled"),
        ("route53/app", "needs_approval"),
        ("asg-1", "skipped"),
    ]
    assert held[0].reason == f"scheduled for {(T0 + H).isoformat()}"
    assert "cooling down" in held[2].reason
    # at not_before the scheduled one goes
    ok, _ = gate([later], safety, [], T0 + H)
    assert ok == [later]


def test_gate_in_forecast_only_mode_applies_nothing() -> None:
    cmd = _cmd(CommandKind.SCALE, "asg-1", {"desired": 4})
    ok, held = gate([cmd], Safety(forecast_only=True), [], T0)
    assert ok == [] and [h.status for h in held] == ["planned"]


def test_fold_holds_back_a_command_scheduled_after_the_fold() -> None:
    previous = DesiredState.model_validate(web_state())
    soon = _cmd(CommandKind.RESIZE, "i-0aaa", {"instance_type": "m6in.xlarge"}, not_before=T0 + H)
    folded = desired_state_from(previous, [soon], generated_at=T0)
    assert folded.applied == []
    assert folded.not_applied == [(soon, f"scheduled for {(T0 + H).isoformat()}: not applied yet")]
    assert folded.state.groups[0].instances[0].instance_type == "m5.2xlarge"
    folded = desired_state_from(previous, [soon], generated_at=T0 + H)
    assert folded.applied == [soon]
