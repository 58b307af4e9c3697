"""Request logs -> history: read each log object, identify, aggregate, sample, store.

One object at a time (memory stays bounded by one log object). An object already ingested is
skipped (the store's ``ingested/`` markers), so a window read twice counts nothing twice.
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
from reconciler.users.aggregate import address_map, request_buckets, sample_accesses
from reconciler.users.identity import identify, user_key
from reconciler.users.models import ACCESS_SCHEMA, ANONYMOUS, REQUEST_BUCKET_SCHEMA

__all__ = ["RequestCollectReport", "collect_requests"]

_UNSTORABLE = (pl.exceptions.PolarsError, ValueError, TypeError, OverflowError)
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
    key = user_key(policy)
    addresses = address_map(inventory)
    tenant = policy.tenant_key
    field_name = tenant.name if tenant.source == "field" else None
    users: set[str] = set()
    edges = dict(policy.edge_regions) or None
    for chunk in provider.request_records(window, tenant_field=field_name, edge_regions=edges):
        if store.is_ingested(chunk.source):
            report.add(IngestResult(chunk.source, True, 0, 0))
            continue
        records, rejected = _timed(chunk)
        try:
            identified = identify(records, tenant, key)
            buckets = request_buckets(identified, addresses)
            accesses = sample_accesses(identified, policy.sample_rate)
            result = store.write_requests(chunk.source, buckets, accesses, rejected)
        except _UNSTORABLE as exc:
            reason = f"unstorable object: {type(exc).__name__}"
            moved = [RejectedRecord(chunk.source, None, "", reason)] * max(records.height, 1)
            empty_b = pl.DataFrame(schema=REQUEST_BUCKET_SCHEMA)
            empty_a = pl.DataFrame(schema=ACCESS_SCHEMA)
            result = store.write_requests(chunk.source, empty_b, empty_a, [*rejected, *moved])
            buckets = empty_b
        users.update(buckets.get_column("user").unique().to_list())
        report.add(result)
    users.discard(ANONYMOUS)
    report.users = len(users)
    return report
