"""The replay's actuator: what ``pulumi up`` would do, done to the replay provider.

It has the interface the apply step uses (``which``, ``open``, ``current_desired_state``,
``apply``): ``apply`` keeps the desired state as the stack's config and sets each declared
scaling group's count (and instance type) on the ``ReplayProvider``, where a scale-out comes
into service after the provider's scale-out delay. Growth that would take a region past its pool
(``region_units``, in base-instance units) is cut, the largest growth first, as the replay engine
cuts every strategy's (``reconciler.simulate.engine``): the cloud refuses capacity past a quota.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from infra.desired_state import DesiredState
from providers.models import InstanceType
from providers.replay import ReplayProvider

__all__ = ["ReplayActuator"]


@dataclass
class ReplayActuator:
    provider: ReplayProvider
    unit: InstanceType
    region_units: Mapping[str, int] = field(default_factory=dict)
    desired: str | None = None
    #: every desired state applied, in order (what the apply step built each cycle)
    applied: list[DesiredState] = field(default_factory=list)
    #: scale-outs arrive at once (the replay's first cycle, before its first scored step)
    immediate: bool = False

    def which(self, name: str) -> str:
        return f"/replay/bin/{name}"

    def open(self) -> object:
        return self

    def current_desired_state(self, stack: object) -> str | None:
        return self.desired

    def apply(self, desired: DesiredState, *, dry_run: bool = False) -> Any:
        if dry_run:
            return SimpleNamespace(status="previewed", message="dry run", counts={})
        wanted: dict[str, tuple[int, str | None, str]] = {}
        for group in desired.groups:
            for sg in group.scaling_groups:
                wanted[sg.physical_name] = (sg.desired, sg.instance_type, sg.region)
        counts = self._within_pools(wanted)
        changed = 0
        for asg, (_count, itype, _) in wanted.items():
            if self.provider.set_capacity(asg, counts[asg], itype, delay=not self.immediate):
                changed += 1
        self.desired = desired.model_dump_json()
        self.applied.append(desired)
        status = "applied" if changed else "no_changes"
        return SimpleNamespace(
            status=status,
            message=f"replay: {changed} scaling groups changed",
            counts={"update": changed} if changed else {},
        )

    def _within_pools(self, wanted: Mapping[str, tuple[int, str | None, str]]) -> dict[str, int]:
        """Counts per scaling group with growth past a region's pool cut (largest first)."""
        out = {asg: max(0, count) for asg, (count, _, _) in wanted.items()}
        for region, cap in self.region_units.items():
            mine = [asg for asg, (_, _, r) in wanted.items() if r == region]
            now = {asg: self.provider.desired(asg) for asg in mine}
            over = sum(out[a] for a in mine) - cap
            for asg in sorted(mine, key=lambda a: now[a] - out[a]):
                if over <= 0 or out[asg] <= now[asg]:
                    break
                cut = min(over, out[asg] - now[asg])
                out[asg] -= cut
                over -= cut
        return out
