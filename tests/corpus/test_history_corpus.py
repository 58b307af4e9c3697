"""Every damaged history file in ``tests/corpus/history/cases.json``, on a local disk and on an
fsspec store: the damaged file is quarantined (moved aside with its reason, never deleted),
every query still answers from the rest, and no file is lost: readable + quarantined = listed
(finding 11 of issue 13). Sound oddities (extra columns, zero rows) are kept."""

from __future__ import annotations

import gzip
import io
import json
import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from reconciler.history import HistoryStore
from tests.corpus.bounded import within
from tests.history.hourly import T0, WINDOW, filled, store

__all__ = ["store"]  # the fixture: every case on a local disk and on an fsspec store

HERE = Path(__file__).parent / "history"
CASES: list[dict[str, Any]] = json.loads((HERE / "cases.json").read_text())
TIME = {"flows": "start", "pairs": "window_start", "metrics": "ts"}


def _parquet(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf, compression="lz4")
    return buf.getvalue()


def _flip_page(data: bytes) -> bytes:
    damaged = bytearray(data)
    for i in range(4, min(len(data) - 200, 400)):
        damaged[i] ^= 0x5A
    return bytes(damaged)


def _scramble_footer(data: bytes) -> bytes:
    size = int.from_bytes(data[-8:-4], "little")
    damaged = bytearray(data)
    rng = random.Random(11)
    for i in range(len(data) - 8 - size, len(data) - 8):
        damaged[i] = rng.randrange(256)
    return bytes(damaged)


def _frame(data: bytes) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(data))


DAMAGE: dict[str, Callable[[bytes, str], bytes]] = {
    "truncate_footer": lambda d, k: d[:-6],
    "half": lambda d, k: d[: len(d) // 2],
    "zero_bytes": lambda d, k: b"",
    "zeros": lambda d, k: bytes(len(d)),
    "random_bytes": lambda d, k: random.Random(7).randbytes(len(d)),
    "wrong_type": lambda d, k: _parquet(_frame(d).with_columns(pl.col(TIME[k]).cast(pl.String))),
    "no_time_column": lambda d, k: _parquet(pl.DataFrame({"hello": ["world"]})),
    "list_column": lambda d, k: _parquet(
        _frame(d).with_columns(pl.col("srcaddr").map_elements(lambda a: [a]))
    ),
    "footer_length_lies": lambda d, k: d[:-8] + (2**31 - 1).to_bytes(4, "little") + b"PAR1",
    "scramble_footer": lambda d, k: _scramble_footer(d),
    "magic_only": lambda d, k: b"PAR1",
    "garbage_appended": lambda d, k: d + b"\x00trailing garbage\n",
    "gzipped": lambda d, k: gzip.compress(d),
    "text": lambda d, k: b"resource_id,metric,ts,value\ni-a,NetworkIn,2026-01-01,1.0\n",
    "page_flip": lambda d, k: _flip_page(d),
    "extra_columns": lambda d, k: _parquet(_frame(d).with_columns(pl.lit(1).alias("zz"))),
    "zero_rows": lambda d, k: _parquet(_frame(d).clear()),
    "only_time": lambda d, k: _parquet(_frame(d).select(TIME[k])),
}


def _listed(store: HistoryStore, kind: str) -> list[str]:
    return sorted(store.fs.glob(f"{store.root}/{kind}/*/*/*.parquet"))


def _damage(store: HistoryStore, case: dict[str, Any]) -> str:
    kind = case["kind"]
    [path] = store.fs.glob(f"{store.root}/{kind}/date=2026-01-01/hour=01/*.parquet")
    if case["damage"] == "directory":
        store.fs.rm_file(path)
        store.fs.makedirs(path, exist_ok=True)
        store.fs.pipe_file(f"{path}/part-0", b"not here")
        return str(path)
    store.fs.pipe_file(path, DAMAGE[case["damage"]](store.fs.cat_file(path), kind))
    return str(path)


def _query(store: HistoryStore, kind: str) -> pl.DataFrame:
    """The query that reads table ``kind`` (flows: edges computed from the records)."""
    if kind == "metrics":
        return store.metric_points(WINDOW)
    if kind == "flows":
        store.fs.rm(f"{store.root}/pairs", recursive=True)
    return store.edges(WINDOW)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_damaged_history_file_is_quarantined_and_queries_answer(
    case: dict[str, Any], store: HistoryStore
) -> None:
    kind = case["kind"]
    filled(store)
    bad = _damage(store, case)
    listed = _listed(store, kind)
    with within(20):
        # where the collect step resumes, asked first: it finds the damage itself
        newest = store.latest(kind) if kind in ("flows", "metrics") else None
        answer = _query(store, kind)
        scanned = getattr(store, f"scan_{kind}")().collect()
    if kind in ("flows", "metrics"):
        assert newest == T0 + timedelta(hours=2), newest
    moved = store.quarantined_files()
    assert sorted(_listed(store, kind) + moved.get_column("path").to_list()) == listed
    if not case["quarantined"]:
        assert moved.height == 0 and scanned.get_column(TIME[kind]).null_count() == 0
        return
    assert moved.get_column("path").to_list() == [bad]
    assert moved.get_column("reason").str.starts_with(case["reason"]).all(), moved.rows()
    assert store.fs.exists(moved.get_column("moved_to")[0])  # aside, not deleted
    assert store.file_quarantine_counts() == {case["reason"]: 1}
    kept = scanned.get_column(TIME[kind]).dt.hour().sort().to_list()
    assert kept == [0, 2]
    if kind == "metrics":
        assert answer.get_column("value").to_list() == [1.0, 3.0]
    elif kind == "flows":
        assert sorted(answer.get_column("bytes").to_list()) == [100, 102]
    else:  # the aggregates are incomplete now: the edges come from the records, all three
        assert sorted(answer.get_column("bytes").to_list()) == [100, 101, 102]
