"""Run the real Pulumi program (``infra/__main__.py``) under ``pulumi.runtime.set_mocks``.

Each run gets a fresh root stack, fresh config and a fresh mock monitor, so several desired
states can be run in one process.
"""

from __future__ import annotations

import asyncio
import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

MAIN = Path(__file__).resolve().parents[2] / "infra" / "__main__.py"


@dataclass
class Declared:
    type: str
    name: str
    inputs: dict[str, Any]
    import_id: str | None
    urn: str = ""
    retain_on_delete: bool = False
    ignore_changes: tuple[str, ...] = ()


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    declared: list[Declared] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        import_id = args.resource_id or None  # the monitor passes '' when there is no import
        self.declared.append(Declared(args.typ, args.name, dict(args.inputs), import_id))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


class OptionsMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that also keeps each resource's options (the mocks see inputs only)."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.options: dict[str, tuple[bool, tuple[str, ...]]] = {}

    def RegisterResource(self, request: Any) -> Any:
        self.options[request.name] = (bool(request.retainOnDelete), tuple(request.ignoreChanges))
        return super().RegisterResource(request)


@dataclass
class ProgramRun:
    declared: list[Declared]
    outputs: dict[str, Any]

    def of_type(self, type_: str) -> list[Declared]:
        return [d for d in self.declared if d.type == type_]

    def named(self, name: str) -> Declared:
        (found,) = [d for d in self.declared if d.name == name]
        return found


class ProgramFailed(Exception):
    """The program raised; ``declared`` holds whatever it declared before raising."""

    def __init__(self, error: BaseException, declared: list[Declared]) -> None:
        super().__init__(str(error))
        self.error = error
        self.declared = declared


def _ensure_event_loop() -> None:
    """Give the main thread an open event loop: pulumi's runtime needs one, and any earlier test
    in the same worker that used ``asyncio.run`` leaves the thread with none."""
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


def run_main(
    main: Path,
    config: dict[str, str],
    *,
    project: str,
    mocks: pulumi.runtime.Mocks,
    monitor: pulumi_mocks.MockMonitor | None = None,
) -> dict[str, Any]:
    """Run the Pulumi program ``main`` with ``config`` (full keys) under ``mocks``; return its
    module globals. Raises ``ProgramFailed`` (with what ``mocks.declared`` holds, if any)."""
    _ensure_event_loop()
    pulumi.runtime.set_all_config(config)
    pulumi_settings.ROOT.set(None)
    monitor = monitor or pulumi_mocks.MockMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack="test", preview=False, monitor=monitor)
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()
    result: dict[str, Any] = {}

    def program() -> None:
        result.update(runpy.run_path(str(main), run_name="__main__"))

    try:
        _sync_await(run_pulumi_func(program))
    except Exception as exc:
        raise ProgramFailed(exc, list(getattr(mocks, "declared", []))) from exc
    return result


def run_program(desired: dict[str, Any] | str | None) -> ProgramRun:
    """Run the program with ``desired`` as ``headroom:desiredState``; raises ``ProgramFailed``."""
    config = (
        {}
        if desired is None
        else {"headroom:desiredState": desired if isinstance(desired, str) else json.dumps(desired)}
    )
    mocks = RecordingMocks()
    monitor = OptionsMonitor(mocks)
    result = run_main(MAIN, config, project="headroom", mocks=mocks, monitor=monitor)
    urns = {reg.urn.rsplit("::", 1)[-1]: reg.urn for reg in monitor.resources.values()}
    for d in mocks.declared:
        d.urn = urns.get(d.name, "")
        d.retain_on_delete, d.ignore_changes = monitor.options.get(d.name, (False, ()))
    return ProgramRun(declared=mocks.declared, outputs=result.get("outputs", {}))
