"""Per-group facts the report shows beside each other: name, regions, the commands that touch
the group, and the outcome (congestion and unmet demand under the allocation in force)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from infra.desired_state import DesiredState
from reconciler.actuate.observed import spec_id
from reconciler.steps.types import CommandView, Group

__all__ = [
    "GroupOutcome",
    "change_text",
    "commands_of",
    "group_label",
    "group_outcomes",
    "group_regions",
    "value_text",
]


def group_label(g: Group) -> str:
    """``name (id)``, or the id alone when the group has no name."""
    return f"{g.name} ({g.id})" if g.name and g.name != g.id else g.id


def group_regions(groups: Iterable[Group], desired: DesiredState | None) -> dict[str, list[str]]:
    """Every region a group has resources in: its home region and each region of its spec in
    the desired state (a shared-services group spanning two regions has both)."""
    specs = {s.id: s for s in desired.groups} if desired is not None else {}
    out: dict[str, list[str]] = {}
    for g in groups:
        spec = specs.get(spec_id(g.id))
        found = set(spec.regions) if spec is not None else set()
        if g.region and g.region != "unknown":
            found.add(g.region)
        out[g.id] = sorted(found) or [g.region]
    return out


def value_text(value: Any) -> str:
    """A command's ``before``/``after`` as text: ``key: value`` pairs, lists joined."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {value_text(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return "-" if value is None else str(value)


def change_text(before: Any, after: Any) -> str:
    """What a command changes, as ``key: before -> after`` for each key that differs (or the
    whole values when they are not mappings)."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        keys = list(dict.fromkeys([*before, *after]))
        parts = [
            f"{k}: {value_text(before.get(k))} -> {value_text(after.get(k))}"
            for k in keys
            if before.get(k) != after.get(k)
        ]
        return "; ".join(parts) or "no change"
    return f"{value_text(before)} -> {value_text(after)}"


def commands_of(g: Group, commands: Iterable[CommandView]) -> list[CommandView]:
    """The commands whose target is the group, its stack spec, or one of its members."""
    targets = {g.id, spec_id(g.id), *g.members}
    return [c for c in commands if c.target in targets]


@dataclass(frozen=True)
class GroupOutcome:
    intervals: int
    congested: int
    unmet_gb: float
    peak_utilisation: float


def group_outcomes(
    in_force: pl.DataFrame | None, step_seconds: float = 300.0
) -> dict[str, GroupOutcome]:
    """From ``group_id, ts, demand_gbps, allocated_gbps``: per group, congested intervals
    (demand over the allocation in force), unmet demand in GB and the peak utilisation."""
    if in_force is None or in_force.height == 0:
        return {}
    gb = step_seconds / 8.0
    rows = (
        in_force.group_by("group_id")
        .agg(
            pl.len().alias("n"),
            (pl.col("demand_gbps") > pl.col("allocated_gbps")).sum().alias("congested"),
            (pl.col("demand_gbps") - pl.col("allocated_gbps"))
            .clip(lower_bound=0)
            .sum()
            .alias("unmet"),
            (pl.col("demand_gbps") / pl.col("allocated_gbps"))
            .replace(float("inf"), None)
            .max()
            .alias("peak"),
        )
        .iter_rows()
    )
    return {
        gid: GroupOutcome(int(n), int(c), float(u) * gb, float(p or 0.0))
        for gid, n, c, u, p in rows
    }
