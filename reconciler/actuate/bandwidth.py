"""Bandwidth as the stack applies it: each group's grant, limit and priority as its tier.

The allocator grants each group a rate; the host shaper (``infra/components/tiers.py``)
applies a tier per group: the grant as the HTB rate, the most it may borrow up to as the ceil,
and the class priority. ``BandwidthBook`` holds what one cycle granted and answers "this
group's tier spec at tier X" for the desired-state builder, the fold of a tier change and the
restatement after remediation moved grants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from infra.desired_state import BandwidthTierSpec, DesiredState
from policies.actions import BandwidthTierAction
from policies.schema import Policy
from reconciler.actuate.observed import spec_id
from reconciler.allocation import AllocationResult

__all__ = ["BandwidthBook", "GroupRate", "group_rates", "restated_tiers", "tier_spec"]


@dataclass(frozen=True)
class GroupRate:
    """What the allocator granted a group, as the host shaper applies it: the HTB rate (the
    grant), the most it may borrow up to (class ceiling, else its pool's capacity) and its
    priority (0 first)."""

    granted_gbps: float
    limit_gbps: float
    priority: int
    group_class: str


def tier_spec(rate: GroupRate, tier: str, tier_gbps: float | None) -> BandwidthTierSpec:
    """The bandwidth tier a group runs at: its grant as the rate; as the ceiling the tier's
    speed when it has one (the purchasable level), within the class limit, never below the
    rate."""
    ceiling = rate.limit_gbps if tier_gbps is None else min(tier_gbps, rate.limit_gbps)
    granted = max(0.0, rate.granted_gbps)
    ceiling_mbps = max(ceiling, granted) * 1000
    return BandwidthTierSpec(
        tier=spec_id(tier),
        guaranteed_mbps=round(granted * 1000, 3),
        ceiling_mbps=max(round(ceiling_mbps, 3), 0.001),
        priority=max(0, min(7, rate.priority)),
    )


def group_rates(
    result: AllocationResult | None,
    grants: Mapping[str, float],
    capacity: Mapping[str, float],
) -> dict[str, GroupRate]:
    """Each allocated group's grant (``grants``: the one in force, after remediation), limit
    (class ceiling, else its region's pool capacity, else the largest pool) and priority."""
    if result is None:
        return {}
    top = max(capacity.values(), default=0.0)
    out: dict[str, GroupRate] = {}
    for a in result.allocations:
        granted = grants.get(a.group_id, a.allocated_gbps)
        limit = a.ceiling_gbps or capacity.get(a.region) or top or granted
        out[a.group_id] = GroupRate(
            granted_gbps=granted,
            limit_gbps=max(limit, granted),
            priority=a.priority,
            group_class=a.group_class,
        )
    return out


@dataclass(frozen=True)
class BandwidthBook:
    """One cycle's grants, the policy's tier speeds and the tier in force per group."""

    rates: Mapping[str, GroupRate]
    speeds: Mapping[str, float]
    in_force: Mapping[str, str]

    @classmethod
    def of(
        cls,
        rates: Mapping[str, GroupRate],
        policy: Policy,
        in_force: Mapping[str, str],
        previous: DesiredState | None,
    ) -> BandwidthBook:
        """The book for a cycle: tiers in force from the plan, else from the stack's state."""
        action = policy.action(BandwidthTierAction)
        speeds = {t.name: t.gbps for t in action.tiers} if action is not None else {}
        tiers = dict(in_force)
        for g in previous.groups if previous is not None else ():
            if g.bandwidth_tier is not None:
                tiers.setdefault(g.id, g.bandwidth_tier.tier)
        return cls(rates, speeds, tiers)

    def spec(self, group_id: str, tier: str | None = None) -> BandwidthTierSpec | None:
        """The group's tier spec at ``tier`` (else the one in force, else its class name)."""
        rate = self.rates.get(group_id)
        if rate is None:
            return None
        name = tier or self.in_force.get(group_id) or self.in_force.get(spec_id(group_id))
        name = name or rate.group_class
        return tier_spec(rate, name, self.speeds.get(name))


def restated_tiers(
    state: DesiredState, group_ids: Iterable[str], book: BandwidthBook
) -> DesiredState:
    """``state`` with each group's bandwidth tier restated from ``book`` (its grant now), the
    tier name kept."""
    by_spec = {spec_id(g): g for g in group_ids}
    specs = []
    for g in state.groups:
        gid = by_spec.get(g.id)
        tier = g.bandwidth_tier
        new = book.spec(gid, tier.tier if tier else None) if gid is not None else None
        specs.append(g.model_copy(update={"bandwidth_tier": new}) if new is not None else g)
    return state.model_copy(update={"groups": tuple(specs)})
