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
    "PoolState",
]

#: Name of the root pool every regional pool borrows from.
GLOBAL_POOL = "global"


class CutReason:
    """Why a group got less than it asked for (values of ``Allocation.cut_reason``)."""

    CEILING = "class ceiling"
    REGION = "regional pool full"
    GLOBAL = "global pool full"
    PRIORITY = "higher-priority groups took the capacity"
    OVERRIDE = "operator override"


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

    @property
    def total_gbps(self) -> float:
        return sum(a.allocated_gbps for a in self.allocations)
