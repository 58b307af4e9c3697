"""Remediate step: recent per-group demand, ENA counters and the previous forecasts -> actions.

Builds ``GroupObservation``s from the history store for the last few steps, compares them with
the allocation this cycle put in force and with the forecasts the previous cycle made for those
same steps, and runs ``reconciler.remediation.remediate``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

import polars as pl

from reconciler.remediation import (
    CircuitBreaker,
    GroupObservation,
    RemediationConfig,
    RemediationResult,
    remediate,
)
from reconciler.steps.allocate import corrected_view
from reconciler.steps.types import Allocation, GroupSet

__all__ = ["ALLOWANCE_METRICS", "build_observations", "run_remediation"]

ALLOWANCE_METRICS = (
    "bw_in_allowance_exceeded",
    "bw_out_allowance_exceeded",
    "pps_allowance_exceeded",
)


def build_observations(
    group_demand: pl.DataFrame,
    allowance: pl.DataFrame,
    groups: GroupSet,
    previous_upper: Mapping[str, Mapping[datetime, float]],
    *,
    points: int,
) -> list[GroupObservation]:
    """One observation per group with demand: its last ``points`` + 1 steps.

    ``group_demand``: ``series_id, ts, y`` (Gbps); ``allowance``: ``resource_id, ts, value``
    (counters summed per group); ``previous_upper``: group -> ts -> upper quantile forecast."""
    owner = {m: g.id for g in groups.groups for m in g.members}
    counters: dict[str, dict[datetime, float]] = {}
    if allowance.height:
        for rid, ts, value in allowance.select("resource_id", "ts", "value").iter_rows():
            gid = owner.get(rid)
            if gid is not None:
                per = counters.setdefault(gid, {})
                per[ts] = per.get(ts, 0.0) + float(value)
    out: list[GroupObservation] = []
    for part in group_demand.sort("ts").partition_by("series_id"):
        gid = str(part["series_id"][0])
        tail = part.tail(points + 1)
        times = tuple(tail["ts"].to_list())
        upper = previous_upper.get(gid, {})
        mine = counters.get(gid, {})
        out.append(
            GroupObservation(
                group_id=gid,
                times=times,
                demand_gbps=tuple(float(v) for v in tail["y"].to_list()),
                allowance_exceeded=tuple(mine.get(t, 0.0) for t in times) if mine else (),
                forecast_upper_gbps=tuple(upper.get(t) for t in times) if upper else (),
            )
        )
    return out


def run_remediation(
    observations: Sequence[GroupObservation],
    allocation: Allocation,
    drift: Mapping[str, float],
    breaker_state: Mapping[str, object] | None,
    cfg: RemediationConfig,
) -> RemediationResult:
    """Remediation's response, its corrected allocation restated (``corrected_view``): pools and
    ledgers re-derived from the corrected group grants, as they will be recorded."""
    breaker = CircuitBreaker.from_json(cfg, dict(breaker_state or {}))  # type: ignore[arg-type]
    result = remediate(observations, allocation, dict(drift), breaker, cfg)
    if result.allocation is None:
        return result
    return replace(result, allocation=corrected_view(result.allocation))
