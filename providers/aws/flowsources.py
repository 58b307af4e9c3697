"""Where flow logs are delivered: S3 buckets (text or Parquet) and CloudWatch Logs groups.

``discover_flow_sources`` reads ``describe_flow_logs`` so the bucket, prefix, file format,
Hive layout and ``LogFormat`` come from the flow log itself. Each source yields one
``FlowChunk`` per object (S3) or per log stream page set (CloudWatch Logs).

Record timestamps are judged against when the object was delivered (its key's time, or the
events' ingestion window), within ``max_record_age`` before and ``max_record_ahead`` after.
An object that cannot be parsed comes back with every record quarantined and its key in the
reason's source; a field we do not know is passed through with one warning per source.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from providers.aws.flowformat import TimeBounds, UnknownFieldError, parse_format
from providers.aws.flowkeys import day_prefixes, parse_key
from providers.aws.flowlogs import parse_events, parse_parquet, parse_text, reject_object
from providers.aws.session import aws_errors
from providers.models import FlowChunk, TimeWindow

__all__ = ["CloudWatchFlowSource", "S3FlowSource", "discover_flow_sources"]

#: AWS delivers a file at most ~10 minutes (S3) after its records' aggregation interval.
DELIVERY_LAG = timedelta(minutes=15)
#: How long before its delivery a record may have started (delivery is best effort).
MAX_RECORD_AGE = timedelta(days=1)
#: How long after the delivery time a record may end (key minute precision, clock skew).
MAX_RECORD_AHEAD = timedelta(minutes=15)

log = logging.getLogger(__name__)


def _warn_unknown(chunk: FlowChunk, where: str, warned: set[str]) -> FlowChunk:
    """Log once per source and field that a field is kept as pass-through text."""
    new = [f for f in chunk.unknown_fields if f not in warned]
    if new:
        warned.update(new)
        log.warning(
            "flow-log source %s names field(s) Headroom does not know: %s; kept as text in "
            "extra_fields",
            where,
            ", ".join(f.replace("_", "-") for f in new),
        )
    return chunk


@dataclass(frozen=True)
class S3FlowSource:
    """Flow logs delivered to ``s3://bucket/prefix``; ``hive`` None means try both layouts."""

    bucket: str
    account: str
    region: str
    prefix: str = ""
    log_format: str | None = None
    hive: bool | None = None
    max_record_age: timedelta = field(default=MAX_RECORD_AGE, compare=False)
    max_record_ahead: timedelta = field(default=MAX_RECORD_AHEAD, compare=False)

    def chunks(self, s3: Any, window: TimeWindow) -> Iterator[FlowChunk]:
        """Every object delivered for ``window``, parsed; bad records ride along as rejects."""
        try:
            fields: list[str] | None = parse_format(self.log_format)
            format_error = ""
        except UnknownFieldError as exc:
            fields, format_error = None, f"bad LogFormat: {exc}"
        warned: set[str] = set()
        where = f"s3://{self.bucket}/{self.prefix}"
        layouts = [self.hive] if self.hive is not None else [False, True]
        prefixes = [
            p
            for hive in layouts
            for p in day_prefixes(self.account, self.region, window, prefix=self.prefix, hive=hive)
        ]
        for prefix in prefixes:
            with aws_errors(f"ListObjectsV2 s3://{self.bucket}/{prefix}", self.region):
                pages = list(
                    s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
                )
            for page in pages:
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    info = parse_key(key)
                    if info is None:
                        continue  # not a flow-log object (e.g. AWS's own test file)
                    if not window.start <= info.at < window.end + DELIVERY_LAG:
                        continue
                    source = f"s3://{self.bucket}/{key}#{obj.get('ETag', '').strip(chr(34))}"
                    with aws_errors(f"GetObject s3://{self.bucket}/{key}", self.region):
                        body = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                    bounds = TimeBounds.around(
                        info.at, max_age=self.max_record_age, max_ahead=self.max_record_ahead
                    )
                    if info.parquet:
                        chunk = parse_parquet(body, source, bounds=bounds)
                    elif fields is None:
                        chunk = reject_object(body, source, format_error)
                    else:
                        chunk = parse_text(body, source, fields, bounds=bounds)
                    yield _warn_unknown(chunk, where, warned)


@dataclass(frozen=True)
class CloudWatchFlowSource:
    """Flow logs delivered to a CloudWatch Logs group (one stream per ENI)."""

    log_group: str
    region: str
    log_format: str | None = None
    max_record_age: timedelta = field(default=MAX_RECORD_AGE, compare=False)
    max_record_ahead: timedelta = field(default=MAX_RECORD_AHEAD, compare=False)

    def chunks(self, logs: Any, window: TimeWindow) -> Iterator[FlowChunk]:
        """One chunk per log stream with the events ingested in ``window``."""
        try:
            fields: list[str] | None = parse_format(self.log_format)
            format_error = ""
        except UnknownFieldError as exc:
            fields, format_error = None, f"bad LogFormat: {exc}"
        warned: set[str] = set()
        # events ingested in the window: their records ended before it closed
        bounds = TimeBounds(
            int((window.start - self.max_record_age).timestamp()),
            int((window.end + self.max_record_ahead).timestamp()),
            f"ingested {window.start:%Y-%m-%dT%H:%MZ}..{window.end:%Y-%m-%dT%H:%MZ}",
        )
        start_ms = int(window.start.timestamp() * 1000)
        end_ms = int(window.end.timestamp() * 1000) - 1
        by_stream: dict[str, list[str]] = {}
        op = f"FilterLogEvents {self.log_group}"
        with aws_errors(op, self.region):
            paginator = logs.get_paginator("filter_log_events")
            for page in paginator.paginate(
                logGroupName=self.log_group, startTime=start_ms, endTime=end_ms
            ):
                for event in page.get("events", []):
                    stream = event.get("logStreamName", "")
                    by_stream.setdefault(stream, []).append(event.get("message", ""))
        for stream, messages in sorted(by_stream.items()):
            source = f"cwl://{self.region}/{self.log_group}/{stream}@{start_ms}-{end_ms}"
            if fields is None:
                body = "\n".join(messages).encode()
                yield reject_object(body, source, format_error)
                continue
            chunk = parse_events(messages, source, fields, bounds=bounds)
            yield _warn_unknown(chunk, f"cwl://{self.region}/{self.log_group}", warned)


def discover_flow_sources(
    ec2: Any, account: str, region: str
) -> list[S3FlowSource | CloudWatchFlowSource]:
    """Flow-log destinations configured in ``region`` (deduplicated)."""
    found: dict[tuple[str, ...], S3FlowSource | CloudWatchFlowSource] = {}
    with aws_errors("DescribeFlowLogs", region):
        pages = list(ec2.get_paginator("describe_flow_logs").paginate())
    for page in pages:
        for fl in page.get("FlowLogs", []):
            log_format = fl.get("LogFormat") or None
            kind = fl.get("LogDestinationType", "cloud-watch-logs")
            if kind == "s3":
                arn = fl.get("LogDestination", "")
                path = arn.split(":::", 1)[-1]
                bucket, _, prefix = path.partition("/")
                opts = fl.get("DestinationOptions")
                s3src = S3FlowSource(
                    bucket=bucket,
                    account=account,
                    region=region,
                    prefix=prefix,
                    log_format=log_format,
                    hive=None if opts is None else bool(opts.get("HiveCompatiblePartitions")),
                )
                found[("s3", bucket, prefix, str(log_format), str(s3src.hive))] = s3src
            elif kind == "cloud-watch-logs" and fl.get("LogGroupName"):
                group = fl["LogGroupName"]
                found[("cwl", group, str(log_format))] = CloudWatchFlowSource(
                    group, region, log_format
                )
    return list(found.values())
