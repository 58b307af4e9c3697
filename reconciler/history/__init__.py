"""The behavioural history store (flows, metrics, inventory) and its ingest and queries."""

from reconciler.history.ingest import IngestReport, ingest, parse_ahead
from reconciler.history.query import EDGE_SCHEMA, SERIES_SCHEMA
from reconciler.history.store import HistoryStore, IngestResult

__all__ = [
    "EDGE_SCHEMA",
    "SERIES_SCHEMA",
    "HistoryStore",
    "IngestReport",
    "IngestResult",
    "ingest",
    "parse_ahead",
]
