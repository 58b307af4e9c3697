"""The actuator: desired state -> stack config -> ``preview`` -> ``up`` via the Automation API.

It writes ``headroom:desiredState`` into the stack's config, previews, and (unless ``dry_run``)
runs ``up``, returning what happens to each resource. The stack lives in a local file backend (a
state folder) unless a backend URL is given. Pulumi's own stack lock serialises the reconciler
and manual ``pulumi up`` runs: a concurrent update comes back as a ``locked`` result, and the
config is put back as it was so a later manual run does not apply a plan nobody applied.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from infra.desired_state import CONFIG_KEY, CONFIG_NAMESPACE, DesiredState
from reconciler.actuate.errors import ActuatorError, PulumiCliMissing, Which, find_pulumi_cli
from reconciler.clock import Clock

__all__ = [
    "DESIRED_STATE_KEY",
    "ActuationResult",
    "ActuationStatus",
    "Actuator",
    "ResourceChange",
    "StackHandle",
    "StackTarget",
    "open_local_stack",
]

DESIRED_STATE_KEY = f"{CONFIG_NAMESPACE}:{CONFIG_KEY}"
_UNCHANGED = {"same", "read", "refresh"}


@dataclass(frozen=True)
class StackTarget:
    """Which stack to drive: name, project folder (holding Pulumi.yaml) and backend."""

    stack_name: str
    project_dir: Path
    state_dir: Path
    backend_url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def backend(self) -> str:
        """The backend URL: the one given, else the local file backend in ``state_dir``."""
        return self.backend_url or self.state_dir.resolve().as_uri()


class StackHandle(Protocol):
    """The part of ``pulumi.automation.Stack`` the actuator uses (a fake stands in for tests)."""

    def get_config(self, key: str, *, path: bool = False) -> Any: ...

    def set_config(self, key: str, value: Any, *, path: bool = False) -> None: ...

    def remove_config(self, key: str, *, path: bool = False) -> None: ...

    def preview(self, *, on_event: Callable[[Any], Any] | None = None) -> Any: ...

    def up(self, *, on_event: Callable[[Any], Any] | None = None) -> Any: ...


StackFactory = Callable[[StackTarget], StackHandle]


class ActuationStatus(StrEnum):
    APPLIED = "applied"
    PREVIEWED = "previewed"  # dry run: stopped after preview
    NO_CHANGES = "no_changes"
    LOCKED = "locked"  # another update holds the stack lock
    FAILED = "failed"


@dataclass(frozen=True)
class ResourceChange:
    """What the engine did (or would do) to one resource."""

    urn: str
    type: str
    op: str
    diffs: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


@dataclass(frozen=True)
class ActuationResult:
    status: ActuationStatus
    stack: str
    message: str
    started_at: datetime
    finished_at: datetime
    preview: tuple[ResourceChange, ...] = ()
    applied: tuple[ResourceChange, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "stack": self.stack,
            "message": self.message,
            "counts": self.counts,
            "changes": [
                {"name": c.name, "type": c.type, "op": c.op, "diffs": list(c.diffs)}
                for c in (self.applied or self.preview)
            ],
        }


def open_local_stack(target: StackTarget, *, which: Which = shutil.which) -> StackHandle:
    """Create or select the stack through a ``LocalWorkspace`` (needs the Pulumi CLI)."""
    find_pulumi_cli(which)
    if not (target.project_dir / "Pulumi.yaml").is_file():
        raise ActuatorError(
            f"{target.project_dir} has no Pulumi.yaml: pass the repository root as the project dir"
        )
    from pulumi import automation as auto

    try:
        command = auto.PulumiCommand()
    except (OSError, auto.InvalidVersionError) as exc:
        raise PulumiCliMissing(f"`pulumi version` failed: {exc}") from None
    env = {"PULUMI_BACKEND_URL": target.backend, **target.env}
    if target.backend_url is None:
        target.state_dir.mkdir(parents=True, exist_ok=True)
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(target.project_dir), env_vars=env, pulumi_command=command
    )
    return auto.create_or_select_stack(  # type: ignore[no-any-return]
        stack_name=target.stack_name, work_dir=str(target.project_dir), opts=opts
    )


class _Recorder:
    """Collects ``ResourcePreEvent``s of one operation into ``ResourceChange``s."""

    def __init__(self) -> None:
        self.changes: list[ResourceChange] = []

    def __call__(self, event: Any) -> None:
        pre = getattr(event, "resource_pre_event", None)
        if pre is None or pre.metadata is None:
            return
        meta = pre.metadata
        op = str(getattr(meta.op, "value", meta.op))
        self.changes.append(ResourceChange(meta.urn, meta.type, op, tuple(meta.diffs or ())))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.op] = out.get(c.op, 0) + 1
        return out

    def changed(self) -> tuple[ResourceChange, ...]:
        return tuple(c for c in self.changes if c.op not in _UNCHANGED)


class Actuator:
    """Applies desired states to one stack. Outside dependencies are passed in."""

    def __init__(
        self,
        target: StackTarget,
        clock: Clock,
        *,
        stack_factory: StackFactory | None = None,
        which: Which = shutil.which,
    ) -> None:
        self.target = target
        self.clock = clock
        self.which = which  # how the CLI is found (callers may check before folding a plan)
        self._factory: StackFactory = stack_factory or (lambda t: open_local_stack(t, which=which))

    def open(self) -> StackHandle:
        """The stack handle; raises ``PulumiCliMissing`` when the CLI is not installed."""
        return self._factory(self.target)

    def current_desired_state(self, stack: StackHandle) -> str | None:
        """The desired-state JSON now in the stack config, or None when unset."""
        from pulumi.automation.errors import CommandError

        try:
            value = stack.get_config(DESIRED_STATE_KEY)
        except CommandError:  # `pulumi config get` fails when the key is unset
            return None
        return str(getattr(value, "value", value))

    def write_config(self, stack: StackHandle, desired: DesiredState) -> None:
        """Write the desired state as one JSON string under ``headroom:desiredState``."""
        from pulumi.automation import ConfigValue

        stack.set_config(DESIRED_STATE_KEY, ConfigValue(value=desired.model_dump_json()))

    def _restore(self, stack: StackHandle, previous: str | None) -> None:
        from pulumi.automation import ConfigValue

        if previous is None:
            stack.remove_config(DESIRED_STATE_KEY)
        else:
            stack.set_config(DESIRED_STATE_KEY, ConfigValue(value=previous))

    def apply(self, desired: DesiredState, *, dry_run: bool = False) -> ActuationResult:
        """Write config, preview, and unless ``dry_run`` (or nothing changes) run ``up``.

        Raises ``PulumiCliMissing`` when the CLI is absent; every engine failure, including
        a held stack lock, comes back as a result with a message instead.
        """
        from pulumi.automation.errors import CommandError, ConcurrentUpdateError

        started = self.clock.now()
        stack = self.open()
        previous = self.current_desired_state(stack)
        self.write_config(stack, desired)
        preview, applied = _Recorder(), _Recorder()
        name = self.target.stack_name

        def done(status: ActuationStatus, message: str, **extra: Any) -> ActuationResult:
            return ActuationResult(
                status=status,
                stack=name,
                message=message,
                started_at=started,
                finished_at=self.clock.now(),
                preview=preview.changed(),
                **extra,
            )

        try:
            stack.preview(on_event=preview)
            if dry_run:
                self._restore(stack, previous)
                return done(
                    ActuationStatus.PREVIEWED,
                    f"dry run: {len(preview.changed())} resources would change",
                    counts=preview.counts(),
                )
            if not preview.changed():
                return done(ActuationStatus.NO_CHANGES, "preview shows no changes", counts={})
            result = stack.up(on_event=applied)
        except ConcurrentUpdateError:
            self._restore(stack, previous)
            return done(
                ActuationStatus.LOCKED,
                f"stack {name} is locked by another update (a manual `pulumi up` or another "
                "reconciler); nothing was changed, try again next cycle (`pulumi cancel` only "
                "if that update is known to be dead)",
            )
        except CommandError as exc:
            self._restore(stack, previous)
            return done(ActuationStatus.FAILED, f"stack {name}: pulumi failed: {_tail(exc)}")
        outputs = {k: getattr(v, "value", v) for k, v in (result.outputs or {}).items()}
        counts = {str(k): int(v) for k, v in (result.summary.resource_changes or {}).items()}
        return done(
            ActuationStatus.APPLIED,
            f"applied: {len(applied.changed())} resources changed",
            applied=applied.changed(),
            counts=counts or applied.counts(),
            outputs=outputs,
        )


def _tail(exc: Exception, lines: int = 8) -> str:
    """The last lines of a CommandError (its stderr says what went wrong)."""
    text = str(exc).strip().splitlines()
    return "\n".join(text[-lines:])
