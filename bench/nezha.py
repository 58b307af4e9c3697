"""Convert Nezha microservice traces into AWS VPC flow-log files (and write any edges as such).

Each pod becomes a resource with one ENI and a private IP. A span whose parent span ran in another
pod is a call between the two pods; per minute and pod pair it yields a flow record each way
(request logged by the caller's ENI, response by the callee's), with bytes apportioned from each
sender's ``NetworkTransmitBytes`` (bytes/s over the minute) by its share of that minute's calls.
The files are gzip text in the AWS v2 default format, read back by the real parser and ingest.
Malformed spans and metric rows (non-numeric or implausible timestamps) are counted, not used.
"""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from providers.models import NetworkInterface, ProviderName, Resource, ResourceKind

__all__ = [
    "NezhaApp",
    "attach_interfaces",
    "load_nezha_app",
    "write_flow_logs",
]

ACCOUNT = "123456789012"
_MAX_SKEW_S = 86_400  # a timestamp more than a day from the app's median is malformed


@dataclass
class NezhaApp:
    """Pod-to-pod traffic of one Nezha application, as resource-level edges per minute."""

    name: str
    edges: pl.DataFrame  # window_start, src, dst, bytes, packets, flows
    inventory: list[Resource]
    spans: int = 0
    calls: int = 0
    bad: Counter[str] = field(default_factory=Counter)

    @property
    def pods(self) -> list[str]:
        return [r.id for r in self.inventory]


def pod_id(app: str, pod: str) -> str:
    return f"pod-{app}-{pod}"


def _read_spans(app_dir: Path, bad: Counter[str], max_files: int | None) -> pl.DataFrame:
    files = sorted((app_dir / "trace").glob("*.csv.gz"))[: max_files or None]
    if not files:
        raise FileNotFoundError(f"no trace/*.csv.gz under {app_dir}")
    raw = pl.concat([pl.read_csv(f, infer_schema=False) for f in files], how="diagonal_relaxed")
    needed = ["TraceID", "SpanID", "ParentID", "PodName", "StartTimeUnixNano"]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise ValueError(f"{app_dir}/trace: missing column(s) {missing}")
    spans = raw.select(needed).with_columns(
        pl.col("StartTimeUnixNano").cast(pl.Int64, strict=False).alias("start_ns")
    )
    numeric = spans.filter(pl.col("start_ns").is_not_null())
    bad["span: non-numeric start time"] += spans.height - numeric.height
    median = numeric["start_ns"].median()
    centre = int(median) if isinstance(median, int | float) else 0
    plausible = numeric.filter((pl.col("start_ns") - centre).abs() <= _MAX_SKEW_S * 10**9)
    bad["span: start time more than a day from the trace's median"] += (
        numeric.height - plausible.height
    )
    unnamed = plausible.filter(pl.col("PodName").is_null() | pl.col("SpanID").is_null())
    bad["span: no pod or span id"] += unnamed.height
    return plausible.filter(pl.col("PodName").is_not_null() & pl.col("SpanID").is_not_null())


def _read_transmit(app_dir: Path, bad: Counter[str]) -> pl.DataFrame:
    """pod, minute, tx bytes/s from ``metric/<pod>_metric.csv`` (the ``Time`` column)."""
    frames = []
    for f in sorted((app_dir / "metric").glob("*_metric.csv")):
        m = pl.read_csv(f, infer_schema=False)
        if not {"Time", "PodName", "NetworkTransmitBytes"} <= set(m.columns):
            bad["metric file: missing Time/PodName/NetworkTransmitBytes"] += 1
            continue
        parsed = m.select(
            pl.col("PodName").alias("pod"),
            pl.col("Time")
            .str.slice(0, 19)
            .str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_zone="UTC")
            .dt.truncate("1m")
            .alias("minute"),
            pl.col("NetworkTransmitBytes").cast(pl.Float64, strict=False).alias("tx"),
            pl.col("TimeStamp").cast(pl.Int64, strict=False).alias("stamp")
            if "TimeStamp" in m.columns
            else pl.lit(None, dtype=pl.Int64).alias("stamp"),
        )
        ok = parsed.filter(pl.col("minute").is_not_null() & pl.col("tx").is_not_null())
        bad["metric: unparseable Time or NetworkTransmitBytes"] += parsed.height - ok.height
        epoch = ok["minute"].dt.epoch("s")
        skew = (ok["stamp"] - epoch).abs()
        bad["metric: TimeStamp disagrees with Time by > 1 day (Time used)"] += int(
            (skew > _MAX_SKEW_S).sum() or 0
        )
        frames.append(ok.select("pod", "minute", "tx"))
    if not frames:
        return pl.DataFrame(
            schema={"pod": pl.String, "minute": pl.Datetime("us", "UTC"), "tx": pl.Float64}
        )
    return pl.concat(frames).group_by("pod", "minute").agg(pl.col("tx").mean())


def load_nezha_app(app_dir: Path, *, max_files: int | None = None) -> NezhaApp:
    """Pod-level call edges of one ``nezha/<app>/`` folder with bytes from pod metrics."""
    name = app_dir.name
    bad: Counter[str] = Counter()
    spans = _read_spans(app_dir, bad, max_files)
    parents = spans.select(
        "TraceID", pl.col("SpanID").alias("ParentID"), pl.col("PodName").alias("caller")
    ).unique(subset=["TraceID", "ParentID"], keep="first")
    calls = (
        spans.join(parents, on=["TraceID", "ParentID"], how="inner")
        .filter(pl.col("caller") != pl.col("PodName"))
        .select(
            pl.from_epoch(pl.col("start_ns") // 1000, time_unit="us")
            .dt.replace_time_zone("UTC")
            .dt.truncate("1m")
            .alias("minute"),
            "caller",
            pl.col("PodName").alias("callee"),
        )
        .group_by("minute", "caller", "callee")
        .agg(pl.len().alias("calls"))
    )
    tx = _read_transmit(app_dir, bad)
    both = pl.concat(
        [
            calls.select(
                "minute",
                pl.col("caller").alias("sender"),
                pl.col("callee").alias("receiver"),
                "calls",
            ),
            calls.select(
                "minute",
                pl.col("callee").alias("sender"),
                pl.col("caller").alias("receiver"),
                "calls",
            ),
        ]
    )
    share = pl.col("calls") / pl.col("calls").sum().over("minute", "sender")
    flows = (
        both.join(tx.rename({"pod": "sender"}), on=["sender", "minute"], how="left")
        .with_columns(pl.col("tx").is_null().alias("no_metric"))
        .with_columns((pl.col("tx").fill_null(0.0) * 60.0 * share).alias("bytes"))
    )
    bad["flow minute without a transmit metric for the sender (1 KB per call used)"] += int(
        flows["no_metric"].sum()
    )
    flows = flows.with_columns(
        pl.when(pl.col("no_metric"))
        .then(pl.col("calls") * 1000.0)
        .otherwise(pl.col("bytes"))
        .round(0)
        .cast(pl.Int64)
        .clip(lower_bound=1)
        .alias("bytes")
    )
    pods = sorted(set(spans["PodName"].to_list()))
    edges = flows.select(
        pl.col("minute").dt.cast_time_unit("us").alias("window_start"),
        pl.col("sender")
        .map_elements(lambda p: pod_id(name, p), return_dtype=pl.String)
        .alias("src"),
        pl.col("receiver")
        .map_elements(lambda p: pod_id(name, p), return_dtype=pl.String)
        .alias("dst"),
        "bytes",
        (pl.col("bytes") // 1200).clip(lower_bound=1).alias("packets"),
        pl.col("calls").cast(pl.Int64).alias("flows"),
    ).sort("window_start", "src", "dst")
    inventory = [
        Resource(
            id=pod_id(name, p),
            provider=ProviderName.AWS,
            account=ACCOUNT,
            region="us-east-1",
            kind=ResourceKind.INSTANCE,
            tags={"app": name, "Name": p},
        )
        for p in pods
    ]
    return NezhaApp(
        name, edges, inventory, spans=spans.height, calls=int(calls["calls"].sum()), bad=bad
    )


def attach_interfaces(inventory: list[Resource], *, network: str = "10.0.0.0/8") -> list[Resource]:
    """Give every resource one ENI with a distinct private IP (deterministic by position)."""
    net = ipaddress.ip_network(network)
    if len(inventory) >= net.num_addresses - 2:
        raise ValueError(f"{len(inventory)} resources do not fit in {network}")
    out = []
    for i, res in enumerate(inventory):
        ip = str(net.network_address + i + 1)
        eni = "eni-" + hashlib.sha256(res.id.encode()).hexdigest()[:17]
        out.append(
            res.model_copy(update={"interfaces": (NetworkInterface(id=eni, private_ips=(ip,)),)})
        )
    return out


def write_flow_logs(
    edges: pl.DataFrame,
    inventory: list[Resource],
    out_dir: Path,
    *,
    prefix: str,
    window_seconds: int = 60,
    rows_per_file: int = 200_000,
) -> list[Path]:
    """Write resource-level edges as AWS v2 flow-log ``.log.gz`` files (header line included).

    Each edge row becomes one record logged by the source's ENI; ``external:*`` ends get a
    public documentation address so the store resolves them back to ``external:internet``.
    """
    addr = {
        r.id: (r.interfaces[0].id, r.interfaces[0].private_ips[0])
        for r in inventory
        if r.interfaces
    }
    ends = set(edges["src"].unique().to_list()) | set(edges["dst"].unique().to_list())
    unknown = sorted(e for e in ends if e not in addr and not e.startswith("external:"))
    if unknown:
        raise ValueError(f"{len(unknown)} edge end(s) have no interface, e.g. {unknown[:3]}")
    eni_map = {k: v[0] for k, v in addr.items()}
    ip_map = {k: v[1] for k, v in addr.items()}
    external_ip = "198.51.100.7"
    frame = edges.select(
        pl.lit("2").alias("f0"),
        pl.lit(ACCOUNT).alias("f1"),
        pl.col("src").replace_strict(eni_map, default="eni-0000000000external").alias("f2"),
        pl.col("src").replace_strict(ip_map, default=external_ip).alias("f3"),
        pl.col("dst").replace_strict(ip_map, default=external_ip).alias("f4"),
        pl.lit("40000").alias("f5"),
        pl.lit("443").alias("f6"),
        pl.lit("6").alias("f7"),
        pl.col("packets").cast(pl.String).alias("f8"),
        pl.col("bytes").cast(pl.String).alias("f9"),
        pl.col("window_start").dt.epoch("s").cast(pl.String).alias("f10"),
        (pl.col("window_start").dt.epoch("s") + window_seconds - 1).cast(pl.String).alias("f11"),
        pl.lit("ACCEPT").alias("f12"),
        pl.lit("OK").alias("f13"),
    )
    lines = frame.select(pl.concat_str(pl.all(), separator=" ").alias("line"))["line"]
    header = (
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol "
        "packets bytes start end action log-status"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(0, max(len(lines), 1), rows_per_file):
        part = lines.slice(i, rows_per_file).to_list()
        path = out_dir / f"{prefix}-{i // rows_per_file:05d}.log.gz"
        body = header + "\n" + "\n".join(part) + ("\n" if part else "")
        path.write_bytes(gzip.compress(body.encode(), compresslevel=1))
        paths.append(path)
    return paths
