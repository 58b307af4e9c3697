"""Every request-log object in ``tests/corpus/requestlogs`` (see ``cases.json``), parsed.

Each entry says what the ALB or CloudFront parser must make of it: accepted and rejected
counts (or a minimum accepted for a damaged gzip), the reason categories, the rejected line
numbers, expected field values, and a string (a client address) that must not appear in any
record. Nothing is lost: accepted + rejected covers every non-blank line of an intact object.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from providers.aws.requestlogs import parse_alb_log, parse_cloudfront_log
from providers.models import RequestChunk
from reconciler.history.store import reason_category
from tests.corpus.bounded import within

HERE = Path(__file__).parent / "requestlogs"
CASES: list[dict[str, Any]] = json.loads((HERE / "cases.json").read_text())


def parse(case: dict[str, Any]) -> RequestChunk:
    data = (HERE / case["file"]).read_bytes()
    source = f"s3://corpus/{case['file']}#etag"
    tenant = case.get("tenant_field")
    with within(10):
        if case["kind"] == "alb":
            return parse_alb_log(data, source, "us-east-2", tenant)
        return parse_cloudfront_log(data, source, "us-east-1", tenant, case.get("edge_regions"))


def _comparable(value: Any) -> Any:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else value


def test_the_corpus_has_at_least_25_bad_or_odd_entries() -> None:
    odd = [c for c in CASES if c.get("rejected", 1) or c.get("reasons") or "expect" in c]
    assert len(CASES) >= 25 and len(odd) >= 25
    assert {c["kind"] for c in CASES} == {"alb", "cloudfront"}


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_corpus_object_parses_as_documented(case: dict[str, Any]) -> None:
    chunk = parse(case)
    reasons = [r.reason for r in chunk.rejected]
    if "accepted" in case:
        assert chunk.records.height == case["accepted"], reasons
    assert chunk.records.height >= case.get("accepted_min", 0)
    if "rejected" in case:
        assert len(chunk.rejected) == case["rejected"], reasons
    categories = {reason_category(r) for r in reasons}
    expected = set(case.get("reasons", []))
    if case.get("loose_reasons"):  # noise: some of these, nothing else
        assert categories and categories <= expected, categories
    else:
        assert categories == expected, reasons
    if "lines" in case:
        assert [r.line for r in chunk.rejected] == case["lines"]
    assert all(r.source == chunk.source for r in chunk.rejected)
    if case.get("whole"):
        assert chunk.records.height == 0 and chunk.rejected
    rows = chunk.records.to_dicts()
    for row, want in zip(rows, case.get("expect", []), strict=False):
        assert {k: _comparable(row[k]) for k in want} == want
    if "absent" in case:
        assert case["absent"] not in json.dumps(chunk.records.rows(), default=str)


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if "accepted" in c and not c.get("whole")],
    ids=lambda c: c["file"],
)
def test_every_line_is_a_record_or_a_reject(case: dict[str, Any]) -> None:
    chunk = parse(case)
    data = (HERE / case["file"]).read_bytes()
    text = (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("utf-8", "replace")
    lines = [
        ln for ln in text.lstrip("\ufeff").split("\n") if ln.strip() and not ln.startswith("#")
    ]
    assert chunk.records.height + len(chunk.rejected) == len(lines)
