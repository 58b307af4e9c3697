"""IP address -> resource resolution over time, and names for addresses we do not own.

Addresses are resolved within the region of the ENI that logged the record (private ranges
overlap between regions); a record from an ENI no snapshot knows resolves to externals.

Inventory snapshots give, for each address, which resource held it from the snapshot's time
until the next snapshot (an address can move, e.g. an Elastic IP or a reused private IP). The
first snapshot also covers everything before it. Addresses no snapshot knows become
``external:service:<name>`` (the flow log's ``pkt-*-aws-service``), ``external:region`` (a
private/VPC address we do not inventory) or ``external:internet``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeAlias

import polars as pl

from providers.models import Resource

__all__ = [
    "EXTERNAL_INTERNET",
    "EXTERNAL_REGION",
    "Snapshot",
    "address_intervals",
    "classify_unknown",
    "eni_owners",
    "resolve",
]

EXTERNAL_INTERNET = "external:internet"
EXTERNAL_REGION = "external:region"
#: An inventory snapshot: when it was taken and what it held.
Snapshot: TypeAlias = tuple[datetime, Sequence[Resource]]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TS = pl.Datetime("us", "UTC")

_PRIVATE = (
    r"^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.|"
    r"169\.254\.|127\.|[fF][cCdD][0-9a-fA-F]{2}:|[fF][eE]80:)"
)


def address_intervals(snapshots: Sequence[Snapshot]) -> pl.DataFrame:
    """``region``, ``ip``, ``valid_from``, ``resource`` (null once released), sorted."""
    ordered = sorted(snapshots, key=lambda s: s[0])
    rows_region: list[str] = []
    rows_ip: list[str] = []
    rows_from: list[datetime] = []
    rows_res: list[str | None] = []
    current: dict[tuple[str, str], str | None] = {}
    for index, (at, resources) in enumerate(ordered):
        held = {(r.region, ip): r.id for r in resources for ip in r.addresses}
        start = _EPOCH if index == 0 else at
        for key in set(current) | set(held):
            owner = held.get(key)
            if key not in current or current[key] != owner:
                rows_region.append(key[0])
                rows_ip.append(key[1])
                rows_from.append(start)
                rows_res.append(owner)
                current[key] = owner
    frame = pl.DataFrame(
        {"region": rows_region, "ip": rows_ip, "valid_from": rows_from, "resource": rows_res},
        schema={"region": pl.String, "ip": pl.String, "valid_from": _TS, "resource": pl.String},
    )
    return frame.sort("region", "ip", "valid_from")


def eni_owners(snapshots: Sequence[Snapshot]) -> pl.DataFrame:
    """``interface_id`` -> ``owner``, ``region`` (ENI ids are never reused; latest wins)."""
    owners: dict[str, tuple[str, str]] = {}
    for _, resources in sorted(snapshots, key=lambda s: s[0]):
        for r in resources:
            for eni in r.interfaces:
                owners[eni.id] = (r.id, r.region)
    return pl.DataFrame(
        {
            "interface_id": list(owners),
            "owner": [o for o, _ in owners.values()],
            "region": [g for _, g in owners.values()],
        },
        schema={"interface_id": pl.String, "owner": pl.String, "region": pl.String},
    )


def classify_unknown(address: pl.Expr, service: pl.Expr) -> pl.Expr:
    """Name for an address no inventory knows: service, region (private) or internet."""
    has_service = service.is_not_null() & (service != "-")
    return (
        pl.when(has_service)
        .then(pl.lit("external:service:") + service.str.to_lowercase())
        .when(address.str.contains(_PRIVATE))
        .then(pl.lit(EXTERNAL_REGION))
        .otherwise(pl.lit(EXTERNAL_INTERNET))
    )


def resolve(
    frame: pl.DataFrame,
    intervals: pl.DataFrame,
    *,
    address: str,
    at: str,
    service: str,
    out: str,
) -> pl.DataFrame:
    """Add column ``out``: the resource holding ``address`` in the row's ``region`` at ``at``.

    Rows come back sorted by ``at``.

    Addresses no snapshot holds become externals (``classify_unknown``).
    """
    right = intervals.rename({"ip": address, "valid_from": "__from", "resource": "__res"})
    joined = frame.sort(at).join_asof(
        right.sort("__from"),
        left_on=at,
        right_on="__from",
        by=["region", address],
        strategy="backward",
        check_sortedness=False,
    )
    named = joined.with_columns(
        pl.coalesce(pl.col("__res"), classify_unknown(pl.col(address), pl.col(service))).alias(out)
    )
    return named.drop("__from", "__res")
