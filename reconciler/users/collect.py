"""Request logs -> history: read each log object, identify, aggregate, sample, store.

Objects are identified, bucketed and sampled in batches of up to ``BATCH_OBJECTS`` (memory
stays bounded by one batch), every result kept per object, and stored one object at a time.
An object already ingested is skipped (the store's ``ingested/`` markers), so a window read
twice counts nothing twice.
Records without a time are rejected (``no timestamp``) beside the parser's own rejects, and an
object whose records cannot be stored at all is quarantined whole (nothing is lost silently).
What this module quarantines leaves out the fields that can carry a tenant key (``_PRIVATE``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from policies.users import UsersPolicy
from providers.base import RequestLogProvider
from providers.models import RejectedRecord, RequestChunk, Resource, TimeWindow
from reconciler.history.store import HistoryStore, IngestResult
from reconciler.users.aggregate import (
    accesses_by_source,
    address_map,
    buckets_by_source,
    request_buckets,
    sample_accesses,
)
from reconciler.users.identity import identify, user_key
from reconciler.users.models import ACCESS_SCHEMA, ANONYMOUS, REQUEST_BUCKET_SCHEMA

__all__ = ["RequestCollectReport", "collect_requests"]

_UNSTORABLE = (pl.exceptions.PolarsError, ValueError, TypeError, OverflowError)
#: How many log objects (or records) are identified, bucketed and sampled in one query.
BATCH_OBJECTS = 64
BATCH_ROWS = 200_000
_EMPTY_BUCKETS = pl.DataFrame(schema=REQUEST_BUCKET_SCHEMA)
_EMPTY_ACCESSES = pl.DataFrame(schema=ACCESS_SCHEMA)
#: Fields that may carry a tenant key: never written to quarantine from here.
_PRIVATE = frozenset({"tenant_raw", "query", "path", "host"})


@dataclass
class RequestCollectReport:
    """What one collect of request logs did: log objects seen and skipped (already ingested),
    requests stored and rejected (by reason category), distinct users (anonymous not counted)
    in the objects stored."""

    objects: int = 0
    skipped: int = 0
    requests: int = 0
    rejected: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    users: int = 0

    def add(self, result: IngestResult) -> None:
        self.objects += 1
        if result.skipped:
            self.skipped += 1
            return
        self.requests += result.accepted
        self.rejected += result.rejected
        self.rejected_by_reason.update(result.rejected_by_reason)

    def summary(self) -> dict[str, int]:
        """Flat counts for the collect step's summary (keys prefixed so they cannot clash)."""
        return {
            "request_objects": self.objects,
            "request_objects_skipped": self.skipped,
            "requests": self.requests,
            "requests_rejected": self.rejected,
            "request_users": self.users,
        }


def _timed(chunk: RequestChunk) -> tuple[pl.DataFrame, list[RejectedRecord]]:
    """The chunk's records with a time, and every reject (the parser's and the untimed)."""
    records, rejected = chunk.records, list(chunk.rejected)
    if records.height and records.get_column("ts").null_count():
        for row in records.filter(pl.col("ts").is_null()).iter_rows(named=True):
            raw = json.dumps({k: v for k, v in row.items() if k not in _PRIVATE}, default=str)
            rejected.append(RejectedRecord(chunk.source, None, raw[:2000], "no timestamp"))
        records = records.filter(pl.col("ts").is_not_null())
    return records, rejected


def collect_requests(
    provider: RequestLogProvider,
    store: HistoryStore,
    window: TimeWindow,
    policy: UsersPolicy,
    inventory: Sequence[Resource],
) -> RequestCollectReport:
    """Every request-log object ``provider`` delivers for ``window`` into ``store``: hashed
    users, 5-minute buckets (ALB targets resolved against ``inventory``'s private addresses)
    and the sampled access stream. Provider errors propagate (see ``request_records``)."""
    report = RequestCollectReport()
    step = _Batch(store, policy, address_map(inventory), report)
    tenant = policy.tenant_key
    field_name = tenant.name if tenant.source == "field" else None
    edges = dict(policy.edge_regions) or None
    try:
        chunks = provider.request_records(window, tenant_field=field_name, edge_regions=edges)
        for chunk in chunks:
            if store.is_ingested(chunk.source) or chunk.source in step.sources:
                report.add(IngestResult(chunk.source, True, 0, 0))
                continue
            step.add(chunk)
            if step.full():
                step.flush()
    finally:  # the objects read before a provider error are stored, as one at a time would
        step.flush()
    step.users.discard(ANONYMOUS)
    report.users = len(step.users)
    return report


class _Batch:
    """Log objects identified, bucketed and sampled together (one query per stage for up to
    ``BATCH_OBJECTS`` objects or ``BATCH_ROWS`` records, where each object alone cost about
    as much as the whole batch), then stored one object at a time as before: every object's
    files, marker and quarantine are what it would get alone. A batch that fails is redone
    object by object, so an unstorable object is quarantined by itself."""

    def __init__(
        self,
        store: HistoryStore,
        policy: UsersPolicy,
        addresses: dict[str, str],
        report: RequestCollectReport,
    ) -> None:
        self.store, self.policy, self.addresses, self.report = store, policy, addresses, report
        self.key = user_key(policy)
        self.chunks: list[tuple[str, pl.DataFrame, list[RejectedRecord]]] = []
        self.batch: list[pl.DataFrame] = []
        self.sources: set[str] = set()
        self.rows = 0
        self.users: set[str] = set()

    def add(self, chunk: RequestChunk) -> None:
        records, rejected = _timed(chunk)
        self.chunks.append((chunk.source, records, rejected))
        # the batch tells its objects apart by ``source`` (the parser sets it to the object's)
        records = records.with_columns(pl.lit(chunk.source, pl.String()).alias("source"))
        self.batch.append(records)
        self.sources.add(chunk.source)
        self.rows += records.height

    def full(self) -> bool:
        return len(self.chunks) >= BATCH_OBJECTS or self.rows >= BATCH_ROWS

    def flush(self) -> None:
        chunks, batch = self.chunks, self.batch
        self.chunks, self.batch, self.sources, self.rows = [], [], set(), 0
        if not chunks:
            return
        try:
            together = pl.concat(batch, how="vertical")
            identified = identify(together, self.policy.tenant_key, self.key)
            buckets = buckets_by_source(identified, self.addresses)
            accesses = accesses_by_source(identified, self.policy.sample_rate)
        except _UNSTORABLE:
            for source, records, rejected in chunks:
                self._one(source, records, rejected, None)
            return
        for source, records, rejected in chunks:
            done = (
                buckets.get(source, _EMPTY_BUCKETS),
                accesses.get(source, _EMPTY_ACCESSES),
            )
            self._one(source, records, rejected, done)

    def _one(
        self,
        source: str,
        records: pl.DataFrame,
        rejected: list[RejectedRecord],
        done: tuple[pl.DataFrame, pl.DataFrame] | None,
    ) -> None:
        """Store one object (``done``: its buckets and accesses from the batch; None: computed
        here from its records alone)."""
        policy = self.policy
        try:
            if done is None:
                identified = identify(records, policy.tenant_key, self.key)
                done = (
                    request_buckets(identified, self.addresses),
                    sample_accesses(identified, policy.sample_rate),
                )
            buckets, accesses = done
            result = self.store.write_requests(source, buckets, accesses, rejected)
        except _UNSTORABLE as exc:
            reason = f"unstorable object: {type(exc).__name__}"
            moved = [RejectedRecord(source, None, "", reason)] * max(records.height, 1)
            result = self.store.write_requests(
                source, _EMPTY_BUCKETS, _EMPTY_ACCESSES, [*rejected, *moved]
            )
            buckets = _EMPTY_BUCKETS
        self.users.update(buckets.get_column("user").unique().to_list())
        self.report.add(result)
