"""Bandwidth replay input: per-group demand rates (Gbps) on a regular 5-minute grid.

Two sources: a traffic matrix in long form (``time,src,dst,mbit_per_s``, e.g. SNDlib Abilene's
``*_tm_long.csv.gz``; each origin-destination flow a group, its origin PoP the region; a pair
absent at a time sent nothing), and the network demand of the compute replay's applications
(Bitbrains: each application a group in its region).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from reconciler.simulate.trace import AppTrace

__all__ = ["FlowTrace", "find_matrices", "from_apps", "load_matrix", "longest_run"]

_STEP = "5m"


@dataclass(frozen=True)
class FlowTrace:
    """Demand per group in Gbps, ``(n_groups, n_steps)``, each step 5 minutes."""

    name: str
    ts: np.ndarray  # datetime64[us], UTC, naive
    groups: list[str]
    regions: list[str]
    gbps: np.ndarray
    step_s: int = 300

    @property
    def n_steps(self) -> int:
        return int(self.ts.shape[0])

    def at(self, t: int) -> datetime:
        """Start of step ``t`` as an aware UTC datetime."""
        us = int(self.ts[t].astype("datetime64[us]").astype(np.int64))
        return datetime.fromtimestamp(us / 1e6, tz=UTC)

    def long_frame(self, start: int, end: int, metric: str = "network_gbps") -> pl.DataFrame:
        """``group_id, metric, ts, y`` for steps ``[start, end)`` (the forecast step's input)."""
        n = end - start
        ts = pl.Series("ts", np.tile(self.ts[start:end], len(self.groups)))
        return pl.DataFrame(
            {
                "group_id": np.repeat(np.asarray(self.groups), n),
                "metric": metric,
                "ts": ts.dt.replace_time_zone("UTC"),
                "y": self.gbps[:, start:end].reshape(-1),
            }
        )

    def head(self, steps: int, groups: int | None = None) -> FlowTrace:
        """The first ``steps`` steps of the ``groups`` busiest groups (all when None)."""
        keep = np.arange(len(self.groups))
        if groups is not None and groups < len(self.groups):
            keep = np.sort(np.argsort(-self.gbps[:, :steps].sum(axis=1), kind="stable")[:groups])
        return FlowTrace(
            name=self.name,
            ts=self.ts[:steps],
            groups=[self.groups[i] for i in keep],
            regions=[self.regions[i] for i in keep],
            gbps=self.gbps[keep, :steps],
            step_s=self.step_s,
        )


def longest_run(trace: FlowTrace) -> FlowTrace:
    """The longest stretch of steps in which some group has data: a step where the whole matrix
    is empty is a measurement gap (Abilene's 18 days in March-April 2004), not idle traffic."""
    seen = trace.gbps.sum(axis=0) > 0
    best, start = (0, 0), None
    for t, ok in enumerate([*seen.tolist(), False]):
        if ok and start is None:
            start = t
        elif not ok and start is not None:
            if t - start > best[1] - best[0]:
                best = (start, t)
            start = None
    lo, hi = best
    return FlowTrace(
        trace.name, trace.ts[lo:hi], trace.groups, trace.regions, trace.gbps[:, lo:hi], trace.step_s
    )


def find_matrices(data: Path) -> list[Path]:
    """Every ``*_tm_long.csv.gz`` under ``data``, sorted."""
    return sorted(data.rglob("*_tm_long.csv.gz"))


def load_matrix(path: Path) -> FlowTrace:
    """A long-form traffic matrix as one group per origin-destination pair (region = origin),
    on a 5-minute grid (samples within a step averaged); a pair missing at a time sent
    nothing."""
    frame = pl.read_csv(path, try_parse_dates=True)
    need = {"time", "src", "dst", "mbit_per_s"}
    if not need <= set(frame.columns):
        raise ValueError(f"{path}: columns {sorted(frame.columns)}, need {sorted(need)}")
    frame = frame.filter(pl.col("src") != pl.col("dst")).with_columns(
        pl.col("time").cast(pl.Datetime("us")).dt.truncate(_STEP),
        (pl.col("src") + "->" + pl.col("dst")).alias("group"),
    )
    first, last = frame["time"].min(), frame["time"].max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    grid = pl.datetime_range(first, last, interval=_STEP, eager=True, time_unit="us")
    pairs = frame.select("group", "src").unique().sort("group")
    groups = pairs["group"].to_list()
    row = {g: i for i, g in enumerate(groups)}
    col = {t: i for i, t in enumerate(grid.dt.epoch("us").to_list())}
    gbps = np.zeros((len(groups), grid.len()))
    # several samples of a pair in one 5-minute step average; a step with none stays 0
    means = frame.group_by("group", "time").agg(pl.col("mbit_per_s").mean())
    for g, t, mbit in means.with_columns(pl.col("time").dt.epoch("us")).iter_rows():
        gbps[row[g], col[t]] = mbit / 1000.0
    return FlowTrace(
        name=path.name.removesuffix("_tm_long.csv.gz"),
        ts=grid.to_numpy(),
        groups=groups,
        regions=pairs["src"].to_list(),
        gbps=gbps,
    )


def from_apps(trace: AppTrace, name: str = "bitbrains-net") -> FlowTrace:
    """The compute replay's applications as bandwidth groups (their network demand)."""
    return FlowTrace(
        name=name,
        ts=trace.ts,
        groups=list(trace.apps),
        regions=list(trace.regions),
        gbps=np.asarray(trace.demand["network_gbps"], dtype=float),
        step_s=trace.step_s,
    )
