"""Replay input: Bitbrains per-VM traces turned into per-application demand on a 5-minute grid.

Every month folder under ``<data>/bitbrains_rnd/`` is read (through ``forecasting.datasets``),
resampled to 5 minutes, and each VM is assigned to an application and each application to a
region deterministically (CRC32 of the VM id), so every run replays the same fleet. Demand per
application is the sum over its VMs of CPU (vCPU), memory (GiB) and network (Gbps).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["METRICS", "MHZ_PER_VCPU", "AppTrace", "assign_vm", "load_trace"]

#: Bitbrains reports CPU in MHz; its hosts provision 5851.9989 MHz per 2 cores.
MHZ_PER_VCPU = 5851.9989 / 2
#: Demand metrics per application, in planner units.
METRICS = ("cpu_vcpu", "memory_gib", "network_gbps")
_KB = 1024.0


@dataclass(frozen=True)
class AppTrace:
    """Demand per application: arrays shaped ``(n_apps, n_steps)`` on a regular grid."""

    ts: np.ndarray  # datetime64[us], UTC
    apps: list[str]
    regions: list[str]  # region of each app
    demand: dict[str, np.ndarray]  # metric -> (n_apps, n_steps)
    vms: dict[str, list[str]]  # app -> VM ids
    step_s: int = 300

    @property
    def n_steps(self) -> int:
        return int(self.ts.shape[0])

    def start(self) -> datetime:
        return _to_datetime(self.ts[0])

    def long_frame(self, metric: str, upto: int | None = None) -> pl.DataFrame:
        """``series_id, ts, y`` for ``metric`` (series id = app), steps ``[0, upto)``."""
        end = self.n_steps if upto is None else upto
        values = self.demand[metric][:, :end]
        ts = pl.Series("ts", self.ts[:end]).dt.replace_time_zone("UTC")
        frames = [
            pl.DataFrame({"series_id": app, "ts": ts, "y": values[i]})
            for i, app in enumerate(self.apps)
        ]
        return pl.concat(frames)

    def window(self, start: int, end: int) -> AppTrace:
        return AppTrace(
            ts=self.ts[start:end],
            apps=self.apps,
            regions=self.regions,
            demand={m: v[:, start:end] for m, v in self.demand.items()},
            vms=self.vms,
            step_s=self.step_s,
        )


def _to_datetime(value: np.datetime64) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(value.astype("datetime64[us]").astype(np.int64) / 1e6, tz=UTC)


def assign_vm(vm: str, n_apps: int) -> int:
    """Application index of a VM: stable across runs and machines."""
    return zlib.crc32(vm.encode()) % n_apps


def load_trace(
    data: Path,
    *,
    n_apps: int = 8,
    regions: Sequence[str] = ("eu-west-1", "us-east-1"),
    max_vms: int | None = None,
    days: float | None = None,
) -> AppTrace:
    """Load every month under ``data/bitbrains_rnd`` into per-application demand.

    ``days`` keeps only the first days of the trace (read before resampling, to save time).
    """
    from forecasting.datasets import load_bitbrains
    from forecasting.resample import resample

    root = data / "bitbrains_rnd"
    if not root.is_dir() or not any(p.is_dir() for p in root.iterdir()):
        raise FileNotFoundError(f"no month folders under {root}")
    loaded = load_bitbrains(data, max_vms=max_vms)
    if loaded.frame.height == 0:
        raise ValueError(f"{root}: no usable rows ({loaded.rejected.height} files rejected)")
    wanted = ["cpu_usage", "memory_usage", "net_rx", "net_tx"]
    frame = loaded.frame.filter(pl.col("series_id").str.split("/").list.get(3).is_in(wanted))
    if days is not None:
        cutoff = frame["ts"].min() + timedelta(days=days)  # type: ignore[operator]
        frame = frame.filter(pl.col("ts") < cutoff)
    regular = resample(frame, "5m").frame
    parts = regular.with_columns(
        pl.col("series_id").str.split("/").list.get(1).alias("month"),
        pl.col("series_id").str.split("/").list.get(2).alias("vm_id"),
        pl.col("series_id").str.split("/").list.get(3).alias("metric"),
    ).with_columns((pl.col("month") + "/" + pl.col("vm_id")).alias("vm"))
    vms = sorted(parts["vm"].unique().to_list())
    app_names = [f"app-{i:02d}" for i in range(n_apps)]
    app_of = {vm: app_names[assign_vm(vm, n_apps)] for vm in vms}
    # gaps longer than resampling fills: hold the last value, then zero before a VM starts
    parts = (
        parts.sort("series_id", "ts")
        .with_columns(pl.col("y").forward_fill().over("series_id").fill_null(0.0))
        .with_columns(pl.col("vm").replace_strict(app_of).alias("app"))
    )
    first, last = parts["ts"].min(), parts["ts"].max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    grid: pl.Series = pl.datetime_range(
        first, last, interval="5m", eager=True, time_zone="UTC"
    ).alias("ts")
    n_steps = grid.len()
    summed = parts.group_by("app", "metric", "ts").agg(pl.col("y").sum())
    demand = {m: np.zeros((n_apps, n_steps)) for m in METRICS}
    index = {t: i for i, t in enumerate(grid.dt.epoch("us").to_list())}
    app_idx = {a: i for i, a in enumerate(app_names)}
    scale = {
        "cpu_usage": ("cpu_vcpu", 1 / MHZ_PER_VCPU),
        "memory_usage": ("memory_gib", 1 / (_KB * _KB)),
        "net_rx": ("network_gbps", _KB * 8 / 1e9),
        "net_tx": ("network_gbps", _KB * 8 / 1e9),
    }
    for app, metric, ts_us, y in summed.with_columns(pl.col("ts").dt.epoch("us")).iter_rows():
        name, factor = scale[metric]
        demand[name][app_idx[app], index[ts_us]] += y * factor
    members: dict[str, list[str]] = {a: [] for a in app_names}
    for vm in vms:
        members[app_of[vm]].append(vm)
    return AppTrace(
        ts=grid.dt.replace_time_zone(None).to_numpy(),
        apps=app_names,
        regions=[regions[i % len(regions)] for i in range(n_apps)],
        demand=demand,
        vms=members,
    )
