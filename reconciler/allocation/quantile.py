"""Which forecast quantile sizes a group, and the forecast's value there.

A class's provisioning quantile is, in order: the operator's ``forecast.quantile_by_class``
entry; else, when the class prices unserved demand (``slo``) and the policy prices capacity
(``prices``), the newsvendor critical ratio ``underage / (underage + overage)`` for the metric —
the quantile at which one more unit of capacity costs as much as the unserved demand it saves
in expectation; else ``forecast.default_quantile``.

For bandwidth, a Gbps missing for an hour leaves ``GB_PER_GBPS_HOUR`` GB unserved, so the
underage of one Gbps-hour is ``slo.unmet_gb_usd * 450`` against ``prices.gbps_hour_usd``;
for CPU a vCPU-hour short costs ``slo.unmet_vcpu_hour_usd`` against ``prices.vcpu_hour_usd``.
Other metrics keep the default quantile.

The forecast carries a few quantiles (p50, p90, p99); the value at another level is read off
the piecewise-linear quantile function through them, held flat outside the outermost ones (a
ratio above the top quantile is sized at the top quantile: the forecast says nothing beyond it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise

from policies.schema import Policy

__all__ = [
    "GB_PER_GBPS_HOUR",
    "Provisioning",
    "QuantileMap",
    "normalize_quantiles",
    "provisioning_quantile",
    "quantile_at",
]

#: Forecast quantiles keyed ``0.9`` or ``"p90"``.
QuantileMap = Mapping[float, float] | Mapping[str, float]


def normalize_quantiles(quantiles: QuantileMap) -> dict[float, float]:
    """``{"p90": 3.0}`` or ``{0.9: 3.0}`` -> ``{0.9: 3.0}``; refuse other keys."""
    out: dict[float, float] = {}
    items: list[tuple[float | str, float]] = list(quantiles.items())
    for key, value in items:
        if isinstance(key, str):
            text = key.strip().lower()
            if not text.startswith("p") or not text[1:].replace(".", "", 1).isdigit():
                raise ValueError(f"quantile key {key!r} is not like 'p90' or 0.9")
            q = float(text[1:]) / 100
        else:
            q = float(key)
        if not 0 < q < 1:
            raise ValueError(f"quantile {key!r} is outside (0, 1)")
        out[q] = float(value)
    return out


#: 1 Gbps for one hour, in GB (10^9 bits/s * 3600 s / 8 bits per byte / 10^9 bytes per GB).
GB_PER_GBPS_HOUR = 450.0
#: Newsvendor ratios are kept inside this range: a price typo must not size at p100 or p0.
RATIO_BOUNDS = (0.5, 0.999)
NETWORK_METRICS = frozenset({"network_gbps", "bandwidth_gbps"})
CPU_METRICS = frozenset({"cpu_vcpu"})


@dataclass(frozen=True)
class Provisioning:
    """The quantile a class is sized at for one metric, and where it came from."""

    quantile: float
    basis: str  # "class", "newsvendor" or "default"


def provisioning_quantile(policy: Policy, group_class: str, metric: str) -> Provisioning:
    """The quantile ``group_class`` is sized at for ``metric`` under ``policy`` (see module)."""
    explicit = policy.forecast.quantile_by_class.get(group_class)
    if explicit is not None:
        return Provisioning(explicit, "class")
    cls = policy.group_classes.get(group_class)
    slo, prices = (cls.slo if cls else None), policy.prices
    if slo is not None and prices is not None:
        under: float | None = None
        over = 0.0
        if metric in NETWORK_METRICS:
            under, over = slo.unmet_gb_usd * GB_PER_GBPS_HOUR, prices.gbps_hour_usd
        elif metric in CPU_METRICS and slo.unmet_vcpu_hour_usd is not None:
            under, over = slo.unmet_vcpu_hour_usd, prices.vcpu_hour_usd
        if under is not None:
            low, high = RATIO_BOUNDS
            return Provisioning(min(high, max(low, under / (under + over))), "newsvendor")
    return Provisioning(policy.forecast.default_quantile, "default")


def quantile_at(quantiles: QuantileMap, wanted: float) -> float:
    """The forecast's value at level ``wanted``: linear between its quantiles, flat outside."""
    qs = sorted(normalize_quantiles(quantiles).items())
    if not qs:
        raise ValueError("no forecast quantiles given")
    if wanted <= qs[0][0]:
        return qs[0][1]
    for (q0, v0), (q1, v1) in pairwise(qs):
        if wanted <= q1:
            # quantile crossing in a forecast must not make a higher level smaller
            return v0 + (max(v0, v1) - v0) * (wanted - q0) / (q1 - q0)
    return qs[-1][1]
