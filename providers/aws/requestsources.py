"""Where request logs are delivered: ALB access logs and CloudFront standard logs in S3.

``discover_alb_sources`` reads each Application Load Balancer's ``access_logs.s3.*``
attributes; ``discover_cloudfront_sources`` reads each distribution's ``Logging`` and its first
origin (the region that serves it). A ``RequestLogSource`` can also be given explicitly.

An object is read in the window its *delivery* falls in, so consecutive windows read each object
once: ALB writes one file per node every 5 minutes, named by the interval's end
(``ALB_DELIVERY_LAG`` after it); CloudFront names a file by the hour its requests occurred and
usually delivers within an hour after it (``CLOUDFRONT_DELIVERY_LAG`` after the hour ends).
A later delivery is missed by key time; the history store skips an object it has already
ingested (its ``source`` carries the ETag), so overlapping windows are harmless.

Key layouts (AWS documentation):

- ALB: ``[prefix/]AWSLogs/<account>/elasticloadbalancing/<region>/yyyy/mm/dd/``
  ``<account>_elasticloadbalancing_<region>_app.<lb-name>.<lb-id>_<end YYYYMMDDTHHMMZ>_<ip>_``
  ``<random>.log.gz``
- CloudFront: ``<prefix><distribution-id>.YYYY-MM-DD-HH.<unique>.gz``
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from providers.aws.requestlogs import parse_alb_logs, parse_cloudfront_log
from providers.aws.session import aws_errors
from providers.models import RequestChunk, RequestLogKind, TimeWindow

__all__ = [
    "ALB_DELIVERY_LAG",
    "CLOUDFRONT_DELIVERY_LAG",
    "RequestLogSource",
    "alb_log_key",
    "cloudfront_log_key",
    "discover_alb_sources",
    "discover_cloudfront_sources",
    "origin_region",
]

#: After an ALB file's interval ends, when it is counted as delivered.
ALB_DELIVERY_LAG = timedelta(minutes=5)
#: After a CloudFront file's hour ends, when it is counted as delivered.
CLOUDFRONT_DELIVERY_LAG = timedelta(hours=1)
_HOUR = timedelta(hours=1)
#: How many ALB objects (or compressed bytes) are parsed in one pass: one 5-minute object is
#: small, and parsing costs about the same for one as for many.
ALB_BATCH_OBJECTS = 64
ALB_BATCH_BYTES = 32 << 20

_ALB_FILE = re.compile(
    r"^(?P<acct>\d{12})_elasticloadbalancing_(?P<region>[a-z0-9-]+)_app\.(?P<lb>[^_/]+)_"
    r"(?P<ts>\d{8}T\d{4}Z)_(?P<ip>[0-9a-fA-F.:]+)_(?P<rand>[0-9A-Za-z]+)\.log(?:\.gz)?$"
)
_CF_FILE = re.compile(r"^(?P<dist>[A-Z0-9]+)\.(?P<hour>\d{4}-\d{2}-\d{2}-\d{2})\.[0-9A-Za-z]+\.gz$")
_REGION = re.compile(
    r"(?:^|[.-])((?:us|eu|ap|sa|ca|me|af|il|mx)(?:-gov)?-"
    r"(?:north|south|east|west|central|northeast|southeast|northwest|southwest)-\d)(?=\.)"
)


def _lead(prefix: str) -> str:
    return f"{prefix.strip('/')}/" if prefix.strip("/") else ""


def _alb_base(prefix: str, account: str, region: str) -> str:
    return f"{_lead(prefix)}AWSLogs/{account}/elasticloadbalancing/{region}/"


def _digest(*parts: str) -> str:
    return hashlib.sha1("|".join(parts).encode()).hexdigest()


def alb_log_key(
    account: str,
    region: str,
    load_balancer_id: str,
    end: datetime,
    *,
    prefix: str = "",
    node_ip: str = "10.0.0.1",
    salt: str = "",
) -> str:
    """The key AWS gives the access-log file of ``load_balancer_id`` (``app/<name>/<id>``, its
    slashes become dots) for the 5-minute interval ending at ``end`` (UTC, minute precision)."""
    end = end.astimezone(UTC)
    stamp = f"{end:%Y%m%dT%H%MZ}"
    lb = load_balancer_id.removeprefix("app/").replace("/", ".")
    random = _digest(load_balancer_id, stamp, node_ip, salt)[:10]
    name = f"{account}_elasticloadbalancing_{region}_app.{lb}_{stamp}_{node_ip}_{random}.log.gz"
    return f"{_alb_base(prefix, account, region)}{end:%Y/%m/%d}/{name}"


def cloudfront_log_key(
    distribution_id: str, hour: datetime, *, prefix: str = "", salt: str = ""
) -> str:
    """The key CloudFront gives a log file of ``distribution_id`` for requests in ``hour``
    (UTC); ``prefix`` is used as configured (AWS does not add a slash)."""
    hour = hour.astimezone(UTC)
    unique = _digest(distribution_id, f"{hour:%Y-%m-%d-%H}", salt)[:8]
    return f"{prefix}{distribution_id}.{hour:%Y-%m-%d-%H}.{unique}.gz"


def _alb_delivered(key: str) -> datetime | None:
    match = _ALB_FILE.match(key.rsplit("/", 1)[-1])
    if match is None:
        return None
    end = datetime.strptime(match["ts"], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    return end + ALB_DELIVERY_LAG


def _cloudfront_delivered(key: str, prefix: str) -> datetime | None:
    match = _CF_FILE.match(key.removeprefix(prefix)) if key.startswith(prefix) else None
    if match is None:
        return None
    hour = datetime.strptime(match["hour"], "%Y-%m-%d-%H").replace(tzinfo=UTC)
    return hour + _HOUR + CLOUDFRONT_DELIVERY_LAG


def origin_region(domain: str) -> str | None:
    """The region in an origin's domain name (``*.us-west-2.elb.amazonaws.com``,
    ``bucket.s3.eu-west-1.amazonaws.com``), or None (a custom origin, or a global name such
    as ``bucket.s3.amazonaws.com``)."""
    domain = domain.lower().rstrip(".")
    if not domain.endswith((".amazonaws.com", ".on.aws")):
        return None
    found = _REGION.findall(domain)
    return str(found[-1]) if found else None


@dataclass(frozen=True)
class RequestLogSource:
    """Request logs of one kind delivered to ``s3://bucket/prefix``.

    ``region``: the load balancer's region (ALB, required) or the distribution's origin region
    (CloudFront, None when unknown). ``account``: the account in ALB keys (required for ALB).
    ``distribution_id`` (CloudFront) narrows each listing to one distribution and hour; without
    it the whole prefix is listed.
    """

    kind: RequestLogKind
    bucket: str
    prefix: str = ""
    region: str | None = None
    account: str | None = None
    distribution_id: str | None = field(default=None)

    def __post_init__(self) -> None:
        if self.kind == RequestLogKind.ALB and (not self.region or not self.account):
            raise ValueError(
                f"ALB request-log source s3://{self.bucket}/{self.prefix} needs region and account"
            )

    def _keys(self, s3: Any, window: TimeWindow) -> Iterator[tuple[str, str]]:
        """(key, etag) of every object delivered in ``window``."""
        for prefix in self._prefixes(window):
            with aws_errors(f"ListObjectsV2 s3://{self.bucket}/{prefix}", self.region):
                pages = list(
                    s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
                )
            for page in pages:
                for obj in page.get("Contents", []):
                    key = str(obj["Key"])
                    if self.kind == RequestLogKind.ALB:
                        due = _alb_delivered(key)
                    else:
                        due = _cloudfront_delivered(key, self.prefix)
                    if due is not None and window.start <= due < window.end:
                        yield key, str(obj.get("ETag", "")).strip('"')

    def _prefixes(self, window: TimeWindow) -> list[str]:
        """The listings that hold the objects delivered in ``window``."""
        if self.kind == RequestLogKind.ALB:
            assert self.account is not None and self.region is not None
            base = _alb_base(self.prefix, self.account, self.region)
            # the folder is the delivery day; an interval ending before midnight may land in it
            day = (window.start - ALB_DELIVERY_LAG).astimezone(UTC).date()
            out: list[str] = []
            while day <= window.end.astimezone(UTC).date():
                out.append(f"{base}{day:%Y/%m/%d}/")
                day += timedelta(days=1)
            return out
        if self.distribution_id is None:
            return [self.prefix]
        first = window.start - _HOUR - CLOUDFRONT_DELIVERY_LAG
        hour = first.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        hour = hour if hour >= first else hour + _HOUR
        hours: list[str] = []
        while hour + _HOUR + CLOUDFRONT_DELIVERY_LAG < window.end:
            hours.append(f"{self.prefix}{self.distribution_id}.{hour:%Y-%m-%d-%H}.")
            hour += _HOUR
        return hours

    def chunks(
        self,
        s3: Any,
        window: TimeWindow,
        tenant_field: str | None = None,
        edge_regions: Mapping[str, str] | None = None,
    ) -> Iterator[RequestChunk]:
        """Each object delivered in ``window``, parsed (bad lines ride along as rejects).

        Raises AccessDeniedError, NotFoundError (bucket missing), ThrottledError,
        ProviderUnavailableError."""
        if self.kind == RequestLogKind.ALB:
            yield from self._alb_chunks(s3, window, tenant_field)
            return
        for key, etag in self._keys(s3, window):
            source = f"s3://{self.bucket}/{key}#{etag}"
            with aws_errors(f"GetObject s3://{self.bucket}/{key}", self.region):
                body = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            yield parse_cloudfront_log(body, source, self.region, tenant_field, edge_regions)

    def _alb_chunks(
        self, s3: Any, window: TimeWindow, tenant_field: str | None
    ) -> Iterator[RequestChunk]:
        """ALB objects parsed ``ALB_BATCH_OBJECTS`` (or ``ALB_BATCH_BYTES``) at a time, in
        key order; the objects read before a failed read are parsed and yielded first."""
        assert self.region is not None
        region = self.region
        pending: list[tuple[bytes, str]] = []
        size = 0
        try:
            for key, etag in self._keys(s3, window):
                with aws_errors(f"GetObject s3://{self.bucket}/{key}", self.region):
                    body = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                pending.append((body, f"s3://{self.bucket}/{key}#{etag}"))
                size += len(body)
                if len(pending) >= ALB_BATCH_OBJECTS or size >= ALB_BATCH_BYTES:
                    batch, pending, size = pending, [], 0
                    yield from parse_alb_logs(batch, region, tenant_field)
        except Exception:
            if pending:  # what was read before a provider error is delivered, then the error
                yield from parse_alb_logs(pending, region, tenant_field)
            raise
        if pending:
            yield from parse_alb_logs(pending, region, tenant_field)


def discover_alb_sources(elbv2: Any, account: str, region: str) -> list[RequestLogSource]:
    """The access-log destinations of the Application Load Balancers in ``region``
    (deduplicated: load balancers sharing a bucket and prefix are one source)."""
    found: dict[tuple[str, str], RequestLogSource] = {}
    with aws_errors("DescribeLoadBalancers", region):
        pages = list(elbv2.get_paginator("describe_load_balancers").paginate())
    for page in pages:
        for lb in page.get("LoadBalancers", []):
            if lb.get("Type", "application") != "application":
                continue
            arn = lb["LoadBalancerArn"]
            with aws_errors(f"DescribeLoadBalancerAttributes {arn}", region):
                attrs = elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)
            values = {a.get("Key"): a.get("Value") for a in attrs.get("Attributes", [])}
            bucket = values.get("access_logs.s3.bucket") or ""
            if str(values.get("access_logs.s3.enabled", "false")).lower() != "true" or not bucket:
                continue
            prefix = values.get("access_logs.s3.prefix") or ""
            found.setdefault(
                (bucket, prefix),
                RequestLogSource(RequestLogKind.ALB, bucket, prefix, region, account),
            )
    return list(found.values())


def _bucket_name(logging_bucket: str) -> str:
    """``name.s3.amazonaws.com`` (as CloudFront stores it) -> ``name``."""
    return re.sub(r"\.s3[.-]([a-z0-9-]+\.)?amazonaws\.com\.?$", "", logging_bucket.strip())


def discover_cloudfront_sources(cloudfront: Any, account: str) -> list[RequestLogSource]:
    """One source per distribution with standard (legacy) logging to S3 enabled; its region is
    its first origin's region (None for a custom origin)."""
    out: list[RequestLogSource] = []
    with aws_errors("ListDistributions", None):
        pages = list(cloudfront.get_paginator("list_distributions").paginate())
    for page in pages:
        for item in page.get("DistributionList", {}).get("Items", []) or []:
            dist_id = item["Id"]
            with aws_errors(f"GetDistributionConfig {dist_id}", None):
                config = cloudfront.get_distribution_config(Id=dist_id)["DistributionConfig"]
            logging_cfg = config.get("Logging") or {}
            if not logging_cfg.get("Enabled") or not logging_cfg.get("Bucket"):
                continue
            origins = (config.get("Origins") or {}).get("Items") or []
            region = origin_region(origins[0].get("DomainName", "")) if origins else None
            out.append(
                RequestLogSource(
                    RequestLogKind.CLOUDFRONT,
                    _bucket_name(logging_cfg["Bucket"]),
                    logging_cfg.get("Prefix") or "",
                    region,
                    account,
                    distribution_id=dist_id,
                )
            )
    return out
