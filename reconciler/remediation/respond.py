"""Responses to congestion, in order: borrow within the pool at once, recompose, scale.

Pure logic over plain data: observations, the allocation in force, how far each group's
membership has drifted from its traffic, and the circuit breaker. Returns the actions and the
corrected allocation; the caller turns them into commands and records them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from reconciler.remediation.breaker import CircuitBreaker
from reconciler.remediation.detect import detect
from reconciler.remediation.types import (
    Action,
    ActionKind,
    Congestion,
    GroupObservation,
    RemediationConfig,
    RemediationResult,
    Signal,
)
from reconciler.steps.types import Allocation, PoolAllocation

__all__ = ["borrow", "remediate"]

#: Gbps below this are floating-point rounding, never lent or borrowed.
_DUST = 1e-9


def _need(obs: GroupObservation, cfg: RemediationConfig, margin: float) -> float:
    recent = obs.demand_gbps[-cfg.points :]
    return max(recent) * (1 + margin) if recent else 0.0


def borrow(
    group_id: str,
    amount: float,
    groups: dict[str, float],
    pools: dict[str, PoolAllocation],
    pool_of: dict[str, str],
    keep: dict[str, float],
) -> tuple[float, dict[str, float]]:
    """Move up to ``amount`` Gbps to ``group_id``: the pool's free capacity first (what both the
    pool and its parent have spare: a region borrows only what the global pool has left), then
    siblings' slack above what they need to ``keep``. Mutates ``groups``/``pools`` (the pool and
    its parent); returns what moved."""
    pool_id = pool_of.get(group_id)
    if pool_id is None or pool_id not in pools or amount <= 0:
        return 0.0, {}
    pool = pools[pool_id]
    lenders: dict[str, float] = {}
    chain = [pool_id] + ([pool.parent] if pool.parent in pools else [])
    free = min(max(0.0, pools[p].capacity_gbps - pools[p].allocated_gbps) for p in chain)
    got = min(free, amount) if free > _DUST else 0.0  # a full pool's rounding is not capacity
    if got > 0:
        lenders[f"pool:{pool_id}"] = got
        for p in chain:
            pools[p] = replace(pools[p], allocated_gbps=pools[p].allocated_gbps + got)
    siblings = sorted(
        (g for g, p in pool_of.items() if p == pool_id and g != group_id and g in keep),
        key=lambda g: groups.get(g, 0.0) - keep[g],
        reverse=True,
    )
    for sib in siblings:
        if got >= amount:
            break
        slack = groups.get(sib, 0.0) - keep[sib]
        if slack <= _DUST:
            break
        take = min(slack, amount - got)
        groups[sib] = groups.get(sib, 0.0) - take
        lenders[sib] = take
        got += take
    groups[group_id] = groups.get(group_id, 0.0) + got
    return got, lenders


def remediate(
    observations: Sequence[GroupObservation],
    allocation: Allocation,
    drift: dict[str, float],
    breaker: CircuitBreaker,
    cfg: RemediationConfig,
) -> RemediationResult:
    """Detect congestion, update the breaker, and respond group by group (worst first)."""
    groups = dict(allocation.groups)
    pools = {p.pool_id: p for p in allocation.pools}
    by_group = {o.group_id: o for o in observations}
    keep = {g: _need(o, cfg, cfg.borrow_margin) for g, o in by_group.items()}

    congestion: list[Congestion] = []
    actions: list[Action] = []
    for obs in observations:
        found = detect(obs, groups.get(obs.group_id, 0.0), cfg)
        congestion.extend(found)
        missed = any(c.signal is Signal.ABOVE_FORECAST for c in found)
        change = breaker.observe(obs.group_id, missed)
        if change is not None:
            actions.append(change)

    targets: dict[str, float] = defaultdict(float)
    for c in congestion:
        targets[c.group_id] = max(
            targets[c.group_id], groups.get(c.group_id, 0.0) + c.shortfall_gbps
        )
    for gid in breaker.reactive_groups():
        if gid in by_group:
            targets[gid] = max(targets[gid], _need(by_group[gid], cfg, cfg.reactive_margin))

    reasons: dict[str, str] = defaultdict(str)
    for c in congestion:
        reasons[c.group_id] += ("; " if reasons[c.group_id] else "") + f"{c.signal}: {c.evidence}"
    for gid in breaker.reactive_groups():
        reasons[gid] = reasons[gid] or "reactive mode: sized from recent use"

    order = sorted(targets, key=lambda g: targets[g] - groups.get(g, 0.0), reverse=True)
    for gid in order:
        before = groups.get(gid, 0.0)
        missing = targets[gid] - before
        if missing <= 1e-9:
            continue
        # borrowing never lifts a group above its class ceiling; the rest is scaled or recomposed
        room = allocation.ceiling_of_group.get(gid, float("inf")) - before
        keep_others = {g: k for g, k in keep.items() if g != gid and g not in targets}
        got, lenders = borrow(
            gid, min(missing, max(0.0, room)), groups, pools, allocation.pool_of_group, keep_others
        )
        if got > 0:
            actions.append(
                Action(
                    ActionKind.BORROW,
                    gid,
                    f"{reasons[gid]} -> borrowed {got:.3f} Gbps within the pool",
                    allocation.pool_of_group.get(gid),
                    before,
                    before + got,
                    lenders,
                )
            )
        left = missing - got
        if left <= 1e-9:
            continue
        if drift.get(gid, 0.0) > cfg.drift_threshold:
            actions.append(
                Action(
                    ActionKind.RECOMPOSE,
                    gid,
                    f"{drift[gid]:.0%} of the group's traffic crosses its boundary "
                    f"(limit {cfg.drift_threshold:.0%}): membership no longer matches traffic",
                    allocation.pool_of_group.get(gid),
                )
            )
            continue
        limit = (
            "the class ceiling leaves no room for"
            if room < missing - 1e-9
            else "the pool cannot lend"
        )
        actions.append(
            Action(
                ActionKind.SCALE,
                gid,
                f"{reasons[gid]} -> {limit} {left:.3f} Gbps more: scale out",
                allocation.pool_of_group.get(gid),
                groups[gid],
                groups[gid] + left,
            )
        )

    corrected = replace(allocation, groups=groups, pools=tuple(pools.values()))
    return RemediationResult(
        congestion=tuple(congestion),
        actions=tuple(actions),
        reactive_groups=breaker.reactive_groups(),
        allocation=corrected,
        breaker_state=breaker.to_json(),
    )
