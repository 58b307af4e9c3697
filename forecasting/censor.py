"""Censored bandwidth: steps where what was measured is a floor of the demand, and its correction.

Traffic that hits a cap flat-tops: what the meters show is what got through, not what was asked
for. A model fitted on it learns the cap, and a forecast scored on it is judged against the cap
(issue 14, "censored demand"). A member's bandwidth step is **censored** when

- an ENA allowance-exceeded counter (``bw_in``, ``bw_out`` or ``pps``) rose in it: the instance
  shaped or dropped packets, the evidence AWS documents for a bandwidth cap; or
- it ran at its instance type's cap: at least ``CAP_FRACTION`` of ``peak_gbps`` (the burst
  figure, which no instance exceeds; the sustained baseline is exceeded by bursts, so it is not
  a cap by itself).

A group's step is censored when any member's is. Before fitting, a censored step's value is
raised to the median of the same time of day on up to ``REFERENCE_DAYS`` previous days that were
not censored, and never lowered (the measurement is a lower bound of the demand). A censored step
without such a reference keeps its measured value and is counted as ``uncorrected``. Scoring
leaves censored steps out: a miss there cannot be measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from providers.models import MetricName

__all__ = [
    "ALLOWANCE_COUNTERS",
    "CAP_FRACTION",
    "Censoring",
    "censor_groups",
    "censored_members",
]

#: The ENA counters that count packets shaped by an allowance (CloudWatch agent ``ethtool``).
ALLOWANCE_COUNTERS: tuple[str, ...] = (
    str(MetricName.BW_IN_ALLOWANCE_EXCEEDED),
    str(MetricName.BW_OUT_ALLOWANCE_EXCEEDED),
    str(MetricName.PPS_ALLOWANCE_EXCEEDED),
)
#: A member at or above this fraction of its type's ``peak_gbps`` in a step is at its cap.
CAP_FRACTION = 0.95
#: How many previous days' same time of day are the reference for a censored step.
REFERENCE_DAYS = 7

_TS = pl.Datetime("us", "UTC")
_MEMBER_SCHEMA = pl.Schema({"resource_id": pl.String(), "ts": _TS, "reason": pl.String()})
_CENSORED_SCHEMA = pl.Schema(
    {
        "group_id": pl.String(),
        "ts": _TS,
        "observed": pl.Float64(),
        "reference": pl.Float64(),
        "corrected": pl.Float64(),
    }
)


def censored_members(
    points: pl.DataFrame,
    resource_gbps: pl.DataFrame,
    capacity: pl.DataFrame | None,
    step: timedelta,
) -> pl.DataFrame:
    """``resource_id, ts, reason`` of every member step whose bandwidth was capped.

    ``points``: stored metric points (``resource_id, metric, ts, value``), of which the
    allowance counters are read; ``resource_gbps``: ``resource_id, ts, gbps`` on the step grid;
    ``capacity``: ``resource_id, peak_gbps`` (``forecasting.demand.member_capacity``)."""
    every = f"{int(step.total_seconds())}s"
    parts: list[pl.DataFrame] = []
    if points.height:
        counters = points.filter(pl.col("metric").is_in(ALLOWANCE_COUNTERS))
        if "stat" in counters.columns:
            counters = counters.filter(pl.col("stat") == "Sum")
        parts.append(
            counters.filter(pl.col("value") > 0)
            .select(
                "resource_id",
                pl.col("ts").cast(_TS).dt.truncate(every).alias("ts"),
                pl.lit("allowance_exceeded").alias("reason"),
            )
            .unique(["resource_id", "ts"])
        )
    if capacity is not None and "peak_gbps" in capacity.columns and resource_gbps.height:
        parts.append(
            resource_gbps.join(capacity.select("resource_id", "peak_gbps"), on="resource_id")
            .filter(
                (pl.col("peak_gbps") > 0) & (pl.col("gbps") >= CAP_FRACTION * pl.col("peak_gbps"))
            )
            .select(
                "resource_id", pl.col("ts").cast(_TS), pl.lit("at_instance_cap").alias("reason")
            )
        )
    if not parts:
        return pl.DataFrame(schema=_MEMBER_SCHEMA)
    return (
        pl.concat([p.cast(_MEMBER_SCHEMA) for p in parts])
        .unique(["resource_id", "ts"], keep="first", maintain_order=True)
        .sort("resource_id", "ts")
    )


@dataclass(frozen=True)
class Censoring:
    """The censored group steps of one bandwidth series set: measured and corrected values."""

    steps: pl.DataFrame  # group_id, ts, observed, reference (null: none), corrected

    @property
    def uncorrected(self) -> int:
        """Censored steps with no uncensored reference: their measured value stands."""
        return self.steps.filter(pl.col("reference").is_null()).height

    def summary(self) -> dict[str, int]:
        return {
            "censored_steps": self.steps.height,
            "censored_groups": self.steps.select("group_id").n_unique() if self.steps.height else 0,
            "censored_uncorrected": self.uncorrected,
        }


def censor_groups(
    series: pl.DataFrame, members: pl.DataFrame, censored: pl.DataFrame
) -> tuple[pl.DataFrame, Censoring]:
    """``series`` (``group_id, ts, y``: each group's bandwidth) with censored steps corrected.

    ``members``: ``resource_id, group_id``; ``censored``: ``censored_members``' frame."""
    empty = Censoring(pl.DataFrame(schema=_CENSORED_SCHEMA))
    if series.height == 0 or censored.height == 0 or members.height == 0:
        return series, empty
    hit = (
        censored.join(members, on="resource_id")
        .select("group_id", "ts")
        .unique()
        .join(series.select("group_id", "ts", "y"), on=["group_id", "ts"])
    )
    if hit.height == 0:
        return series, empty
    clean = series.join(hit.select("group_id", "ts"), on=["group_id", "ts"], how="anti")
    lags = pl.DataFrame({"lag_days": list(range(1, REFERENCE_DAYS + 1))})
    reference = (
        hit.select("group_id", "ts")
        .join(lags, how="cross")
        .with_columns(
            (pl.col("ts") - pl.duration(days=pl.col("lag_days"))).cast(_TS).alias("ref_ts")
        )
        .join(
            clean.select("group_id", pl.col("ts").alias("ref_ts"), pl.col("y").alias("ref")),
            on=["group_id", "ref_ts"],
        )
        .group_by("group_id", "ts")
        .agg(pl.col("ref").median())
    )
    steps = (
        hit.join(reference, on=["group_id", "ts"], how="left")
        .select(
            "group_id",
            "ts",
            pl.col("y").alias("observed"),
            pl.col("ref").alias("reference"),
            pl.max_horizontal("y", pl.col("ref").fill_null(pl.col("y"))).alias("corrected"),
        )
        .cast(_CENSORED_SCHEMA)
        .sort("group_id", "ts")
    )
    corrected = (
        series.join(steps.select("group_id", "ts", "corrected"), on=["group_id", "ts"], how="left")
        .with_columns(pl.coalesce("corrected", "y").alias("y"))
        .drop("corrected")
    )
    return corrected, Censoring(steps)
