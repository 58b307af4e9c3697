"""Plain-data inputs and outputs of the hierarchical allocator (all Gbps)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "GLOBAL_POOL",
    "Allocation",
    "AllocationResult",
    "CutReason",
    "GroupDemand",
    "LedgerEntry",
    "PoolLedgerEntry",
    "PoolState",
]

#: Name of the root pool every regional pool borrows from.
GLOBAL_POOL = "global"


class CutReason:
    """Why a group got less than it asked for: the parts of ``Allocation.cut_reason`` and the keys
    of ``Allocation.cut_by_reason``."""

    NO_POOL = "no pool for region"
    CEILING = "class ceiling"
    REGION = "regional pool full"
    GLOBAL = "global pool full"
    PRIORITY = "higher-priority groups took the capacity"
    OVERRIDE = "operator override"
    REMEDIATION = "remediation moved capacity"

    #: The order reasons are listed in ``cut_reason`` (and taken back in when a cut shrinks).
    ORDER = (NO_POOL, CEILING, REGION, GLOBAL, PRIORITY, OVERRIDE, REMEDIATION)


class GroupDemand(BaseModel):
    """One group's ask: its demand (forecast quantile + headroom) and its class terms."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group_id: str
    region: str
    demand_gbps: float = Field(ge=0)
    guarantee_gbps: float = Field(default=0.0, ge=0)
    ceiling_gbps: float | None = Field(default=None, ge=0)
    priority: int = Field(default=1, ge=0)
    weight: float = Field(default=1.0, gt=0)
    group_class: str = "default"
    quantile: float | None = None
    #: Where ``quantile`` came from: "class", "newsvendor" or "default" (quantile module).
    quantile_basis: str | None = None

    @model_validator(mode="after")
    def _guarantee_below_ceiling(self) -> GroupDemand:
        if self.ceiling_gbps is not None and self.guarantee_gbps > self.ceiling_gbps:
            raise ValueError(
                f"group {self.group_id}: guarantee {self.guarantee_gbps} Gbps is above ceiling "
                f"{self.ceiling_gbps} Gbps"
            )
        return self

    @property
    def capped_demand(self) -> float:
        """Demand limited by the class ceiling: the most this group can ever be given."""
        if self.ceiling_gbps is None:
            return self.demand_gbps
        return min(self.demand_gbps, self.ceiling_gbps)


class LedgerEntry(BaseModel):
    """Why a group got what it got: each phase's grant and the reason for any cut."""

    model_config = ConfigDict(frozen=True)

    group_id: str
    pool: str
    steps: list[str]

    @property
    def text(self) -> str:
        return "; ".join(self.steps)


class Allocation(BaseModel):
    """A group's bandwidth, split into what was guaranteed, its pool share and what it borrowed."""

    model_config = ConfigDict(frozen=True)

    group_id: str
    region: str
    group_class: str
    priority: int
    weight: float
    demand_gbps: float
    guarantee_gbps: float
    ceiling_gbps: float | None
    guaranteed_gbps: float
    pool_share_gbps: float
    borrowed_gbps: float
    allocated_gbps: float
    cut_gbps: float
    cut_reason: str | None = None
    #: How much of ``cut_gbps`` each reason accounts for (``CutReason`` values; sums to the cut).
    cut_by_reason: dict[str, float] = Field(default_factory=dict)
    #: The part of ``guaranteed_gbps`` borrowed from the global pool because the region's
    #: guarantees exceed its rate (it is granted only from what the global pool has spare).
    guarantee_borrowed_gbps: float = 0.0


class PoolState(BaseModel):
    """A pool after allocation: capacity (ceil), rate (guaranteed from parent), use and lending."""

    model_config = ConfigDict(frozen=True)

    name: str
    parent: str | None
    capacity_gbps: float
    rate_gbps: float
    demand_gbps: float
    allocated_gbps: float
    borrowed_gbps: float = 0.0
    lent_gbps: float = 0.0

    @property
    def free_gbps(self) -> float:
        return max(0.0, self.capacity_gbps - self.allocated_gbps)

    @property
    def saturated(self) -> bool:
        return self.allocated_gbps >= self.capacity_gbps - 1e-9


class PoolLedgerEntry(BaseModel):
    """Why a pool is as full as it is: capacity, what was granted, spare and oversubscription."""

    model_config = ConfigDict(frozen=True)

    pool: str
    parent: str | None
    capacity_gbps: float
    rate_gbps: float
    demand_gbps: float
    granted_gbps: float
    spare_gbps: float
    #: Demand above capacity (0 when the pool can serve all of it).
    oversubscription_gbps: float
    steps: list[str]

    @property
    def text(self) -> str:
        return "; ".join(self.steps)


class AllocationResult(BaseModel):
    """Everything one allocation produced; ``by_group`` / ``pool`` look things up."""

    model_config = ConfigDict(frozen=True)

    allocations: list[Allocation]
    pools: list[PoolState]
    ledger: list[LedgerEntry]

    def by_group(self) -> dict[str, Allocation]:
        return {a.group_id: a for a in self.allocations}

    def pool(self, name: str) -> PoolState:
        for p in self.pools:
            if p.name == name:
                return p
        raise KeyError(f"no pool named {name!r}; pools are {[p.name for p in self.pools]}")

    def ledger_for(self, group_id: str) -> LedgerEntry | None:
        for entry in self.ledger:
            if entry.group_id == group_id:
                return entry
        return None

    def pool_ledger(self) -> list[PoolLedgerEntry]:
        """One entry per pool, derived from ``pools`` and ``allocations`` (so it stays true after
        an override or a remediation adjustment)."""
        return [_pool_entry(p, self.allocations, self.pools) for p in self.pools]

    def pool_ledger_for(self, name: str) -> PoolLedgerEntry | None:
        for p in self.pools:
            if p.name == name:
                return _pool_entry(p, self.allocations, self.pools)
        return None

    @property
    def total_gbps(self) -> float:
        return sum(a.allocated_gbps for a in self.allocations)


def _pool_entry(
    p: PoolState, allocations: list[Allocation], pools: list[PoolState]
) -> PoolLedgerEntry:
    names = {q.name for q in pools}
    if p.parent is None:
        inside = [a for a in allocations if a.region in names]
    else:
        inside = [a for a in allocations if a.region == p.name]
    granted = p.allocated_gbps
    spare = max(0.0, p.capacity_gbps - granted)
    over = max(0.0, p.demand_gbps - p.capacity_gbps)
    guaranteed = sum(a.guaranteed_gbps for a in inside)
    share = sum(a.pool_share_gbps for a in inside)
    borrowed = sum(a.borrowed_gbps for a in inside)
    rate = "" if p.parent is None else f", rate {p.rate_gbps:.3f} Gbps from {p.parent}"
    steps = [
        f"capacity {p.capacity_gbps:.3f} Gbps{rate}",
        f"demand {p.demand_gbps:.3f} Gbps from {len(inside)} groups",
        f"granted {granted:.3f} Gbps = {guaranteed:.3f} guarantees + {share:.3f} pool shares "
        f"+ {borrowed:.3f} borrowed",
    ]
    adjusted = granted - (guaranteed + share + borrowed)
    if abs(adjusted) > 1e-6:
        steps.append(f"adjusted by {adjusted:+.3f} Gbps after allocation (override or remediation)")
    if p.parent is not None:
        steps.append(
            f"borrowed {p.borrowed_gbps:.3f} Gbps above its rate; lent {p.lent_gbps:.3f} Gbps "
            "of its rate"
        )
    steps.append(f"spare {spare:.3f} Gbps")
    if over > 1e-6:
        steps.append(
            f"oversubscribed by {over:.3f} Gbps (demand is {p.demand_gbps / p.capacity_gbps:.2f}x "
            "capacity)"
        )
    else:
        steps.append("not oversubscribed")
    if p.parent is None:
        unplaced = [a for a in allocations if a.region not in names]
        if unplaced:
            ask = sum(a.demand_gbps for a in unplaced)
            which = ", ".join(sorted(f"{a.group_id} ({a.region})" for a in unplaced))
            steps.append(
                f"{len(unplaced)} groups asking {ask:.3f} Gbps have no regional pool and were "
                f"granted 0: {which}"
            )
    return PoolLedgerEntry(
        pool=p.name,
        parent=p.parent,
        capacity_gbps=p.capacity_gbps,
        rate_gbps=p.rate_gbps,
        demand_gbps=p.demand_gbps,
        granted_gbps=granted,
        spare_gbps=spare,
        oversubscription_gbps=over,
        steps=steps,
    )
