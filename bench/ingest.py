"""Flow-log ingest speed and memory: ours vs bare Polars and bare DuckDB on the same files.

    python -m bench.ingest [--records N] [--formats v2,v5,parquet] [--quick] [--out]

Generates flow logs as AWS delivers them (v2 default format as gzip text with header, a v5
custom format with every field as gzip text, and Parquet) into a temporary directory, split
into files of ``--file-records`` records. Then, each in its own process so peak RSS is its own:

* ours: parse and validate every file (rejects quarantined), write the partitioned history
  store (the records, plus their 5-minute sums per logging ENI and address pair, made while
  ingesting), then aggregate per (5-minute window, source, destination) from those sums with
  IP -> resource resolution against an inventory snapshot and the dual-ENI de-duplication
  rule;
* polars: ``scan_csv``/``scan_parquet`` + ``group_by(window, srcaddr, dstaddr)``;
* duckdb: ``read_csv``/``read_parquet`` + ``GROUP BY`` the same keys.

The peers do far less (no validation, no quarantine, no store, no resolution): the ratio is
the price of doing it properly. Ours streams file by file, so memory is bounded by one file
plus the aggregation. The synthetic input needs no ``--data``. The headline sums the
formats run: ``ingest_ratio_vs_polars: ours/polars (ours s, polars s, records per format)``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench.common import print_table, run_measured, write_results
from providers.aws.flowkeys import flow_log_key
from providers.aws.flowlogs import parse_parquet, parse_text
from providers.aws.flowwrite import FLOW_FIELDS_V5, render_parquet, render_text
from providers.models import FLOW_FIELDS_V2, NetworkInterface, ProviderName, Resource

# Imported here, not in ``run_ours``: like Polars for its peer, loading the library is not
# part of the timed ingest (it cost ours 0.2-0.5 s per format on the busy machine).
from reconciler.history import HistoryStore, ingest, parse_ahead

ACCOUNT = "123456789012"
REGION = "us-east-1"
T0 = datetime(2026, 1, 5, tzinfo=UTC)
INSTANCES = 400
FORMATS = ("v2", "v5", "parquet")


def _ip(i: np.ndarray) -> np.ndarray:
    return np.char.add(
        "10.0.", np.char.add((i // 250).astype(str), np.char.add(".", (i % 250 + 2).astype(str)))
    )


def generate_frame(n: int, hour: int, seed: int) -> pl.DataFrame:
    """``n`` v5 records in hour ``hour`` after T0: skewed pairs, 15% external, 40% dual-logged."""
    rng = np.random.default_rng(seed)
    src = (rng.zipf(1.3, n) - 1) % INSTANCES
    dst = (src + 1 + (rng.zipf(1.5, n) - 1) % (INSTANCES - 1)) % INSTANCES
    external = rng.random(n) < 0.15
    src_ip = _ip(src)
    dst_ip = np.where(external, "52.94.0.1", _ip(dst))
    dual = (~external) & (rng.random(n) < 0.4)
    logger = np.where(dual, dst, src)
    start = int((T0 + timedelta(hours=hour)).timestamp()) + rng.integers(0, 3600, n)
    nbytes = rng.integers(40, 2_000_000, n)
    frame = pl.DataFrame(
        {
            "version": pl.Series(np.full(n, 5), dtype=pl.Int8),
            "account_id": np.full(n, ACCOUNT),
            "interface_id": np.char.add("eni-", np.char.zfill(logger.astype(str), 8)),
            "srcaddr": src_ip,
            "dstaddr": dst_ip,
            "srcport": pl.Series(rng.integers(1024, 65535, n), dtype=pl.Int32),
            "dstport": pl.Series(np.full(n, 443), dtype=pl.Int32),
            "protocol": pl.Series(np.full(n, 6), dtype=pl.Int16),
            "packets": nbytes // 1000 + 1,
            "bytes": nbytes,
            "start": start,
            "end": start + 59,
            "action": np.where(rng.random(n) < 0.97, "ACCEPT", "REJECT"),
            "log_status": np.full(n, "OK"),
        }
    )
    nulls = {f: pl.lit(None, dtype=pl.String) for f in FLOW_FIELDS_V5 if f not in frame.columns}
    return frame.with_columns(**nulls).with_columns(
        pl.lit(19, dtype=pl.Int32).alias("tcp_flags"),
        pl.lit(None, dtype=pl.Int8).alias("traffic_path"),
        pl.lit("egress").alias("flow_direction"),
        pl.lit(REGION).alias("region"),
    )


def inventory() -> list[Resource]:
    ips = _ip(np.arange(INSTANCES))
    return [
        Resource(
            id=f"i-{i:08x}",
            provider=ProviderName.AWS,
            account=ACCOUNT,
            region=REGION,
            interfaces=(NetworkInterface(id=f"eni-{i:08d}", private_ips=(str(ips[i]),)),),
        )
        for i in range(INSTANCES)
    ]


def generate(root: Path, records: int, per_file: int, formats: list[str]) -> dict[str, list[str]]:
    """Write the input files once per format (same records in each format)."""
    files: dict[str, list[str]] = {f: [] for f in formats}
    for hour, offset in enumerate(range(0, records, per_file)):
        n = min(per_file, records - offset)
        frame = generate_frame(n, hour, seed=hour)
        at = T0 + timedelta(hours=hour, minutes=59)
        for fmt in formats:
            parquet = fmt == "parquet"
            key = flow_log_key(ACCOUNT, REGION, f"fl-{fmt}", at, hive=parquet, parquet=parquet)
            path = root / fmt / key
            path.parent.mkdir(parents=True, exist_ok=True)
            if fmt == "v2":
                path.write_bytes(render_text(frame, FLOW_FIELDS_V2, level=1))
            elif fmt == "v5":
                path.write_bytes(render_text(frame, FLOW_FIELDS_V5, level=1))
            else:
                path.write_bytes(render_parquet(frame, FLOW_FIELDS_V5))
            files[fmt].append(str(path))
    return files


def window_for(files: list[str]) -> Any:
    from providers.models import TimeWindow

    return TimeWindow(start=T0, end=T0 + timedelta(hours=len(files) + 1))


# --- contenders (module-level so they run in a spawned process) --------------------------


def run_ours(files: list[str], store_dir: str) -> dict[str, Any]:
    store = HistoryStore(store_dir)
    store.write_inventory(inventory(), T0)

    def loader(path: str) -> Any:
        def load() -> Any:
            data = Path(path).read_bytes()
            if path.endswith(".parquet"):
                return parse_parquet(data, f"file://{path}")
            return parse_text(data, f"file://{path}")

        return load

    report = ingest(parse_ahead(loader(p) for p in files), store)
    edges = store.edges(window_for(files))
    return {
        "read": report.read,
        "rejected": report.rejected,
        "edges": edges.height,
        "bytes": int(edges.get_column("bytes").sum()),
    }


def _polars_query(frame: pl.LazyFrame) -> pl.DataFrame:
    status = "log-status" if "log-status" in frame.collect_schema() else "log_status"
    return (
        frame.filter(pl.col(status) == "OK")
        .group_by((pl.col("start") // 300 * 300).alias("window"), "srcaddr", "dstaddr")
        .agg(pl.col("bytes").sum(), pl.col("packets").sum(), pl.len().alias("flows"))
        .collect(engine="streaming")
    )


def run_polars(files: list[str]) -> dict[str, Any]:
    if files[0].endswith(".parquet"):
        frame = pl.scan_parquet(files)
    else:
        frame = pl.scan_csv(files, separator=" ", has_header=True, null_values="-", quote_char=None)
    out = _polars_query(frame)
    return {"edges": out.height, "bytes": int(out.get_column("bytes").sum())}


def run_duckdb(files: list[str]) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    listed = "[" + ", ".join(f"'{f}'" for f in files) + "]"
    if files[0].endswith(".parquet"):
        source, status = f"read_parquet({listed})", "log_status"
    else:
        source = f"read_csv({listed}, delim=' ', header=true, nullstr='-', quote='')"
        status = '"log-status"'
    sql = (
        f"SELECT start // 300 * 300 AS w, srcaddr, dstaddr, SUM(bytes) AS bytes, "
        f"SUM(packets) AS packets, COUNT(*) AS flows FROM {source} WHERE {status} = 'OK' "
        "GROUP BY ALL"
    )
    rows = con.execute(f"SELECT COUNT(*), SUM(bytes) FROM ({sql})").fetchone()
    assert rows is not None
    return {"edges": int(rows[0]), "bytes": int(rows[1])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2_000_000, help="records per format")
    parser.add_argument("--file-records", type=int, default=500_000, help="records per file")
    parser.add_argument("--formats", default=",".join(FORMATS), help="v2, v5, parquet")
    parser.add_argument("--quick", action="store_true", help="200k records, under a minute")
    parser.add_argument("--data", default=None, help="unused: the input is generated")
    parser.add_argument("--no-peers", action="store_true", help="run only ours (memory runs)")
    parser.add_argument("--out", action="store_true", help="write bench/results/ingest.json")
    args = parser.parse_args(argv)
    records = 200_000 if args.quick else args.records
    per_file = min(args.file_records, 100_000 if args.quick else args.file_records)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = set(formats) - set(FORMATS)
    if unknown:
        parser.error(f"unknown format(s) {sorted(unknown)}; choose from {FORMATS}")
    tmp = Path(tempfile.mkdtemp(prefix="headroom-bench-ingest-"))
    results: list[dict[str, Any]] = []
    try:
        t0 = time.perf_counter()
        files = generate(tmp / "input", records, per_file, formats)
        took = time.perf_counter() - t0
        print(f"generated {records:,} records x {len(formats)} formats in {took:.1f} s")
        for fmt in formats:
            contenders: list[tuple[str, Any, tuple[Any, ...]]] = [
                ("ours", run_ours, (files[fmt], str(tmp / f"store-{fmt}")))
            ]
            if not args.no_peers:
                contenders += [
                    ("polars", run_polars, (files[fmt],)),
                    ("duckdb", run_duckdb, (files[fmt],)),
                ]
            for name, fn, fargs in contenders:
                m = run_measured(fn, *fargs)
                results.append(
                    {
                        "format": fmt,
                        "contender": name,
                        "seconds": m.seconds,
                        "records_per_s": records / m.seconds,
                        "peak_rss_mb": m.peak_rss_mb,
                        **m.value,
                    }
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [
        [
            r["format"],
            r["contender"],
            r["seconds"],
            f"{r['records_per_s']:,.0f}",
            r["peak_rss_mb"],
            r["edges"],
        ]
        for r in results
    ]
    print_table(
        f"Flow-log ingest, {records:,} records per format",
        ["format", "contender", "seconds", "records/s", "peak RSS MiB", "pair-windows"],
        rows,
    )
    ours = sum(r["seconds"] for r in results if r["contender"] == "ours")
    polars_s = sum(r["seconds"] for r in results if r["contender"] == "polars")
    if args.out:
        payload = {
            "records": records,
            "formats": formats,
            "file_records": per_file,
            "results": results,
        }
        print(f"wrote {write_results('ingest', payload)}")
    if polars_s:
        ratio = ours / polars_s
        print(
            f"ingest_ratio_vs_polars: {ratio:.2f} "
            f"(ours {ours:.2f} s, polars {polars_s:.2f} s, {records} records)"
        )
    else:
        peak = max(r["peak_rss_mb"] for r in results)
        print(
            f"ingest_ratio_vs_polars: n/a "
            f"(ours {ours:.2f} s, peak RSS {peak:.0f} MiB, {records} records)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
