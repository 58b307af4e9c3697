"""History queries at scale: the embedded engine vs the Dask engine on the same day of flow logs.

    python -m bench.scale [--records N] [--workers 2] [--quick] [--out]

Writes a synthetic day of VPC flow logs (v2 default format, gzip text, one file per hour, made
by ``bench.ingest``'s generator: skewed pairs, 15 % external, 40 % dual-logged), ingests them
into a history store with the product's ``ingest`` (the collect step), then asks the store the
cycle's traffic query through ``engine: local`` (Polars in one process) and ``engine: dask``
(``DaskHistory`` on a ``LocalCluster`` of ``--workers`` single-threaded worker processes on
loopback), each from its own spawned process so its peak RSS is its own:

* ``records``: ``edges`` over the day with a window that is not 5-minute aligned, so both
  engines scan, filter and sum every stored record (the work that grows with records);
* ``pairs``: ``edges`` over the aligned day, answered from the 5-minute pair sums written at
  ingest (the cycle's usual path).

Each engine runs a one-hour warm-up query first (worker imports are not throughput). Reported:
seconds, records/s per core (cores: Polars' thread pool for local, the workers' threads for
dask), records per CPU-second (process CPU time, workers' included: steadier than wall time on
a shared machine), peak RSS of the querying process and of each worker, and whether the
answers are identical row for row. Headline:
``scale_records_per_core_s: n (local x, dask y, identical yes|no)`` with n the Dask engine's
records/s per worker core on the records query (the figure a cluster scales), x and y both
engines' per-core figures. No ``--data`` needed: the input is generated.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import psutil

from bench.common import peak_rss_mb, print_table, run_measured, write_results
from bench.ingest import T0, generate, inventory
from providers.aws.flowlogs import parse_text
from providers.models import TimeWindow
from reconciler.history import HistoryStore, ingest, parse_ahead

__all__ = ["QUERIES", "compare", "ingest_day", "main", "query_dask", "query_local"]

NAME = "scale"
HOURS = 24
DAY = TimeWindow(start=T0, end=T0 + timedelta(hours=HOURS + 1))
# One second earlier than the aligned day: not 5-minute aligned, so the records are scanned.
QUERIES: dict[str, TimeWindow] = {
    "records": TimeWindow(start=T0 - timedelta(seconds=1), end=DAY.end),
    "pairs": DAY,
}
WARM_UP = TimeWindow(start=T0, end=T0 + timedelta(hours=1))


def _cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads)."""
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def ingest_day(files: list[str], store_dir: str) -> dict[str, Any]:
    """The collect step on the day's files: parse, validate, write records and pair sums."""
    store = HistoryStore(store_dir)
    store.write_inventory(inventory(), T0)

    def loader(path: str) -> Any:
        return lambda: parse_text(Path(path).read_bytes(), f"file://{path}")

    cpu = _cpu_seconds()
    report = ingest(parse_ahead(loader(p) for p in files), store)
    root = Path(store_dir)
    return {
        "read": report.read,
        "rejected": report.rejected,
        "cpu_seconds": _cpu_seconds() - cpu,
        "cores": min(pl.thread_pool_size(), os.cpu_count() or 1),
        "flow_files": sum(1 for _ in (root / "flows").rglob("*.parquet")),
        "pair_files": sum(1 for _ in (root / "pairs").rglob("*.parquet")),
        "store_mb": sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20,
    }


def _ask(queries: Any, out_dir: str) -> dict[str, Any]:
    """Warm up, then time each query of ``QUERIES`` on ``queries``; answers go to ``out_dir``."""
    queries.edges(WARM_UP)
    timings: dict[str, Any] = {}
    for name, window in QUERIES.items():
        t = time.perf_counter()
        got = queries.edges(window)
        timings[name] = {"seconds": time.perf_counter() - t, "rows": got.height}
        got.write_parquet(Path(out_dir) / f"{name}.parquet")
    return timings


def query_local(store_dir: str, out_dir: str) -> dict[str, Any]:
    """``engine: local``: the store answers itself (Polars, this process)."""
    store = HistoryStore(store_dir)
    cpu = _cpu_seconds()
    timings = _ask(store, out_dir)
    return {
        "queries": timings,
        "cpu_seconds": _cpu_seconds() - cpu,
        "cores": min(pl.thread_pool_size(), os.cpu_count() or 1),
    }


def _worker_stats() -> dict[str, float]:
    """On a worker: its peak RSS (MiB) and CPU seconds so far."""
    return {"peak_rss_mb": peak_rss_mb(), "cpu_seconds": _cpu_seconds()}


def query_dask(store_dir: str, address: str, out_dir: str) -> dict[str, Any]:
    """``engine: dask``: ``DaskHistory`` on the cluster at ``address`` (the reconciler's path)."""
    from distributed import Client

    from reconciler.history.dask_engine import DaskHistory

    with Client(address, set_as_default=False, timeout="60s") as client:
        store = HistoryStore(store_dir)
        queries = DaskHistory(store, client)
        queries.edges(WARM_UP)
        before = client.run(_worker_stats)
        cpu = _cpu_seconds()
        timings = _ask(queries, out_dir)
        own_cpu = _cpu_seconds() - cpu
        after = client.run(_worker_stats)
        threads = client.nthreads()
    workers = [
        {
            "peak_rss_mb": after[w]["peak_rss_mb"],
            "cpu_seconds": after[w]["cpu_seconds"] - before[w]["cpu_seconds"],
        }
        for w in sorted(after)
    ]
    return {
        "queries": timings,
        "cpu_seconds": own_cpu + sum(w["cpu_seconds"] for w in workers),
        "client_cpu_seconds": own_cpu,
        "cores": sum(threads.values()),
        "workers": workers,
    }


def compare(local_dir: Path, dask_dir: Path) -> dict[str, bool]:
    """Per query: whether the two engines' answers are equal row for row (schema included)."""
    same = {}
    for name in QUERIES:
        a = pl.read_parquet(local_dir / f"{name}.parquet")
        b = pl.read_parquet(dask_dir / f"{name}.parquet")
        same[name] = a.schema == b.schema and a.equals(b)
    return same


def _per_core(records: int, seconds: float, cores: int) -> float:
    return records / seconds / max(cores, 1) if seconds > 0 else math.nan


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} (1/5 min) on {os.cpu_count()} cores"


def run(records: int, workers: int, work: Path) -> dict[str, Any]:
    """Generate, ingest, query on both engines, compare; every figure of the run."""
    from distributed import LocalCluster

    per_file = math.ceil(records / HOURS)
    t = time.perf_counter()
    files = generate(work / "input", records, per_file, ["v2"])["v2"]
    generated = time.perf_counter() - t
    store_dir = str(work / "store")
    load_before = _load()
    ing = run_measured(ingest_day, files, store_dir)
    (work / "local").mkdir()
    (work / "dask").mkdir()
    local = run_measured(query_local, store_dir, str(work / "local"))
    with LocalCluster(
        n_workers=workers,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        dask = run_measured(query_dask, store_dir, cluster.scheduler_address, str(work / "dask"))
    identical = compare(work / "local", work / "dask")
    read = int(ing.value["read"])
    engines: dict[str, Any] = {}
    for name, m in (("local", local), ("dask", dask)):
        value = dict(m.value)
        for q in value["queries"].values():
            q["records_per_core_s"] = _per_core(read, q["seconds"], value["cores"])
        asked = read * len(QUERIES)
        value["records_per_cpu_s"] = asked / value["cpu_seconds"] if value["cpu_seconds"] else 0.0
        value["peak_rss_mb"] = m.peak_rss_mb
        engines[name] = value
    ingest_value = dict(ing.value)
    return {
        "records": records,
        "files": len(files),
        "generate_seconds": generated,
        "ingest": ingest_value
        | {
            "seconds": ing.seconds,
            "peak_rss_mb": ing.peak_rss_mb,
            "records_per_core_s": _per_core(read, ing.seconds, ingest_value["cores"]),
            "records_per_cpu_s": read / ingest_value["cpu_seconds"],
        },
        "engines": engines,
        "identical": identical,
        "machine": {"before": load_before, "after": _load()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2_400_000, help="records in the day")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--quick", action="store_true", help="240k records, under a minute")
    parser.add_argument("--data", default=None, help="unused: the input is generated")
    parser.add_argument("--out", action="store_true", help="write bench/results/scale.json")
    args = parser.parse_args(argv)
    records = 240_000 if args.quick else args.records
    work = Path(tempfile.mkdtemp(prefix="headroom-bench-scale-"))
    try:
        result = run(records, args.workers, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ing = result["ingest"]
    print(
        f"{records:,} records in {result['files']} hourly v2 files "
        f"(generated in {result['generate_seconds']:.1f} s); machine {result['machine']['before']}"
        f" before, {result['machine']['after']} after"
    )
    print_table(
        "collect (ingest into the history store, this process, both engines)",
        ["step", "seconds", "records/s/core", "records/CPU-s", "peak RSS MiB", "files"],
        [
            [
                "ingest",
                ing["seconds"],
                f"{ing['records_per_core_s']:,.0f}",
                f"{ing['records_per_cpu_s']:,.0f}",
                ing["peak_rss_mb"],
                f"{ing['flow_files']} flows + {ing['pair_files']} pairs",
            ]
        ],
    )
    rows = []
    for name, e in result["engines"].items():
        workers = e.get("workers", [])
        for q, t in e["queries"].items():
            rows.append(
                [
                    name,
                    q,
                    e["cores"],
                    t["seconds"],
                    f"{t['records_per_core_s']:,.0f}",
                    e["peak_rss_mb"],
                    " / ".join(f"{w['peak_rss_mb']:.0f}" for w in workers) or "-",
                    t["rows"],
                    "yes" if result["identical"][q] else "NO",
                ]
            )
    print_table(
        f"edges over the day, {ing['read']:,} records",
        [
            "engine",
            "query",
            "cores",
            "seconds",
            "records/s/core",
            "peak RSS MiB",
            "worker peak MiB",
            "rows",
            "identical",
        ],
        rows,
    )
    local, dask = result["engines"]["local"], result["engines"]["dask"]
    lx = local["queries"]["records"]["records_per_core_s"]
    dy = dask["queries"]["records"]["records_per_core_s"]
    print(
        f"records per CPU-second (both queries; workers and client included): "
        f"local {local['records_per_cpu_s']:,.0f}, dask {dask['records_per_cpu_s']:,.0f} "
        f"(client {dask['client_cpu_seconds']:.2f} CPU-s, workers "
        f"{dask['cpu_seconds'] - dask['client_cpu_seconds']:.2f} CPU-s); "
        f"dask/local per core {dy / lx:.2f}"
    )
    if args.out:
        print(f"wrote {write_results(NAME, result | {'quick': args.quick})}")
    same = "yes" if all(result["identical"].values()) else "no"
    print(
        f"scale_records_per_core_s: {dy:.0f} (local {lx:.0f}, dask {dy:.0f}, identical {same}; "
        f"dask/local {dy / lx:.2f}, {ing['read']} records, {local['cores']} local cores, "
        f"{dask['cores']} dask workers)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
