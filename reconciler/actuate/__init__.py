"""Actuation: desired state -> Pulumi stack (Automation API), and our own diff for ``plan``."""

from reconciler.actuate.actuator import (
    DESIRED_STATE_KEY,
    ActuationResult,
    ActuationStatus,
    Actuator,
    ResourceChange,
    StackHandle,
    StackTarget,
    open_local_stack,
)
from reconciler.actuate.diff import (
    Change,
    ChangeKind,
    LoadedInventory,
    diff_desired_vs_inventory,
    load_inventory,
)
from reconciler.actuate.errors import INSTALL_HINT, ActuatorError, PulumiCliMissing, find_pulumi_cli

__all__ = [
    "DESIRED_STATE_KEY",
    "INSTALL_HINT",
    "ActuationResult",
    "ActuationStatus",
    "Actuator",
    "ActuatorError",
    "Change",
    "ChangeKind",
    "LoadedInventory",
    "PulumiCliMissing",
    "ResourceChange",
    "StackHandle",
    "StackTarget",
    "diff_desired_vs_inventory",
    "find_pulumi_cli",
    "load_inventory",
    "open_local_stack",
]
