"""Errors of the actuator, and detection of the Pulumi CLI the Automation API drives."""

from __future__ import annotations

import shutil
from collections.abc import Callable

__all__ = [
    "INSTALL_HINT",
    "ActuatorError",
    "PulumiCliMissing",
    "Which",
    "find_pulumi_cli",
]

Which = Callable[[str], str | None]

INSTALL_HINT = (
    "install it with `curl -fsSL https://get.pulumi.com | sh` (then add ~/.pulumi/bin to PATH), "
    "or see https://www.pulumi.com/docs/iac/download-install/"
)


class ActuatorError(Exception):
    """Base of the actuator's errors; the message says what to do."""


class PulumiCliMissing(ActuatorError):
    """The Pulumi CLI is not installed (or not runnable), so stacks cannot be previewed/applied."""

    def __init__(self, detail: str = "") -> None:
        reason = f" ({detail})" if detail else ""
        super().__init__(
            f"the Pulumi CLI was not found on PATH{reason}: the Automation API runs it for "
            f"preview and up; {INSTALL_HINT}. `headroom plan` still shows our own diff."
        )


def find_pulumi_cli(which: Which = shutil.which) -> str:
    """Path of the ``pulumi`` executable; raises ``PulumiCliMissing`` when there is none."""
    path = which("pulumi")
    if path is None:
        raise PulumiCliMissing()
    return path
