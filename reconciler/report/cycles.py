"""A log of cycles (reports and step outputs) turned into the report's data.

The demo (and anyone running several cycles in one process) sets ``CycleLog.observe`` as the
context's observer; afterwards the log gives the allocations per cycle, the forecasts each cycle
made for the interval until the next one, and which allocation was in force at any time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from reconciler.loop import CycleOutputs, RunReport
from reconciler.steps.allocate import BANDWIDTH_METRIC
from reconciler.steps.types import Allocation

__all__ = ["CycleLog"]

_TS = pl.Datetime("us", "UTC")


@dataclass
class CycleLog:
    reports: list[RunReport] = field(default_factory=list)
    outputs: list[CycleOutputs] = field(default_factory=list)

    def observe(self, report: RunReport, outputs: CycleOutputs) -> None:
        self.reports.append(report)
        self.outputs.append(outputs)

    def good(self) -> list[tuple[RunReport, CycleOutputs]]:
        return [(r, o) for r, o in zip(self.reports, self.outputs, strict=True) if r.ok]

    def allocations(self) -> list[Allocation]:
        """The allocation each good cycle left in force (after remediation's corrections)."""
        out = []
        for _, o in self.good():
            final = o.remediation.allocation if o.remediation is not None else None
            alloc = final or o.allocation
            if alloc is not None:
                out.append(alloc)
        return out

    def rolling_forecasts(self, metric: str = BANDWIDTH_METRIC) -> pl.DataFrame:
        """Each cycle's near-term forecast for the steps up to the next cycle (and the last
        cycle's whole near term): one band over the span the cycles covered. The look-ahead
        model's hourly peaks are left out: they are not a band at the grid's resolution."""
        starts = [r.started_at for r, _ in self.good()]
        frames = []
        for i, (_, o) in enumerate(self.good()):
            if o.forecasts is None:
                continue
            f = o.forecasts.near_term().filter(pl.col("metric") == metric)
            if i + 1 < len(starts):
                f = f.filter(pl.col("ts") <= starts[i + 1])
            frames.append(f.select("group_id", "ts", "p50", "p90", "p99"))
        if not frames:
            return pl.DataFrame(
                schema={
                    "group_id": pl.String,
                    "ts": _TS,
                    "p50": pl.Float64,
                    "p90": pl.Float64,
                    "p99": pl.Float64,
                }
            )
        return pl.concat(frames).unique(["group_id", "ts"], keep="last").sort("group_id", "ts")

    def in_force(self, demand: pl.DataFrame) -> pl.DataFrame:
        """``demand`` (``group_id, ts, demand_gbps``) with ``allocated_gbps``: the allocation
        of the latest cycle at or before each ``ts`` (rows before the first cycle dropped)."""
        rows: list[tuple[datetime, str, float]] = []
        for alloc in self.allocations():
            rows += [(alloc.at, g, v) for g, v in alloc.groups.items()]
        if not rows:
            return demand.with_columns(pl.lit(0.0).alias("allocated_gbps")).head(0)
        table = pl.DataFrame(
            rows,
            schema={"at": _TS, "group_id": pl.String, "allocated_gbps": pl.Float64},
            orient="row",
        ).sort("at")
        return (
            demand.with_columns(pl.col("ts").cast(_TS))
            .sort("ts")
            .join_asof(  # both sides are sorted by time above, so within each group too
                table,
                left_on="ts",
                right_on="at",
                by="group_id",
                strategy="backward",
                check_sortedness=False,
            )
            .drop_nulls("allocated_gbps")
            .drop("at")
            .sort("group_id", "ts")
        )
