"""The actuator against a fake stack: config writing, preview/up order, dry run, lock, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi.automation import ConfigValue, OpType
from pulumi.automation.errors import CommandError, ConcurrentUpdateError

from infra.desired_state import DesiredState, parse_desired_state
from reconciler.actuate import (
    DESIRED_STATE_KEY,
    ActuationStatus,
    Actuator,
    ActuatorError,
    PulumiCliMissing,
    StackTarget,
    find_pulumi_cli,
    open_local_stack,
)
from reconciler.clock import SimulatedClock
from tests.actuate.fakes import T0, FakeStack, command_error, step
from tests.infra.harness import run_program
from tests.infra.samples import minimal_state, web_state

INSTANCE = "aws:ec2/instance:Instance"


@pytest.fixture
def desired() -> DesiredState:
    return DesiredState.model_validate(web_state())


def make(tmp_path: Path, stack: FakeStack) -> Actuator:
    target = StackTarget("dev", tmp_path, tmp_path / "state")
    return Actuator(target, SimulatedClock(T0), stack_factory=lambda _t: stack)


def test_apply_writes_config_then_previews_then_ups(tmp_path: Path, desired: DesiredState) -> None:
    stack = FakeStack(
        preview_events=[
            step(OpType.UPDATE, "web-1", INSTANCE, ["instanceType"]),
            step(OpType.SAME, "web-db", INSTANCE),
        ],
        up_events=[step(OpType.UPDATE, "web-1", INSTANCE, ["instanceType"])],
        outputs={"instanceTypes": {"web-1": "m5.2xlarge"}},
    )
    result = make(tmp_path, stack).apply(desired)
    assert stack.calls == [
        f"get_config {DESIRED_STATE_KEY}",
        f"set_config {DESIRED_STATE_KEY}",
        "preview",
        "up",
    ]
    written = stack.config[DESIRED_STATE_KEY]
    assert not written.secret
    assert parse_desired_state(written.value, source="config") == desired
    assert stack.config_seen_by_preview == written.value
    assert result.status is ActuationStatus.APPLIED
    assert [(c.name, c.op, c.diffs) for c in result.applied] == [
        ("web-1", "update", ("instanceType",))
    ]
    assert [c.name for c in result.preview] == ["web-1"]  # "same" is not a change
    assert result.counts == {"update": 1}
    assert result.outputs == {"instanceTypes": {"web-1": "m5.2xlarge"}}
    assert result.started_at == T0 and result.summary()["status"] == "applied"


def test_written_config_is_what_the_program_reads(tmp_path: Path, desired: DesiredState) -> None:
    stack = FakeStack(preview_events=[step(OpType.CREATE, "x", INSTANCE)])
    make(tmp_path, stack).apply(desired, dry_run=False)
    run = run_program(stack.config[DESIRED_STATE_KEY].value)
    assert run.outputs["instanceTypes"]["web-1"] == "m5.2xlarge"
    assert run.outputs["routingWeights"]["api"] == {
        "us-east-1": 68,
        "eu-west-1": 22,
        "ap-southeast-2": 10,
    }


def test_dry_run_stops_after_preview_and_restores_config(tmp_path: Path) -> None:
    old = DesiredState.model_validate(minimal_state()).model_dump_json()
    stack = FakeStack(
        config={DESIRED_STATE_KEY: ConfigValue(value=old)},
        preview_events=[step(OpType.UPDATE, "web-1", INSTANCE, ["instanceType"])],
    )
    result = make(tmp_path, stack).apply(DesiredState.model_validate(web_state()), dry_run=True)
    assert "up" not in stack.calls
    assert result.status is ActuationStatus.PREVIEWED
    assert result.counts == {"update": 1}
    assert json.loads(stack.config_seen_by_preview or "")["groups"][0]["id"] == "web"
    assert stack.config[DESIRED_STATE_KEY].value == old  # a manual `pulumi up` sees the old one


def test_dry_run_on_a_fresh_stack_removes_the_key(tmp_path: Path, desired: DesiredState) -> None:
    stack = FakeStack()
    make(tmp_path, stack).apply(desired, dry_run=True)
    assert stack.calls[-1] == f"remove_config {DESIRED_STATE_KEY}"
    assert DESIRED_STATE_KEY not in stack.config


def test_locked_stack_is_a_clear_result(tmp_path: Path, desired: DesiredState) -> None:
    stack = FakeStack(
        preview_events=[step(OpType.UPDATE, "web-1", INSTANCE)],
        up_error=command_error(
            ConcurrentUpdateError, "error: the stack is currently locked by 1 lock(s)"
        ),
    )
    result = make(tmp_path, stack).apply(desired)
    assert result.status is ActuationStatus.LOCKED
    assert "stack dev is locked by another update" in result.message
    assert result.applied == ()
    assert DESIRED_STATE_KEY not in stack.config


def test_engine_failure_keeps_stderr_tail(tmp_path: Path, desired: DesiredState) -> None:
    stack = FakeStack(
        preview_error=command_error(CommandError, "error: AccessDenied: ec2:DescribeInstances")
    )
    result = make(tmp_path, stack).apply(desired)
    assert result.status is ActuationStatus.FAILED
    assert "AccessDenied: ec2:DescribeInstances" in result.message
    assert "up" not in stack.calls


def test_no_changes_skips_up(tmp_path: Path, desired: DesiredState) -> None:
    stack = FakeStack(preview_events=[step(OpType.SAME, "web-1", INSTANCE)])
    result = make(tmp_path, stack).apply(desired)
    assert result.status is ActuationStatus.NO_CHANGES
    assert "up" not in stack.calls
    assert DESIRED_STATE_KEY in stack.config


def test_cli_missing_is_a_clear_error_not_a_traceback(
    tmp_path: Path, desired: DesiredState
) -> None:
    target = StackTarget("dev", tmp_path, tmp_path / "state")
    actuator = Actuator(target, SimulatedClock(T0), which=lambda _name: None)
    with pytest.raises(PulumiCliMissing) as err:
        actuator.apply(desired)
    message = str(err.value)
    assert "curl -fsSL https://get.pulumi.com | sh" in message
    assert "pulumi.com/docs" in message
    with pytest.raises(PulumiCliMissing):
        open_local_stack(target, which=lambda _name: None)
    with pytest.raises(PulumiCliMissing):
        find_pulumi_cli(lambda _name: None)
    assert find_pulumi_cli(lambda name: f"/opt/bin/{name}") == "/opt/bin/pulumi"


def test_project_dir_without_pulumi_yaml(tmp_path: Path) -> None:
    target = StackTarget("dev", tmp_path, tmp_path / "state")
    with pytest.raises(ActuatorError, match="has no Pulumi.yaml"):
        open_local_stack(target, which=lambda name: f"/opt/bin/{name}")


def test_backend_defaults_to_state_folder(tmp_path: Path) -> None:
    local = StackTarget("dev", tmp_path, tmp_path / "state")
    assert local.backend == (tmp_path / "state").resolve().as_uri()
    assert local.backend.startswith("file:///")
    remote = StackTarget("prod", tmp_path, tmp_path / "state", backend_url="s3://bucket/headroom")
    assert remote.backend == "s3://bucket/headroom"
