"""Readers for the public evaluation traces, as long frames (``series_id, ts, y``) + static.

- Bitbrains "Rnd" (``<root>/bitbrains_rnd/<month>/<vm>.csv.gz``): separator ``;`` followed by
  a tab, ``Timestamp [ms]`` holds epoch *seconds*, intervals are irregular. Each VM gives six
  series: CPU usage, memory usage, disk read/write, network received/transmitted.
- NAB AWS CloudWatch (``<root>/nab/*/*.csv``): ``timestamp,value`` at 5-minute steps.

Rows whose timestamp or value cannot be parsed are kept aside in ``rejected`` with the file and
reason, never silently dropped.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from forecasting.frames import SERIES, TS, TS_DTYPE, Y

__all__ = ["BITBRAINS_METRICS", "LoadedData", "load_bitbrains", "load_folder", "load_nab"]

BITBRAINS_METRICS: dict[str, str] = {
    "CPU usage [MHZ]": "cpu_usage",
    "Memory usage [KB]": "memory_usage",
    "Disk read throughput [KB/s]": "disk_read",
    "Disk write throughput [KB/s]": "disk_write",
    "Network received throughput [KB/s]": "net_rx",
    "Network transmitted throughput [KB/s]": "net_tx",
}

_REJECT_SCHEMA = {"file": pl.String, "reason": pl.String, "rows": pl.Int64}


@dataclass(frozen=True)
class LoadedData:
    """Observations, per-series static features (source, metric) and rejected input."""

    frame: pl.DataFrame
    static: pl.DataFrame
    rejected: pl.DataFrame


def _empty() -> LoadedData:
    return LoadedData(
        pl.DataFrame(schema={SERIES: pl.String, TS: TS_DTYPE, Y: pl.Float64}),
        pl.DataFrame(schema={SERIES: pl.String, "source": pl.String, "metric": pl.String}),
        pl.DataFrame(schema=_REJECT_SCHEMA),
    )


def _combine(parts: list[LoadedData]) -> LoadedData:
    if not parts:
        return _empty()
    return LoadedData(
        pl.concat([p.frame for p in parts]),
        pl.concat([p.static for p in parts]),
        pl.concat([p.rejected for p in parts]),
    )


def _bitbrains_file(path: Path, month: str) -> LoadedData:
    text = path.read_bytes()
    if path.suffix == ".gz":
        import gzip

        text = gzip.decompress(text)
    raw = pl.read_csv(
        io.BytesIO(text.replace(b";\t", b";")), separator=";", infer_schema=False
    ).rename(lambda c: c.strip())
    needed = ["Timestamp [ms]", *BITBRAINS_METRICS]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    vm = path.name.split(".")[0]
    ts = pl.col("Timestamp [ms]").str.strip_chars().cast(pl.Int64, strict=False)
    parsed = raw.select(
        (ts * 1_000_000).cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias(TS),
        *[
            pl.col(c).str.strip_chars().cast(pl.Float64, strict=False).alias(m)
            for c, m in BITBRAINS_METRICS.items()
        ],
    )
    bad_ts = parsed[TS].null_count()
    parsed = parsed.filter(pl.col(TS).is_not_null())
    long = parsed.unpivot(index=TS, variable_name="metric", value_name=Y).with_columns(
        (pl.lit(f"bitbrains/{month}/{vm}/") + pl.col("metric")).alias(SERIES)
    )
    rejected = []
    if bad_ts:
        rejected.append({"file": str(path), "reason": "unparseable timestamp", "rows": bad_ts})
    bad_y = long[Y].null_count()
    if bad_y:
        rejected.append({"file": str(path), "reason": "unparseable value", "rows": bad_y})
    static = (
        long.select(SERIES, "metric").unique().with_columns(pl.lit("bitbrains").alias("source"))
    )
    return LoadedData(
        long.filter(pl.col(Y).is_not_null()).select(SERIES, TS, Y),
        static.select(SERIES, "source", "metric"),
        pl.DataFrame(rejected, schema=_REJECT_SCHEMA),
    )


def load_bitbrains(root: Path, *, max_vms: int | None = None) -> LoadedData:
    """Every month folder under ``root/bitbrains_rnd``; ``max_vms`` caps VMs per month."""
    parts: list[LoadedData] = []
    for month_dir in sorted(p for p in (root / "bitbrains_rnd").glob("*") if p.is_dir()):
        files = sorted(month_dir.glob("*.csv*"))
        for path in files[:max_vms] if max_vms else files:
            parts.append(_bitbrains_file(path, month_dir.name))
    return _combine(parts)


def load_nab(root: Path) -> LoadedData:
    """Every CSV under ``root/nab/*/`` (``timestamp,value``), one series per file."""
    parts: list[LoadedData] = []
    for path in sorted((root / "nab").glob("*/*.csv")):
        raw = pl.read_csv(path, infer_schema=False)
        if raw.columns[:2] != ["timestamp", "value"]:
            raise ValueError(f"{path}: expected columns timestamp,value; got {raw.columns}")
        sid = f"nab/{path.parent.name}/{path.stem}"
        parsed = raw.select(
            pl.col("timestamp")
            .str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False)
            .dt.replace_time_zone("UTC")
            .dt.cast_time_unit("us")
            .alias(TS),
            pl.col("value").cast(pl.Float64, strict=False).alias(Y),
        ).with_columns(pl.lit(sid).alias(SERIES))
        bad = parsed.filter(pl.col(TS).is_null() | pl.col(Y).is_null()).height
        metric = (
            path.stem.rsplit("_", 1)[0]
            if path.stem.startswith(("ec2", "rds", "elb"))
            else path.stem
        )
        parts.append(
            LoadedData(
                parsed.drop_nulls().select(SERIES, TS, Y),
                pl.DataFrame({SERIES: [sid], "source": ["nab"], "metric": [metric]}),
                pl.DataFrame(
                    [{"file": str(path), "reason": "unparseable timestamp or value", "rows": bad}]
                    if bad
                    else [],
                    schema=_REJECT_SCHEMA,
                ),
            )
        )
    return _combine(parts)


def load_folder(root: Path, *, max_vms: int | None = None) -> LoadedData:
    """Bitbrains and NAB together, whichever of them exist under ``root``."""
    return _combine([load_bitbrains(root, max_vms=max_vms), load_nab(root)])
