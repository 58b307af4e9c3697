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
from datetime import UTC, datetime, timedelta

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
                image_id="ami-0123456789abcdef0",
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


def _serve(db_url: str, port: int) -> None:  # pragma: no cover - runs in the child process
    import logging

    import uvicorn

    from reconciler.api import create_app
    from reconciler.state import StateStore

    logging.disable(logging.INFO)
    uvicorn.run(
        create_app(StateStore.open(db_url)),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_latency(
    db_url: str, group_ids: list[str], *, rps: float, requests: int, timeout_s: float = 120.0
) -> dict[str, float]:
    """Serve the API from a child process on loopback and load it from this one at ``rps``
    (open loop: each request is sent at its scheduled time by a pool of workers)."""
    import multiprocessing as mp
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from reconciler.api import issue_token
    from reconciler.clock import SystemClock
    from reconciler.state import StateStore

    store = StateStore.open(db_url)
    _, token = issue_token(store, name="bench", scope="read", at=SystemClock().now())
    store.close()
    port = _free_port()
    proc = mp.get_context("spawn").Process(target=_serve, args=(db_url, port), daemon=True)
    proc.start()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    local = threading.local()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or not proc.is_alive():
                raise RuntimeError("the API server did not start within 60 s")
            time.sleep(0.2)
        paths = [
            "/metrics/global" if i % 2 else f"/metrics/group/{group_ids[i % len(group_ids)]}"
            for i in range(requests)
        ]
        start = time.monotonic() + 0.2

        def one(i: int) -> tuple[float, int]:
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpx.Client(base_url=base, headers=headers, timeout=10)
            wait = start + i / rps - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            t0 = time.perf_counter()
            status = client.get(paths[i]).status_code
            return time.perf_counter() - t0, status

        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(one, range(requests), timeout=timeout_s))
        elapsed = time.monotonic() - start
    finally:
        proc.terminate()
        proc.join(10)
    lat = np.array([r[0] for r in results]) * 1000
    bad = sum(1 for r in results if r[1] != 200)
    return {
        "requests": float(requests),
        "achieved_rps": requests / elapsed,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "max_ms": float(lat.max()),
        "errors": float(bad),
    }


def run_cycles(spec: FleetSpec, workdir: str) -> dict[str, object]:
    """A cold cycle (backfill + LightGBM fit), a cycle that refits, and a steady-state cycle
    reusing the model; each through ``run_once`` with the real steps."""
    from pathlib import Path

    from forecasting.cache import ModelCache
    from forecasting.grid import ForecastSettings
    from policies import load_policy
    from reconciler.clock import SimulatedClock
    from reconciler.loop import run_once
    from reconciler.state import StateStore
    from reconciler.steps.build import CycleSettings, build_context
    from reconciler.steps.package import StepSettings

    root = Path(__file__).resolve().parent.parent
    policy_path = root / "policies" / "examples" / "default.yaml"
    policy = load_policy(policy_path)
    sel = policy.group_selection  # groups form at first sight (no warm-up cycles to wait for)
    traffic = sel.traffic.model_copy(update={"form_cycles": 1})
    policy = policy.model_copy(
        update={"group_selection": sel.model_copy(update={"traffic": traffic})}
    )
    now = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    provider = synthetic_fleet(spec, now)
    db_url = f"sqlite:///{workdir}/state.db"
    state = StateStore.open(db_url)
    settings = CycleSettings(
        policy_path=policy_path,
        history_root=f"{workdir}/history",
        database_url=db_url,
        steps=StepSettings(
            collect_lookback=timedelta(minutes=15),
            forecast=ForecastSettings(min_lgbm_days=1.0),
            metrics=((MetricName.NETWORK_IN, "Sum"), (MetricName.NETWORK_OUT, "Sum")),
        ),
    )
    clock = SimulatedClock(now)
    cache = ModelCache()
    runs: dict[str, object] = {}
    for label, reuse in (("cold", False), ("refit", False), ("steady", True)):
        ctx = build_context(settings, clock=clock, provider=provider, policy=policy, state=state)
        ctx.models = cache if reuse else ModelCache()
        report = run_once(ctx)
        if not report.ok:
            raise RuntimeError(f"{label} cycle failed: {report.error}")
        runs[label] = report
        if label == "cold":
            cache = ctx.models
            cutoff = now - timedelta(hours=2)  # later cycles read the last hours only
            provider.series = [_tail(s, cutoff) for s in provider.series]
        clock.advance(timedelta(minutes=5))
    groups = [g.id for g in state.latest_groups()]
    state.close()
    return {"runs": runs, "db_url": db_url, "groups": groups}


def _tail(series: MetricSeries, cutoff: datetime) -> MetricSeries:
    keep = [i for i, t in enumerate(series.timestamps) if t >= cutoff]
    return MetricSeries.model_construct(
        resource_id=series.resource_id,
        metric=series.metric,
        stat=series.stat,
        unit=series.unit,
        period_s=series.period_s,
        timestamps=[series.timestamps[i] for i in keep],
        values=[series.values[i] for i in keep],
    )


def main(argv: list[str] | None = None) -> int:
    import tempfile

    from bench.common import peak_rss_mb, print_table, write_results

    parser = argparse.ArgumentParser(prog="python -m bench.cycle", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 resources, 100 groups")
    parser.add_argument("--resources", type=int, default=None)
    parser.add_argument("--groups", type=int, default=None)
    parser.add_argument("--rps", type=float, default=200.0)
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--data", default=None, help="unused: the fleet is synthetic")
    parser.add_argument("--out", action="store_true", help="write bench/results/cycle.json")
    args = parser.parse_args(argv)
    resources = args.resources or (1_000 if args.quick else 10_000)
    groups = args.groups or (100 if args.quick else 1_000)
    requests = args.requests or (600 if args.quick else 3_000)
    spec = FleetSpec(resources=resources, groups=groups, metric_days=1.2, flow_hours=1.0)
    with tempfile.TemporaryDirectory(prefix="bench-cycle-") as tmp:
        cycles = run_cycles(spec, tmp)
        api = api_latency(
            str(cycles["db_url"]),
            list(cycles["groups"]),  # type: ignore[call-overload]
            rps=args.rps,
            requests=requests,
        )
    runs = cycles["runs"]
    assert isinstance(runs, dict)
    rows = []
    for label, report in runs.items():
        steps = {s.name: s.seconds for s in report.steps}
        rows.append(
            [label, f"{report.seconds:.1f}"]
            + [
                f"{steps[n]:.2f}"
                for n in (
                    "collect",
                    "analyze",
                    "compose",
                    "forecast",
                    "allocate",
                    "plan",
                    "remediate",
                )
            ]
        )
    print_table(
        "reconciler cycles (seconds)",
        [
            "cycle",
            "total s",
            "collect",
            "analyze",
            "compose",
            "forecast",
            "allocate",
            "plan",
            "remediate",
        ],
        rows,
    )
    print_table(
        "API latency under load (second process, loopback)",
        ["api", "requests", "rps", "p50 ms", "p99 ms", "max ms", "errors"],
        [
            [
                "metrics endpoints",
                int(api["requests"]),
                f"{api['achieved_rps']:.0f}",
                f"{api['p50_ms']:.1f}",
                f"{api['p99_ms']:.1f}",
                f"{api['max_ms']:.1f}",
                int(api["errors"]),
            ]
        ],
    )
    refit = runs["refit"].seconds
    print(
        f"limits: goal 60 s per cycle, schedule every 300 s; refit cycle uses "
        f"{refit / 60:.2f} of the goal ({resources} resources, {groups} groups); "
        f"peak RSS {peak_rss_mb():.0f} MiB"
    )
    if args.out:
        write_results(
            "cycle",
            {
                "resources": resources,
                "groups": groups,
                "cycles": {k: r.model_dump(mode="json") for k, r in runs.items()},
                "api": api,
                "peak_rss_mb": peak_rss_mb(),
                "rps_target": args.rps,
            },
        )
    scale = "" if resources == 10_000 else f" [{resources} resources, {groups} groups]"
    print(
        f"cycle_seconds_10k: {refit:.1f} (api p99 {api['p99_ms']:.1f} ms at "
        f"{api['achieved_rps']:.0f} rps){scale}"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
