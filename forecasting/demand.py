"""Demand series: stored CloudWatch points and instance capacity -> per-member, per-group series.

Each demand metric (the keys of ``DEMAND_SOURCES``; the planner reads them by the same names) is
read from the stored points per member on the step grid (``resource_demand``), then combined per
group (``group_demand``: summed, or the slowest member's for latency). Percentages are converted
with the member's instance type (``member_capacity``). ``build_demand`` does all of it for one
cycle, with bandwidth from the flow logs instead of CloudWatch when asked (``flow_gbps``).

- ``network_gbps``: NetworkIn + NetworkOut (bytes per period) -> Gbps; summed over members.
- ``cpu_vcpu``: CPUUtilization (Average, percent) x the member type's vCPU / 100; summed.
- ``memory_gib``: mem_used_percent (CWAgent, Average) x the type's memory / 100; summed.
- ``io_mbps``: EBSReadBytes + EBSWriteBytes (bytes per period) -> MB/s (10^6); summed.
- ``latency_ms``: TargetResponseTime (Average, seconds; a load balancer's) -> ms; the group's
  value is the *max* over members (the slowest member is what callers wait for; a sum or mean
  would hide it). A group without a load balancer has no latency series.

A metric a group has no points for is absent for that group, never invented. Percentages are
converted with the member's current type (inventory + catalog); a member of unknown type adds
nothing to CPU or memory, and its points from before its last launch are not converted (a resize
is a stop/start, which resets the launch time: those points were measured on another type).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import polars as pl

from forecasting.censor import Censoring, censor_groups, censored_members
from providers.models import MetricName, Resource

__all__ = [
    "DEMAND_SOURCES",
    "NETWORK_GBPS",
    "SOURCE_METRICS",
    "TOTAL_METRICS",
    "Demand",
    "DemandSource",
    "GroupMembers",
    "build_demand",
    "flow_gbps",
    "group_demand",
    "group_series",
    "member_capacity",
    "resource_demand",
    "to_gbps",
]

_TS = pl.Datetime("us", "UTC")
#: The bandwidth metric: what allocation divides and flow logs can stand in for.
NETWORK_GBPS = "network_gbps"


class _Group(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def members(self) -> Sequence[str]: ...


class GroupMembers(Protocol):
    """What demand is combined over: groups with an ``id`` and ``members`` (resource ids), as
    the reconciler's ``GroupSet`` has them."""

    @property
    def groups(self) -> Sequence[_Group]: ...


@dataclass(frozen=True)
class DemandSource:
    """How one planner metric is read from stored points of one resource and step.

    ``per`` says what the points are: ``"period"`` totals (summed over ``sources`` and the step,
    times ``scale`` per second), ``"vcpu"`` / ``"memory"`` percentages of the member's type
    (averaged), or ``"level"`` readings (averaged, times ``scale``). ``members`` is how a group
    combines its members.
    """

    sources: tuple[MetricName, ...]
    stat: str
    per: str  # "period" | "vcpu" | "memory" | "level"
    scale: float = 1.0
    members: str = "sum"  # "sum" | "max"


#: Demand metric -> how it is read. The names are the planner's (``PlanMetric`` values).
DEMAND_SOURCES: dict[str, DemandSource] = {
    NETWORK_GBPS: DemandSource(
        (MetricName.NETWORK_IN, MetricName.NETWORK_OUT), "Sum", "period", 8 / 1e9
    ),
    "cpu_vcpu": DemandSource((MetricName.CPU_UTILIZATION,), "Average", "vcpu"),
    "memory_gib": DemandSource((MetricName.MEMORY_USED_PERCENT,), "Average", "memory"),
    "io_mbps": DemandSource(
        (MetricName.EBS_READ_BYTES, MetricName.EBS_WRITE_BYTES), "Sum", "period", 1e-6
    ),
    "latency_ms": DemandSource(
        (MetricName.TARGET_RESPONSE_TIME,), "Average", "level", 1000.0, members="max"
    ),
}
#: Every stored metric the demand series are built from (what to read from the history).
SOURCE_METRICS: tuple[str, ...] = tuple(str(s) for d in DEMAND_SOURCES.values() for s in d.sources)
#: Metrics whose missing steps mean nothing happened (0); the others keep their last level.
TOTAL_METRICS = frozenset(m for m, d in DEMAND_SOURCES.items() if d.per == "period")


def member_capacity(inventory: Sequence[Resource], catalog: Mapping[str, Any]) -> pl.DataFrame:
    """``resource_id, vcpu, memory_gib, peak_gbps, launched_at`` of every member whose type is
    in the catalog (``InstanceType`` entries): what CPU and memory percentages are converted
    with, and the bandwidth cap a member's traffic is censored at (``forecasting.censor``)."""
    rows = [
        (r.id, float(t.vcpu), float(t.memory_gib), float(t.peak_gbps), r.launched_at)
        for r in inventory
        if r.instance_type and (t := catalog.get(r.instance_type)) is not None
    ]
    return pl.DataFrame(
        rows,
        schema={
            "resource_id": pl.String,
            "vcpu": pl.Float64,
            "memory_gib": pl.Float64,
            "peak_gbps": pl.Float64,
            "launched_at": _TS,
        },
        orient="row",
    )


_DEMAND_SCHEMA = pl.Schema(
    {"resource_id": pl.String(), "metric": pl.String(), "ts": _TS, "value": pl.Float64()}
)
_GROUP_SCHEMA = pl.Schema(
    {"group_id": pl.String(), "metric": pl.String(), "ts": _TS, "y": pl.Float64()}
)


def resource_demand(
    points: pl.DataFrame, step: timedelta, capacity: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Stored points (``resource_id, metric, ts, value[, stat]``) -> ``resource_id, metric, ts,
    value`` per planner metric on the step grid (``DEMAND_SOURCES``). Without ``capacity``
    (``member_capacity``) CPU and memory are left out."""
    seconds = step.total_seconds()
    if points.height == 0:
        return pl.DataFrame(schema=_DEMAND_SCHEMA)
    base = points.lazy().with_columns(pl.col("ts").cast(_TS))
    has_stat = "stat" in points.columns
    parts: list[pl.LazyFrame] = []
    for metric, src in DEMAND_SOURCES.items():
        rows = base.filter(pl.col("metric").is_in([str(m) for m in src.sources]))
        if has_stat:
            rows = rows.filter(pl.col("stat") == src.stat)
        if src.per in ("vcpu", "memory"):
            if capacity is None:
                continue
            size = "vcpu" if src.per == "vcpu" else "memory_gib"
            rows = (
                rows.join(capacity.lazy(), on="resource_id", how="inner")
                .filter(pl.col("launched_at").is_null() | (pl.col("ts") >= pl.col("launched_at")))
                .with_columns((pl.col("value") / 100 * pl.col(size)).alias("value"))
            )
        if src.per == "period":
            value = pl.col("value").sum() * (src.scale / seconds)
        else:
            value = pl.col("value").mean() * src.scale
        parts.append(
            rows.with_columns(pl.col("ts").dt.truncate(f"{int(seconds)}s"))
            .group_by("resource_id", "ts")
            .agg(value.alias("value"))
            .select("resource_id", pl.lit(metric).alias("metric"), "ts", "value")
        )
    return pl.concat(parts).cast(_DEMAND_SCHEMA).collect()


def to_gbps(points: pl.DataFrame, step: timedelta) -> pl.DataFrame:
    """Network bytes per period -> ``resource_id, ts, gbps`` (in + out), on the step grid."""
    return _gbps(resource_demand(points, step))


def _gbps(resource: pl.DataFrame) -> pl.DataFrame:
    return resource.filter(pl.col("metric") == NETWORK_GBPS).select(
        "resource_id", "ts", pl.col("value").alias("gbps")
    )


def flow_gbps(series: pl.DataFrame, step: timedelta) -> pl.DataFrame:
    """Per-resource flow bytes in + out per bucket (``history.resource_series``) -> Gbps."""
    seconds = step.total_seconds()
    return series.select(
        pl.col("resource").alias("resource_id"),
        pl.col("window_start").cast(_TS).alias("ts"),
        ((pl.col("bytes_in") + pl.col("bytes_out")) * 8 / seconds / 1e9).alias("gbps"),
    )


def _members(groups: GroupMembers) -> pl.DataFrame:
    pairs = [(m, g.id) for g in groups.groups for m in g.members]
    return pl.DataFrame(
        pairs, schema={"resource_id": pl.String, "group_id": pl.String}, orient="row"
    )


def group_demand(resource: pl.DataFrame, groups: GroupMembers) -> pl.DataFrame:
    """``group_id, metric, ts, y``: each group's value per metric and step, combined over its
    members as ``DEMAND_SOURCES`` says (sum, or max for latency). A (group, metric) with no
    member points has no rows."""
    member = _members(groups)
    if member.height == 0 or resource.height == 0:
        return pl.DataFrame(schema=_GROUP_SCHEMA)
    joined = resource.lazy().join(member.lazy(), on="resource_id", how="inner")
    highest = [m for m, d in DEMAND_SOURCES.items() if d.members == "max"]
    by_max = pl.col("metric").is_in(highest)
    keys = ("group_id", "metric", "ts")
    parts = [
        joined.filter(~by_max).group_by(keys).agg(pl.col("value").sum()),
        joined.filter(by_max).group_by(keys).agg(pl.col("value").max()),
    ]
    return (
        pl.concat(parts)
        .rename({"value": "y"})
        .cast(_GROUP_SCHEMA)
        .select(list(_GROUP_SCHEMA))
        .sort(keys)
        .collect()
    )


def group_series(resource_gbps: pl.DataFrame, groups: GroupMembers) -> pl.DataFrame:
    """Long frame ``series_id, ts, y``: each group's total Gbps per step (members summed)."""
    member = _members(groups)
    if member.height == 0 or resource_gbps.height == 0:
        return pl.DataFrame(schema={"series_id": pl.String, "ts": _TS, "y": pl.Float64})
    return (
        resource_gbps.join(member, on="resource_id", how="inner")
        .group_by("group_id", "ts")
        .agg(pl.col("gbps").sum().alias("y"))
        .select(pl.col("group_id").alias("series_id"), pl.col("ts").cast(_TS), "y")
        .sort("series_id", "ts")
    )


@dataclass(frozen=True)
class Demand:
    """One cycle's demand: each member's bandwidth (``resource_id, ts, gbps``), each group's
    value per metric and step as measured (``measured``: ``group_id, metric, ts, y``;
    ``group_demand``) and as the forecaster fits it (``groups``: censored bandwidth steps
    corrected, ``forecasting.censor``), and which steps were censored (``censoring``)."""

    resource_gbps: pl.DataFrame
    groups: pl.DataFrame
    measured: pl.DataFrame
    censoring: Censoring

    @property
    def bandwidth(self) -> pl.DataFrame:
        """Each group's measured bandwidth in long form, ``series_id, ts, y`` (Gbps)."""
        return self.measured.filter(pl.col("metric") == NETWORK_GBPS).select(
            pl.col("group_id").alias("series_id"), "ts", "y"
        )

    @property
    def scorable(self) -> pl.DataFrame:
        """The measured demand forecasts are scored against: censored steps left out."""
        censored = self.censoring.steps.select("group_id", "ts").with_columns(
            pl.lit(NETWORK_GBPS).alias("metric")
        )
        return self.measured.join(censored, on=["group_id", "metric", "ts"], how="anti")


def build_demand(
    points: pl.DataFrame,
    step: timedelta,
    capacity: pl.DataFrame | None,
    groups: GroupMembers,
    flows: pl.DataFrame | None = None,
) -> Demand:
    """Stored points (``resource_demand``) and member ``capacity`` (``member_capacity``) ->
    per-member and per-group demand on the step grid. With ``flows`` (bytes in and out per
    member and bucket, ``flow_gbps``) bandwidth is the flow logs' instead of NetworkIn/Out.
    Bandwidth steps a cap censored (allowance counters among ``points``, or a member at its
    type's cap) are corrected in ``groups`` (``forecasting.censor``)."""
    resource = resource_demand(points, step, capacity)
    if flows is None:
        gbps = _gbps(resource)
    else:
        gbps = flow_gbps(flows, step)
        network = gbps.select(
            "resource_id",
            pl.lit(NETWORK_GBPS).alias("metric"),
            "ts",
            pl.col("gbps").alias("value"),
        )
        resource = pl.concat([resource.filter(pl.col("metric") != NETWORK_GBPS), network])
    measured = group_demand(resource, groups)
    censored = censored_members(points, gbps, capacity, step)
    is_bw = pl.col("metric") == NETWORK_GBPS
    corrected, censoring = censor_groups(
        measured.filter(is_bw).select("group_id", "ts", "y"), _members(groups), censored
    )
    fitted = (
        pl.concat(
            [
                measured.filter(~is_bw),
                corrected.select("group_id", pl.lit(NETWORK_GBPS).alias("metric"), "ts", "y"),
            ]
        )
        .cast(_GROUP_SCHEMA)
        .sort("group_id", "metric", "ts")
    )
    return Demand(gbps, fitted, measured, censoring)
