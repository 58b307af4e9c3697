"""Every flow-log object in ``tests/corpus/flowlogs`` (see ``cases.json``), parsed and stored.

Each entry says what the parser must make of it (accepted and rejected counts, reason
categories, expected field values, whether the object is quarantined whole) and, through the
history store, that nothing is lost: stored + quarantined = read, and a second ingest of the
same object is a skip, not a failure. Findings 1-3, 5 and 6 of issue 13.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from providers.aws.flowformat import PLAUSIBLE, TimeBounds, parse_format
from providers.aws.flowlogs import parse_parquet, parse_text
from providers.models import FlowChunk
from reconciler.history import HistoryStore, ingest
from reconciler.history.store import reason_category
from tests.corpus.bounded import within

HERE = Path(__file__).parent / "flowlogs"
CASES: list[dict[str, Any]] = json.loads((HERE / "cases.json").read_text())


def parse(case: dict[str, Any]) -> FlowChunk:
    data = (HERE / case["file"]).read_bytes()
    source = f"s3://corpus/{case['file']}#etag"
    bounds = PLAUSIBLE
    if "delivered" in case:
        bounds = TimeBounds.around(datetime.fromisoformat(case["delivered"]))
    with within(10):
        if case.get("kind") == "parquet":
            return parse_parquet(data, source, bounds=bounds)
        fields = parse_format(case["log_format"]) if "log_format" in case else None
        return parse_text(data, source, fields, bounds=bounds)


def _comparable(value: Any) -> Any:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else value


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_corpus_object_parses_as_documented(case: dict[str, Any]) -> None:
    chunk = parse(case)
    reasons = [r.reason for r in chunk.rejected]
    assert chunk.records.height == case["accepted"], reasons
    if "rejected" in case:
        assert len(chunk.rejected) == case["rejected"], reasons
    assert {reason_category(r) for r in reasons} <= set(case.get("reasons", [])), reasons
    for reason in case.get("reasons", []):
        assert any(reason_category(r) == reason for r in reasons), (reason, reasons)
    assert all(r.source == chunk.source for r in chunk.rejected)  # the object is named
    if case.get("whole"):
        assert chunk.records.height == 0 and chunk.rejected
    assert list(chunk.unknown_fields) == case.get("unknown", [])
    rows = chunk.records.to_dicts()
    for row, expected in zip(rows, case.get("expect", []), strict=False):
        got = {k: _comparable(row[k]) for k in expected}
        assert got == expected


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_corpus_object_is_stored_or_quarantined_never_lost(
    case: dict[str, Any], tmp_path: Path
) -> None:
    store = HistoryStore(str(tmp_path / "history"))
    chunk = parse(case)
    with within(20):
        first = ingest([chunk], store)
        again = ingest([parse(case)], store)  # a later cycle meets the same object
    read = chunk.records.height + len(chunk.rejected)
    assert first.read == read
    stored = store.scan_flows().collect().height
    quarantined = store.quarantine().height
    assert stored + quarantined == read
    if "stored" in case:  # records without a start time are quarantined by the store
        assert stored == case["stored"]
    assert again.skipped_duplicates == 1 and again.read == 0
