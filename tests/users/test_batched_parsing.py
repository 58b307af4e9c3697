"""ALB objects parsed many at a time (the collect step's first cycle reads thousands): each
chunk is what the object parsed alone gives, and a failed read still delivers what came
before it."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

import providers.aws.requestsources as requestsources
from providers.aws.requestlogs import parse_alb_log, parse_alb_logs
from providers.aws.requestsources import RequestLogSource, alb_log_key
from providers.base import AccessDeniedError
from providers.models import RequestLogKind, TimeWindow
from tests.providers.test_requestlogs import HTTPS

CORPUS = Path(__file__).parents[1] / "corpus" / "requestlogs"
REGION = "us-east-2"
ACCOUNT = "123456789012"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("tenant_field", [None, "user_agent", "domain_name"])
def test_the_corpus_parsed_together_is_each_object_parsed_alone(tenant_field: str | None) -> None:
    cases = [c for c in json.loads((CORPUS / "cases.json").read_text()) if c["kind"] == "alb"]
    objects = [((CORPUS / c["file"]).read_bytes(), f"s3://corpus/{c['file']}#e") for c in cases]
    together = parse_alb_logs(objects, REGION, tenant_field)
    assert len(together) == len(objects) >= 20
    assert sum(len(c.rejected) for c in together) >= 20  # bad lines, damaged gzip, odd quoting
    for (body, source), chunk in zip(objects, together, strict=True):
        alone = parse_alb_log(body, source, REGION, tenant_field)
        assert chunk.source == source and chunk.kind == alone.kind
        assert chunk.records.schema == alone.records.schema
        assert chunk.records.equals(alone.records)
        assert chunk.rejected == alone.rejected


def _bucket_with(n: int) -> tuple[RequestLogSource, TimeWindow]:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="alb-logs", CreateBucketConfiguration={"LocationConstraint": REGION})
    for m in range(n):
        key = alb_log_key(ACCOUNT, REGION, "app/web/1", T0 + timedelta(minutes=5 * (m + 1)))
        body = gzip.compress(HTTPS.replace(" 200 200 ", f" {200 + m} 200 ").encode())
        s3.put_object(Bucket="alb-logs", Key=key, Body=body)
    source = RequestLogSource(RequestLogKind.ALB, "alb-logs", "", REGION, ACCOUNT)
    return source, TimeWindow(start=T0, end=T0 + timedelta(hours=2))


def test_a_source_yields_every_object_once_across_batches(
    mocked_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(requestsources, "ALB_BATCH_OBJECTS", 2)
    source, window = _bucket_with(5)
    chunks = list(source.chunks(boto3.client("s3", region_name=REGION), window))
    assert len({c.source for c in chunks}) == 5
    statuses = [c.records.get_column("status").to_list() for c in chunks]
    assert statuses == [[200 + m] for m in range(5)]  # key order, one record each


def test_objects_read_before_a_denied_read_are_delivered_then_the_error(
    mocked_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(requestsources, "ALB_BATCH_OBJECTS", 4)
    source, window = _bucket_with(3)
    s3 = boto3.client("s3", region_name=REGION)
    real = s3.get_object
    calls = []

    def flaky(**kw: str) -> object:
        calls.append(kw["Key"])
        if len(calls) == 3:
            raise s3.exceptions.ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "denied"}}, "GetObject"
            )
        return real(**kw)

    monkeypatch.setattr(s3, "get_object", flaky)
    got = []
    with pytest.raises(AccessDeniedError, match="GetObject"):
        for chunk in source.chunks(s3, window):
            got.append(chunk.source)
    assert len(got) == 2 and all(calls[i] in got[i] for i in range(2))
