"""A stand-in for ``pulumi.automation.Stack``: records config writes and calls, emits events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pulumi.automation import ConfigValue, OpType, OutputValue
from pulumi.automation._cmd import CommandResult
from pulumi.automation.errors import CommandError
from pulumi.automation.events import EngineEvent, ResourcePreEvent, StepEventMetadata


def step(op: OpType, name: str, type_: str, diffs: list[str] | None = None) -> EngineEvent:
    urn = f"urn:pulumi:dev::headroom::headroom:infra:GroupCompute${type_}::{name}"
    meta = StepEventMetadata(op=op, urn=urn, type=type_, provider="", diffs=diffs)
    return EngineEvent(sequence=0, timestamp=0, resource_pre_event=ResourcePreEvent(metadata=meta))


def command_error(cls: type[CommandError], stderr: str) -> CommandError:
    return cls(CommandResult(stdout="", stderr=stderr, code=255))


@dataclass
class _Summary:
    resource_changes: dict[str, int]


@dataclass
class _UpResult:
    summary: _Summary
    outputs: dict[str, OutputValue]


@dataclass
class _PreviewResult:
    change_summary: dict[OpType, int]


@dataclass
class FakeStack:
    """Config in a dict; ``preview``/``up`` replay scripted events or raise a scripted error."""

    config: dict[str, ConfigValue] = field(default_factory=dict)
    preview_events: list[EngineEvent] = field(default_factory=list)
    up_events: list[EngineEvent] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    preview_error: Exception | None = None
    up_error: Exception | None = None
    calls: list[str] = field(default_factory=list)
    config_seen_by_preview: str | None = None

    def get_config(self, key: str, *, path: bool = False) -> ConfigValue:
        self.calls.append(f"get_config {key}")
        if key not in self.config:
            raise command_error(CommandError, f"configuration key '{key}' not found for stack")
        return self.config[key]

    def set_config(self, key: str, value: ConfigValue, *, path: bool = False) -> None:
        self.calls.append(f"set_config {key}")
        self.config[key] = value

    def remove_config(self, key: str, *, path: bool = False) -> None:
        self.calls.append(f"remove_config {key}")
        self.config.pop(key, None)

    def preview(self, *, on_event: Any = None) -> _PreviewResult:
        self.calls.append("preview")
        value = self.config.get("headroom:desiredState")
        self.config_seen_by_preview = value.value if value else None
        if self.preview_error:
            raise self.preview_error
        for event in self.preview_events:
            on_event(event)
        return _PreviewResult(change_summary={})

    def up(self, *, on_event: Any = None) -> _UpResult:
        self.calls.append("up")
        if self.up_error:
            raise self.up_error
        counts: dict[str, int] = {}
        for event in self.up_events:
            on_event(event)
            assert event.resource_pre_event is not None
            op = event.resource_pre_event.metadata.op.value
            counts[op] = counts.get(op, 0) + 1
        return _UpResult(
            summary=_Summary(resource_changes=counts),
            outputs={k: OutputValue(value=v, secret=False) for k, v in self.outputs.items()},
        )


T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
