"""The report's "what reaches the stack" table: per group, forecast -> allocation -> the
bandwidth tier, instance types and counts in the desired state the cycle produced; and each
group's own chain, on to the changes planned and their outcome."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from infra.desired_state import DesiredState, GroupSpec
from reconciler.actuate.observed import spec_id
from reconciler.steps.types import Allocation, Group, GroupSet

__all__ = ["DESIRED_HEADER", "desired_rows", "group_flow"]

DESIRED_HEADER = [
    "group",
    "forecast p90 peak Gbps",
    "allocated Gbps",
    "tier (rate / ceiling Mbps, priority)",
    "instances",
    "autoscaling groups (desired, min-max)",
]


def _compute(spec: GroupSpec | None) -> tuple[str, str]:
    if spec is None:
        return "-", "-"
    types = Counter(i.instance_type for i in spec.instances)
    instances = ", ".join(f"{n} x {t}" for t, n in sorted(types.items())) or "-"
    asgs = (
        ", ".join(
            f"{s.import_id or s.name}: {s.desired} ({s.min_size}-{s.max_size})"
            + (f" {s.instance_type}" if s.instance_type else "")
            for s in spec.scaling_groups
        )
        or "-"
    )
    return instances, asgs


def desired_rows(
    desired: DesiredState,
    groups: GroupSet | None,
    allocation: Allocation | None,
    peaks: Mapping[str, float],
) -> list[list[Any]]:
    """One row per group of the cycle (then any group only the desired state has)."""
    specs = {g.id: g for g in desired.groups}
    rows: list[list[Any]] = []
    seen: set[str] = set()
    for g in groups.groups if groups is not None else ():
        sid = spec_id(g.id)
        seen.add(sid)
        spec = specs.get(sid)
        tier = spec.bandwidth_tier if spec is not None else None
        granted = allocation.groups.get(g.id) if allocation is not None else None
        instances, asgs = _compute(spec)
        rows.append(
            [
                f"{g.name} ({g.id})" if g.name and g.name != g.id else g.id,
                f"{peaks[g.id]:.3f}" if g.id in peaks else "-",
                f"{granted:.3f}" if granted is not None else "-",
                f"{tier.tier} ({tier.guaranteed_mbps:.0f} / {tier.ceiling_mbps:.0f}, "
                f"{tier.priority})"
                if tier is not None
                else "-",
                instances,
                asgs,
            ]
        )
    for sid, spec in specs.items():
        if sid not in seen:
            instances, asgs = _compute(spec)
            rows.append([f"{sid} (kept: no group holds it now)", "-", "-", "-", instances, asgs])
    return rows


def group_flow(
    group: Group,
    desired: DesiredState | None,
    allocation: Allocation | None,
    peaks: Mapping[str, float],
    changes: Sequence[str],
    outcome: str,
) -> list[list[str]]:
    """One group's chain, a row per step: forecast -> allocation -> desired state (tier,
    instance types and counts) -> the changes planned -> the outcome."""
    spec = None
    if desired is not None:
        spec = {s.id: s for s in desired.groups}.get(spec_id(group.id))
    tier = spec.bandwidth_tier if spec is not None else None
    granted = allocation.groups.get(group.id) if allocation is not None else None
    instances, asgs = _compute(spec)
    return [
        [
            "forecast",
            f"p90 peak {peaks[group.id]:.3f} Gbps over the provisioning window"
            if group.id in peaks
            else "no forecast this cycle",
        ],
        [
            "allocation",
            f"{granted:.3f} Gbps"
            + (
                f" from pool {allocation.pool_of_group[group.id]}"
                if allocation is not None and group.id in allocation.pool_of_group
                else ""
            )
            if granted is not None
            else "no allocation",
        ],
        [
            "desired state",
            (
                f"tier {tier.tier} ({tier.guaranteed_mbps:.0f} Mbps guaranteed, "
                f"{tier.ceiling_mbps:.0f} Mbps ceiling, priority {tier.priority})"
                if tier is not None
                else "no bandwidth tier"
            )
            + f"; instances: {instances}; autoscaling groups: {asgs}",
        ],
        ["desired change", "; ".join(changes) if changes else "none planned this cycle"],
        ["outcome", outcome],
    ]
