"""Streaming ingest: chunks in, store written one chunk at a time, counts out.

Used by the collector and the ingest benchmark. Memory stays bounded by one chunk (one source
object), so inputs far larger than RAM stream through.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from providers.models import FLOW_SCHEMA_FULL, FlowChunk, RejectedRecord
from reconciler.history.store import HistoryStore, IngestResult

__all__ = ["IngestReport", "ingest", "parse_ahead"]


@dataclass
class IngestReport:
    """Counts over a whole ingest run; ``read = accepted + rejected`` for non-skipped sources."""

    sources: int = 0
    skipped_duplicates: int = 0
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    skipped_sources: list[str] = field(default_factory=list)

    def add(self, result: IngestResult) -> None:
        self.sources += 1
        if result.skipped:
            self.skipped_duplicates += 1
            self.skipped_sources.append(result.source)
            return
        self.accepted += result.accepted
        self.rejected += result.rejected
        self.read += result.accepted + result.rejected
        self.rejected_by_reason.update(result.rejected_by_reason)

    def as_dict(self) -> dict[str, object]:
        return {
            "sources": self.sources,
            "skipped_duplicates": self.skipped_duplicates,
            "read": self.read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "rejected_by_reason": dict(self.rejected_by_reason),
        }


def ingest(
    chunks: Iterable[FlowChunk],
    store: HistoryStore,
    *,
    on_chunk: Callable[[IngestResult], None] | None = None,
) -> IngestReport:
    """Write every chunk to ``store`` (already-ingested sources are skipped and counted)."""
    report = IngestReport()
    for chunk in chunks:
        try:
            result = store.write_flows(chunk)
        except (pl.exceptions.PolarsError, ValueError, TypeError, OverflowError) as exc:
            result = store.write_flows(_whole(chunk, f"unstorable object: {type(exc).__name__}"))
        report.add(result)
        if on_chunk is not None:
            on_chunk(result)
    return report


def _whole(chunk: FlowChunk, reason: str) -> FlowChunk:
    """``chunk`` with every record moved to quarantine under ``reason`` (nothing lost)."""
    moved = [
        RejectedRecord(chunk.source, None, json.dumps(row, default=str)[:2000], reason)
        for row in chunk.records.iter_rows(named=True)
    ]
    if not moved and not chunk.rejected:
        moved.append(RejectedRecord(chunk.source, None, "", reason))
    empty = pl.DataFrame(schema=FLOW_SCHEMA_FULL)
    return FlowChunk(chunk.source, empty, [*chunk.rejected, *moved])


def parse_ahead(
    loaders: Iterable[Callable[[], FlowChunk]], *, workers: int = 2
) -> Iterator[FlowChunk]:
    """Run ``loaders`` (fetch + parse one object each) on threads, ``workers`` ahead, in order.

    Polars and zlib release the GIL, so parsing the next objects overlaps with writing the
    current one; at most ``workers + 1`` chunks are held in memory.
    """
    if workers <= 1:
        for load in loaders:
            yield load()
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="parse") as pool:
        pending: deque[Future[FlowChunk]] = deque()
        for load in loaders:
            pending.append(pool.submit(load))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
