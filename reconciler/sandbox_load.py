"""The sandbox's load from its requests: what an ALB-fronted app's flows and metrics carry.

A real fleet's bytes between a load balancer and its targets are its requests' bytes, and its
instances' CPU follows the requests they serve. With request logs on, the sandbox is made to
agree with them, per bucket of the flow grid (``reconciler.sandbox`` applies it):

- load balancer -> target flows carry the received + sent bytes of the requests that target
  served, plus ``PROTOCOL_OVERHEAD`` (TCP/IP and TLS framing); the client -> load balancer flow
  carries all of the load balancer's requests' bytes the same way;
- the app's other flows (tiers behind, database, DNS, NAT, S3) cost a fixed number of bytes per
  request (``AppLoad.volume``: the edge's configured rate at the demand shape's mean, spread
  over the mean request count), times the flows' usual noise;
- CPU is an idle ``CPU_IDLE`` % plus a cost per request, an API call ``API_CPU_WEIGHT`` times a
  static one (static answers come from the first tier; API calls also reach the tiers behind),
  scaled so an instance averages ``CPU_IDLE + CPU_AT_MEAN`` % at its mean load; memory is a
  slow (``MEMORY_HALF_LIFE_S``) average of the same load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.signal import lfilter, lfilter_zi

from reconciler.sandbox_traffic import AlbSite

__all__ = [
    "API_CPU_WEIGHT",
    "CPU_AT_MEAN",
    "CPU_IDLE",
    "MEMORY_AT_MEAN",
    "MEMORY_HALF_LIFE_S",
    "MEMORY_IDLE",
    "PROTOCOL_OVERHEAD",
    "AppLoad",
    "app_loads",
    "instance_metrics",
]

#: TCP/IP headers and TLS records on top of a request's HTTP bytes (~40 B per 1,448 B segment
#: plus ~29 B per 16 KB record, rounded up): flows carry ``(1 + this) x`` the logged bytes.
PROTOCOL_OVERHEAD = 0.04
#: An API call costs this many times the CPU of a static request.
API_CPU_WEIGHT = 4.0
#: CPU % of an idle instance, and what its mean request load adds.
CPU_IDLE, CPU_AT_MEAN = 5.0, 30.0
#: Memory % of an idle instance, what its mean load adds, and how slowly it follows the load.
MEMORY_IDLE, MEMORY_AT_MEAN, MEMORY_HALF_LIFE_S = 30.0, 20.0, 1800.0
_CPU_NOISE = 0.05  # lognormal sigma of a CPU reading


@dataclass(frozen=True)
class AppLoad:
    """One ALB-fronted app's requests per bucket of the flow grid (``start + k * step`` epoch
    seconds): per target (``targets``, rows of the arrays) requests, API calls among them,
    received + sent bytes, and the sum of target processing times (seconds)."""

    start: int
    step: int
    targets: tuple[str, ...]
    requests: np.ndarray  # (targets, buckets)
    api: np.ndarray
    nbytes: np.ndarray
    target_s: np.ndarray

    def wire_bytes(self, target: str | None = None) -> np.ndarray:
        """Bytes on the wire per bucket: ``target``'s requests', or (None) all of them."""
        raw = self.nbytes.sum(axis=0) if target is None else self.nbytes[self.targets.index(target)]
        return np.rint(raw * (1.0 + PROTOCOL_OVERHEAD)).astype(np.int64)

    def volume(self, shape_mean: float) -> np.ndarray:
        """The app's requests per bucket as a multiple of the demand shape: an edge that
        carried ``mbps x shape`` now carries ``mbps x volume`` (the same mean, ``shape_mean``,
        when the app has requests; the per-request cost is ``mbps x shape_mean / mean count``)."""
        total = self.requests.sum(axis=0).astype(np.float64)
        mean = float(total.mean()) if total.size else 0.0
        return total / mean * shape_mean if mean > 0 else np.zeros_like(total)

    def latency_s(self) -> np.ndarray:
        """Mean target processing time per bucket (NaN without requests)."""
        n = self.requests.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, self.target_s.sum(axis=0) / n, np.nan)


def app_loads(
    alb: pl.DataFrame, albs: Sequence[AlbSite], start: int, buckets: int, step: int
) -> dict[str, AppLoad]:
    """ALB request rows (``sandbox_traffic.Traffic.alb``) -> each fronted app's ``AppLoad`` on
    the grid ``start + k * step`` (``k < buckets``), by the request's creation time (what the
    parsed log's ``ts`` is). Requests outside the grid are left out."""
    slot = ((pl.col("created") - start) // step).cast(pl.Int64)
    rows = (
        alb.select(
            "alb",
            "target_ip",
            slot.alias("slot"),
            pl.col("path").str.contains("/api/", literal=True).cast(pl.Int64).alias("api"),
            (pl.col("received") + pl.col("sent")).cast(pl.Int64).alias("nbytes"),
            "target_s",
        )
        .filter((pl.col("slot") >= 0) & (pl.col("slot") < buckets))
        .group_by("alb", "target_ip", "slot")
        .agg(
            pl.len().alias("requests"),
            pl.col("api").sum(),
            pl.col("nbytes").sum(),
            pl.col("target_s").sum(),
        )
    )
    out: dict[str, AppLoad] = {}
    for site in albs:
        arrays = {k: np.zeros((len(site.targets), buckets)) for k in ("r", "a", "b", "t")}
        mine = rows.filter(pl.col("alb") == site.name)
        index = {ip: i for i, ip in enumerate(site.targets)}
        for ip, k, n, api, nbytes, secs in mine.select(
            "target_ip", "slot", "requests", "api", "nbytes", "target_s"
        ).iter_rows():
            i = index[ip]
            arrays["r"][i, k], arrays["a"][i, k] = n, api
            arrays["b"][i, k], arrays["t"][i, k] = nbytes, secs
        out[site.app] = AppLoad(
            start,
            step,
            site.targets,
            arrays["r"].astype(np.int64),
            arrays["a"].astype(np.int64),
            arrays["b"].astype(np.int64),
            arrays["t"],
        )
    return out


def instance_metrics(
    load: AppLoad, tiers: Sequence[Sequence[tuple[str, str]]], rng: np.random.Generator
) -> pl.DataFrame:
    """``instance_id, start, cpu, memory`` (percent) per bucket for an app's instances
    (``tiers``: (instance id, address) per tier, the first tier being the ALB's targets)."""
    units = API_CPU_WEIGHT * load.api + (load.requests - load.api)  # (targets, buckets)
    api_total = load.api.sum(axis=0)
    alpha = 1.0 - 0.5 ** (load.step / MEMORY_HALF_LIFE_S)
    ids: list[str] = []
    starts: list[np.ndarray] = []
    cpu: list[np.ndarray] = []
    memory: list[np.ndarray] = []
    grid = load.start + load.step * np.arange(units.shape[1], dtype=np.int64)
    for depth, tier in enumerate(tiers):
        if depth == 0:
            own = np.stack([units[load.targets.index(ip)] for _, ip in tier]).astype(np.float64)
        else:  # API calls only, shared evenly across the tier
            share = API_CPU_WEIGHT * api_total / max(1, len(tier))
            own = np.tile(share.astype(np.float64), (len(tier), 1))
        mean = float(own.mean()) if own.size else 0.0
        relative = own / mean if mean > 0 else np.zeros_like(own)
        noise = rng.lognormal(0.0, _CPU_NOISE, size=own.shape)
        b, a = [alpha], [1.0, alpha - 1.0]  # y[k] = alpha x[k] + (1 - alpha) y[k-1]
        slow, _ = lfilter(b, a, relative, axis=1, zi=lfilter_zi(b, a)[None, :] * relative[:, :1])
        for (rid, _), rel, jitter, smooth in zip(tier, relative, noise, slow, strict=True):
            ids.append(rid)
            starts.append(grid)
            cpu.append(np.minimum(100.0, CPU_IDLE + CPU_AT_MEAN * rel * jitter))
            memory.append(np.minimum(95.0, MEMORY_IDLE + MEMORY_AT_MEAN * smooth))
    n = units.shape[1]
    return pl.DataFrame(
        {
            "instance_id": [rid for rid in ids for _ in range(n)],
            "start": np.concatenate(starts) if starts else np.zeros(0, np.int64),
            "cpu": np.concatenate(cpu) if cpu else np.zeros(0),
            "memory": np.concatenate(memory) if memory else np.zeros(0),
        },
        schema={
            "instance_id": pl.String,
            "start": pl.Int64,
            "cpu": pl.Float64,
            "memory": pl.Float64,
        },
    )
