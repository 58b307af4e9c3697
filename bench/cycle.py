"""Benchmark: one full reconciler cycle at fleet scale, and API latency under load.

``python -m bench.cycle [--quick] [--resources N] [--groups G] [--out]``

1. A synthetic fleet (``synthetic_fleet``: N tagged instances in G applications plus a DNS hub,
   flow records for the last hours, NetworkIn/Out for several days with a daily pattern) is served
   by the ``FakeProvider``; the history store is preloaded (untimed), then ``run_once`` runs the
   real steps and is timed, per step. The peer is the limit: a 5-minute schedule (300 s) and the
   60 s goal.
2. ``headroom``'s API (``reconciler.api.create_app``) over the state that cycle wrote is served
   by uvicorn on loopback in a child process; a load generator in this process sends a fixed
   number of requests to the metrics endpoints at a fixed rate and reports p50/p99 latency.

Last line: ``cycle_seconds_10k: <s> (api p99 <ms> ms at <rps> rps)``.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from providers.fake import FakeProvider
from providers.models import (
    FLOW_SCHEMA,
    FlowChunk,
    InstanceType,
    MetricName,
    MetricSeries,
    NetworkInterface,
    ProviderName,
    Resource,
)

__all__ = ["FleetSpec", "main", "synthetic_fleet"]

STEP = timedelta(minutes=5)
_CATALOG = {
    name: InstanceType(
        name=name, vcpu=v, memory_gib=m, baseline_gbps=b, peak_gbps=p, hourly_price_usd=price
    )
    for name, v, m, b, p, price in [
        ("m6i.large", 2, 8, 0.781, 12.5, 0.096),
        ("m6i.xlarge", 4, 16, 1.562, 12.5, 0.192),
        ("m6i.2xlarge", 8, 32, 3.125, 12.5, 0.384),
        ("m6i.4xlarge", 16, 64, 6.25, 12.5, 0.768),
        ("m6i.8xlarge", 32, 128, 12.5, 12.5, 1.536),
        ("c6i.large", 2, 4, 0.781, 12.5, 0.085),
        ("c6i.xlarge", 4, 8, 1.562, 12.5, 0.17),
        ("c6i.2xlarge", 8, 16, 3.125, 12.5, 0.34),
        ("r6i.large", 2, 16, 0.781, 12.5, 0.126),
        ("r6i.xlarge", 4, 32, 1.562, 12.5, 0.252),
    ]
}


@dataclass(frozen=True)
class FleetSpec:
    resources: int = 60
    groups: int = 6
    regions: tuple[str, ...] = ("us-east-1",)
    metric_days: float = 3.5
    flow_hours: float = 2.0
    surge_group: int | None = 0  # this group's demand doubles over the last hour
    seed: int = 7


def _ip(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255 or 1}"


def synthetic_fleet(spec: FleetSpec, now: datetime) -> FakeProvider:
    """A fake account: instances in applications (tag ``app``), a DNS hub, flows and metrics."""
    rng = np.random.default_rng(spec.seed)
    per = max(1, spec.resources // spec.groups)
    resources: list[Resource] = []
    group_of: list[int] = []
    types = ["m6i.large", "m6i.xlarge", "c6i.large"]
    for i in range(spec.groups * per):
        g = i // per
        region = spec.regions[g % len(spec.regions)]
        rid = f"i-{i:08x}"
        resources.append(
            Resource(
                id=rid,
                provider=ProviderName.AWS,
                account="123456789012",
                region=region,
                zone=f"{region}a",
                instance_type=types[g % len(types)],
                tags={"app": f"app-{g:04d}", "Name": f"app-{g:04d}-{i % per}"},
                interfaces=(NetworkInterface(id=f"eni-{i:08x}", private_ips=(_ip(i + 10),)),),
            )
        )
        group_of.append(g)
    hub = len(resources)
    resources.append(
        Resource(
            id="i-dns",
            provider=ProviderName.AWS,
            account="123456789012",
            region=spec.regions[0],
            instance_type="c6i.large",
            tags={"Name": "dns", "role": "dns"},
            interfaces=(NetworkInterface(id="eni-dns", private_ips=(_ip(hub + 10),)),),
        )
    )
    level = rng.uniform(0.05, 1.5, spec.groups)  # Gbps per group at the daily peak
    return FakeProvider(
        resources=resources,
        catalog=dict(_CATALOG),
        series=_metrics(spec, resources[:hub], group_of, level, now, rng),
        chunks=_flows(spec, resources, group_of, level, now, per),
    )


def _pattern(ts: np.ndarray) -> np.ndarray:
    hours = (ts.astype("datetime64[s]").astype(np.int64) % 86400) / 3600.0
    day = ts.astype("datetime64[D]").astype(np.int64)
    weekly = np.where((day + 3) % 7 >= 5, 0.7, 1.0)  # weekends quieter
    return (0.55 + 0.45 * np.sin((hours - 8) / 24 * 2 * math.pi)) * weekly


def _metrics(
    spec: FleetSpec,
    resources: list[Resource],
    group_of: list[int],
    level: np.ndarray,
    now: datetime,
    rng: np.random.Generator,
) -> list[MetricSeries]:
    n = int(spec.metric_days * 86400 / STEP.total_seconds())
    end = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5)
    times = [end - STEP * (n - k) for k in range(n)]
    ts = np.array([t.replace(tzinfo=None) for t in times], dtype="datetime64[us]")
    shape = _pattern(ts)
    per = np.bincount(np.array(group_of), minlength=spec.groups)
    out: list[MetricSeries] = []
    surge = np.ones(n)
    surge[-12:] = 2.0
    for r, g in zip(resources, group_of, strict=True):
        gbps = level[g] / per[g] * shape * rng.lognormal(0, 0.08, n)
        if spec.surge_group is not None and g == spec.surge_group:
            gbps = gbps * surge
        total = gbps * 1e9 / 8 * STEP.total_seconds()
        for metric, share in ((MetricName.NETWORK_IN, 0.45), (MetricName.NETWORK_OUT, 0.55)):
            out.append(
                MetricSeries.model_construct(
                    resource_id=r.id,
                    metric=metric,
                    stat="Sum",
                    unit="Bytes",
                    period_s=300,
                    timestamps=times,
                    values=(total * share).tolist(),
                )
            )
    return out


def _flows(
    spec: FleetSpec,
    resources: list[Resource],
    group_of: list[int],
    level: np.ndarray,
    now: datetime,
    per: int,
) -> list[FlowChunk]:
    n_inst = len(group_of)
    src = np.arange(n_inst)
    ring = (src // per) * per + (src % per + 1) % per  # each member talks to the next one
    dns = np.full(n_inst, n_inst)
    ips = [r.interfaces[0].private_ips[0] for r in resources]
    enis = [r.interfaces[0].id for r in resources]
    chunks = []
    windows = int(spec.flow_hours * 3600 / STEP.total_seconds())
    end = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5)
    for w in range(windows):
        start = end - STEP * (windows - w)
        pairs_src = np.concatenate([src, src])
        pairs_dst = np.concatenate([ring, dns])
        grp = np.array(group_of)[pairs_src % n_inst]
        bytes_ = np.concatenate([level[grp[:n_inst]] * 3e7, np.full(n_inst, 2e5)]).astype(np.int64)
        keep = pairs_src != pairs_dst
        frame = pl.DataFrame(
            {
                "version": 2,
                "account_id": "123456789012",
                "interface_id": [enis[i] for i in pairs_src[keep]],
                "srcaddr": [ips[i] for i in pairs_src[keep]],
                "dstaddr": [ips[i] for i in pairs_dst[keep]],
                "srcport": 40000,
                "dstport": 443,
                "protocol": 6,
                "packets": (bytes_[keep] // 1000 + 1),
                "bytes": bytes_[keep],
                "start": start,
                "end": start + STEP,
                "action": "ACCEPT",
                "log_status": "OK",
            }
        )
        full = frame.with_columns(
            [
                pl.lit(None, dtype=t).alias(c)
                for c, t in FLOW_SCHEMA.items()
                if c not in frame.columns
            ]
        ).select([pl.col(c).cast(t) for c, t in FLOW_SCHEMA.items()])
        chunks.append(FlowChunk(source=f"synthetic://flows/{start:%Y%m%dT%H%M}", records=full))
    return chunks


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - filled in below
    parser = argparse.ArgumentParser(prog="python -m bench.cycle", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.parse_args(argv)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
