"""S3 key layout of VPC flow logs, as AWS writes them.

Default:  ``[prefix/]AWSLogs/<acct>/vpcflowlogs/<region>/YYYY/MM/DD/<file>``
Hive:     ``[prefix/]AWSLogs/aws-account-id=<acct>/aws-service=vpcflowlogs/aws-region=<region>/
          year=YYYY/month=MM/day=DD/[hour=HH/]<file>``
File:     ``<acct>_vpcflowlogs_<region>_<flowlogid>_<YYYYMMDDTHHmmZ>_<hash>.log.gz``
          (``.log.parquet`` for Parquet).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from providers.models import TimeWindow

__all__ = ["FlowKey", "day_prefixes", "flow_log_key", "parse_key"]

_FILE = re.compile(
    r"(?P<acct>\d{12})_vpcflowlogs_(?P<region>[a-z0-9-]+)_(?P<flid>fl-[0-9a-zA-Z]+)_"
    r"(?P<ts>\d{8}T\d{4}Z)_(?P<hash>[0-9a-f]+)\.log\.(?P<ext>gz|parquet)$"
)


@dataclass(frozen=True)
class FlowKey:
    """What a flow-log object's name says about it."""

    account: str
    region: str
    flow_log_id: str
    at: datetime
    parquet: bool


def _base(prefix: str, account: str, region: str, hive: bool) -> str:
    lead = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    if hive:
        return (
            f"{lead}AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/"
        )
    return f"{lead}AWSLogs/{account}/vpcflowlogs/{region}/"


def _date_path(at: datetime, hive: bool, per_hour: bool) -> str:
    if hive:
        path = f"year={at:%Y}/month={at:%m}/day={at:%d}/"
        return path + (f"hour={at:%H}/" if per_hour else "")
    return f"{at:%Y/%m/%d}/"


def flow_log_key(
    account: str,
    region: str,
    flow_log_id: str,
    at: datetime,
    *,
    prefix: str = "",
    hive: bool = False,
    per_hour: bool = False,
    parquet: bool = False,
    salt: str = "",
) -> str:
    """The key AWS would give the object delivered at ``at`` (UTC, minute precision)."""
    at = at.astimezone(UTC)
    stamp = f"{at:%Y%m%dT%H%MZ}"
    digest = hashlib.sha1(f"{flow_log_id}{stamp}{salt}".encode()).hexdigest()[:8]
    ext = "log.parquet" if parquet else "log.gz"
    name = f"{account}_vpcflowlogs_{region}_{flow_log_id}_{stamp}_{digest}.{ext}"
    return _base(prefix, account, region, hive) + _date_path(at, hive, per_hour) + name


def day_prefixes(
    account: str, region: str, window: TimeWindow, *, prefix: str = "", hive: bool = False
) -> list[str]:
    """Prefixes to list for objects delivered in ``window``, one per day.

    A day prefix also covers Hive per-hour folders below it.
    """
    cursor = window.start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    # Objects arrive up to ~10 minutes after their records: look a little past the end.
    last = window.end + timedelta(minutes=15)
    out: list[str] = []
    while cursor < last:
        out.append(_base(prefix, account, region, hive) + _date_path(cursor, hive, False))
        cursor += timedelta(days=1)
    return out


def parse_key(key: str) -> FlowKey | None:
    """Read account, region, flow log id and delivery time from an AWS-named object, or None."""
    match = _FILE.search(key.rsplit("/", 1)[-1])
    if match is None:
        return None
    at = datetime.strptime(match["ts"], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    return FlowKey(match["acct"], match["region"], match["flid"], at, match["ext"] == "parquet")
