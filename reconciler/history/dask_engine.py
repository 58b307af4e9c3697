"""The history queries on a Dask cluster (policy ``engine: dask``): same answers, more machines.

``DaskHistory`` answers ``edges``, ``resource_series`` and ``metric_points`` exactly as
``reconciler.history.query`` does on the same store. The scan, filter and per-bucket sums run
as a ``dask.dataframe`` graph on the cluster's workers, one partition per Parquet file of the
hive-partitioned store (a local path the workers share, or an fsspec URL such as ``s3://``);
only the summed pairs come back. Resolving addresses and the dedupe of dual-logged flows then
run here with the embedded engine's own code (``edges_from_pairs``): their input is one row per
(bucket, ENI, address pair), far smaller than the records.

Exact sums: the embedded engine sums in 128 bits and caps at ``INT64_MAX``. Pandas sums in 64,
so each value is split into ``value // 2**32`` and its remainder, both summed exactly on the
cluster and joined here in 128 bits, then capped the same way.

The store's file list (damaged files left out) is taken here; a file found damaged while the
cluster reads it is quarantined and the query asked again, as ``query`` does. Tasks of a worker
lost mid-query are re-run by Dask on another (``distributed.scheduler.allowed-failures``); a
query not answered within ``timeout`` (say, a cluster with no worker left) is cancelled and
raises ``EngineError``, which fails the step like any other error.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from providers.models import TimeWindow
from reconciler.history.pairs import INT64_MAX, PAIR_KEYS, PAIR_SCHEMA, pairs_answer
from reconciler.history.query import (
    EDGE_SCHEMA,
    METRIC_KEYS,
    _despite_damage,
    bucket_expr,
    edges_from_pairs,
    series_from_edges,
    spans,
)

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

    from reconciler.history.store import HistoryStore

__all__ = ["DaskHistory", "EngineError"]

_SPLIT = 2**32
_SUMMED = ("bytes", "packets", "flows")
_METRIC_COLUMNS = ("resource_id", "metric", "ts", "value", "stat")
_ROW = pa.field("__row", pa.int64())


class EngineError(RuntimeError):
    """The cluster did not answer a query (in time, or at all)."""


def _read(
    batch: list[tuple[int, str]],
    fs: Any,
    schema: pa.Schema,
    ts: str,
    start: datetime,
    end: datetime,
) -> pd.DataFrame:
    """The rows with ``ts`` in [start, end) of a batch of Parquet files (one hour partition),
    as ``schema`` (a column a file lacks is null, as the embedded scan inserts it), in read
    order, with ``__row``: the file's place in the store's list and the row's in the file."""
    tables = []
    for index, path in batch:
        with fs.open(path, "rb") as fh:
            parquet = pq.ParquetFile(fh)
            present = set(parquet.schema_arrow.names)
            table = parquet.read(columns=[n for n in schema.names if n in present])
        rows = table.num_rows
        columns = [
            table.column(f.name).cast(f.type) if f.name in present else pa.nulls(rows, f.type)
            for f in schema
        ]
        order = pa.array(range(rows), pa.int64())
        order = pc.add(order, pa.scalar(index * _SPLIT, pa.int64()))
        table = pa.Table.from_arrays([*columns, order], schema=schema.append(_ROW))
        when = table.column(ts)
        after = pc.greater_equal(when, pa.scalar(start, when.type))
        tables.append(table.filter(pc.and_(after, pc.less(when, pa.scalar(end, when.type)))))
    return pa.concat_tables(tables).to_pandas(types_mapper=pd.ArrowDtype)


class DaskHistory:
    """``edges`` / ``resource_series`` / ``metric_points`` of ``store`` computed on ``client``'s
    cluster (see the module). The reconciler's own state never leaves this process."""

    def __init__(
        self, store: HistoryStore, client: Client, timeout: timedelta = timedelta(minutes=10)
    ) -> None:
        self.store = store
        self.client = client
        self.timeout = timeout

    # ---- queries ------------------------------------------------------------------------------
    def edges(self, window: TimeWindow, bucket: timedelta = timedelta(minutes=5)) -> pl.DataFrame:
        """As ``query.edges``."""
        bucket_expr("start", bucket)  # validates the bucket
        store = self.store
        snaps = [(t, store.snapshot(t)) for t in store.snapshot_times()]

        def run() -> pl.DataFrame:
            if pairs_answer(window, bucket) and store.pairs_complete():
                totals = self._totals("pairs", "window_start", window, bucket)
            else:
                totals = self._totals("flows", "start", window, bucket)
            parts = []
            for piece in spans(window, bucket):
                inside = (pl.col("window_start") >= piece.start) & (
                    pl.col("window_start") < piece.end
                )
                parts.append(edges_from_pairs(totals.filter(inside), snaps))
            return pl.concat(parts) if parts else pl.DataFrame(schema=EDGE_SCHEMA)

        return _despite_damage(store, ("pairs", "flows"), run)

    def resource_series(
        self, window: TimeWindow, bucket: timedelta = timedelta(minutes=5)
    ) -> pl.DataFrame:
        """As ``query.resource_series``."""
        return series_from_edges(self.edges(window, bucket))

    def metric_points(
        self, window: TimeWindow, metrics: Sequence[str] | None = None
    ) -> pl.DataFrame:
        """As ``query.metric_points``: of points with the same (resource, metric, stat, ts) the
        one read last (file order, then row order) is kept. The embedded engine orders rows of
        the same (resource, metric, ts) but different ``stat`` arbitrarily; here by ``stat``."""
        store = self.store

        def run() -> pl.DataFrame:
            schema, _ = store.TABLES["metrics"]
            frame = self._scan("metrics", schema, list(_METRIC_COLUMNS), "ts", window)
            if frame is None:
                return pl.DataFrame(schema={c: schema[c] for c in _METRIC_COLUMNS})
            if metrics is not None:
                frame = frame[frame["metric"].isin([str(m) for m in metrics]).fillna(False)]
            frame = frame.map_partitions(_keep_last, meta=frame._meta)
            got = pl.from_pandas(self._compute(frame[list(_METRIC_COLUMNS)]))
            return got.cast({c: schema[c] for c in _METRIC_COLUMNS}).sort(  # type: ignore[arg-type]
                "resource_id", "metric", "ts", "stat"
            )

        return _despite_damage(store, ("metrics",), run)

    # ---- on the cluster -----------------------------------------------------------------------
    def _scan(
        self,
        kind: str,
        schema: dict[str, pl.DataType],
        columns: list[str],
        ts: str,
        window: TimeWindow,
    ) -> dd.DataFrame | None:
        """The files of ``kind`` whose ``date=`` partition can hold ``window`` (the embedded
        engine's own pruning), one partition each; None when there are none."""
        import dask.dataframe as dd

        store = self.store
        first, last = f"{window.start:%Y-%m-%d}", f"{window.end:%Y-%m-%d}"
        files = [
            p for p in store._guard.files(kind, *store.TABLES[kind]) if first <= _date_of(p) <= last
        ]
        if not files:
            return None
        batches: dict[str, list[tuple[int, str]]] = {}
        for index, path in enumerate(files):  # one partition per hour: a point's duplicates
            batches.setdefault(path.rsplit("/", 1)[0], []).append((index, path))  # share it
        arrow = pl.DataFrame(schema={c: schema[c] for c in columns}).to_arrow().schema
        arrow = pa.schema([_plain(f) for f in arrow])
        meta = arrow.append(_ROW).empty_table().to_pandas(types_mapper=pd.ArrowDtype)
        return dd.from_map(
            _read,
            list(batches.values()),
            fs=store.fs,
            schema=arrow,
            ts=ts,
            start=window.start,
            end=window.end,
            meta=meta,
            enforce_metadata=False,
        )

    def _totals(self, kind: str, ts: str, window: TimeWindow, bucket: timedelta) -> pl.DataFrame:
        """``query.pair_totals`` (``kind`` flows) or ``stored_pair_totals`` (pairs), summed on
        the cluster: PAIR_SCHEMA columns."""
        schema, _ = self.store.TABLES[kind]
        summed = ["bytes", "packets"] if kind == "flows" else list(_SUMMED)
        extra = ["action", "log_status"] if kind == "flows" else []
        frame = self._scan(kind, schema, [ts, *PAIR_KEYS, *summed, *extra], ts, window)
        if frame is None:
            return pl.DataFrame(schema=PAIR_SCHEMA)
        if kind == "flows":
            ok = (frame["log_status"] == "OK").fillna(False)
            accept = (frame["action"].isna() | (frame["action"] == "ACCEPT")).fillna(False)
            frame = frame[ok & accept]
        step = int(bucket.total_seconds()) * 1_000_000
        micros = frame[ts].astype("int64[pyarrow]")
        frame = frame.assign(window_start=(micros // step) * step)
        parts: dict[str, Any] = {}
        for name in summed:
            high = frame[name] // _SPLIT
            parts[f"{name}__hi"] = high
            parts[f"{name}__lo"] = frame[name] - high * _SPLIT
        frame = frame.assign(**parts)
        aggs: dict[str, tuple[str, str]] = {c: (c, "sum") for c in parts}
        if kind == "flows":
            aggs["flows"] = ("window_start", "size")
        # one output partition: a tree reduction of per-hour partial sums, no shuffle
        keys = ["window_start", *PAIR_KEYS]
        grouped = frame.groupby(keys, dropna=False).agg(split_out=1, **aggs)
        got = pl.from_pandas(self._compute(grouped.reset_index()))
        if got.height == 0:
            return pl.DataFrame(schema=PAIR_SCHEMA)
        joined = [
            (pl.col(f"{n}__hi").cast(pl.Int128) * _SPLIT + pl.col(f"{n}__lo").cast(pl.Int128))
            .clip(upper_bound=INT64_MAX)
            .cast(pl.Int64)
            .alias(n)
            for n in summed
        ]
        if kind == "flows":
            joined.append(pl.col("flows").cast(pl.Int64))
        return got.select(
            pl.from_epoch(pl.col("window_start").cast(pl.Int64), time_unit="us")
            .dt.replace_time_zone("UTC")
            .alias("window_start"),
            *(pl.col(k).cast(pl.String) for k in PAIR_KEYS),
            *joined,
        ).select(list(PAIR_SCHEMA))

    def _compute(self, frame: dd.DataFrame) -> pd.DataFrame:
        """``frame`` computed on the cluster within ``timeout``, or ``EngineError``."""
        future = self.client.compute(frame)
        seconds = self.timeout.total_seconds()
        try:
            result: pd.DataFrame = future.result(timeout=seconds)
        except (TimeoutError, FutureTimeout) as exc:
            future.cancel()
            where = getattr(self.client.scheduler, "address", "?")
            raise EngineError(
                f"the Dask cluster at {where} gave no answer in {seconds:g} s"
            ) from exc
        return result


def _date_of(path: str) -> str:
    """The ``date=`` partition of a store path ("" when it has none)."""
    for part in path.split("/"):
        if part.startswith("date="):
            return part.removeprefix("date=")
    return ""


def _plain(field: pa.Field) -> pa.Field:
    """Arrow ``string`` for Polars' ``string_view`` (what pandas' ArrowDtype handles best)."""
    if field.type in (pa.string_view(), pa.large_string()):
        return field.with_type(pa.string())
    return field


def _keep_last(part: pd.DataFrame) -> pd.DataFrame:
    """Of rows with the same key, the one read last. A point's hour partition holds all its
    copies (files are stored by the hour of ``ts``), so no shuffle is needed."""
    ordered = part.sort_values("__row", kind="stable")
    return ordered.drop_duplicates(subset=METRIC_KEYS, keep="last")
