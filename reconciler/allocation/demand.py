"""Turn forecasts into allocator input: pick the class's quantile, add headroom, attach terms.

Prediction, sizing and policy capping stay apart (VPA's estimator / capping split): this module
only chooses a quantile and adds the policy's margin; ceilings are the allocator's job.
"""

from __future__ import annotations

from collections.abc import Mapping

from policies.schema import Policy
from reconciler.allocation.models import GroupDemand

#: Forecast quantiles keyed ``0.9`` or ``"p90"``.
QuantileMap = Mapping[float, float] | Mapping[str, float]

__all__ = ["QuantileMap", "demand_for", "normalize_quantiles", "pick_quantile"]


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


def pick_quantile(quantiles: QuantileMap, wanted: float) -> tuple[float, float]:
    """The smallest available quantile at or above ``wanted`` (else the largest): (q, value)."""
    qs = normalize_quantiles(quantiles)
    if not qs:
        raise ValueError("no forecast quantiles given")
    above = sorted(q for q in qs if q >= wanted - 1e-12)
    q = above[0] if above else max(qs)
    return q, qs[q]


def demand_for(
    policy: Policy,
    group_id: str,
    region: str,
    quantiles: QuantileMap,
    group_class: str | None = None,
) -> GroupDemand:
    """A ``GroupDemand`` for one group from its bandwidth forecast (Gbps) and the policy."""
    cls_name = group_class or policy.default_class
    if cls_name not in policy.group_classes:
        raise ValueError(f"group {group_id}: class {cls_name!r} is not in the policy")
    cls = policy.group_classes[cls_name]
    q, value = pick_quantile(quantiles, policy.forecast.quantile_for(cls_name))
    return GroupDemand(
        group_id=group_id,
        region=region,
        demand_gbps=max(0.0, policy.headroom.apply(value)),
        guarantee_gbps=cls.guarantee_gbps,
        ceiling_gbps=cls.ceiling_gbps,
        priority=cls.priority,
        weight=cls.weight,
        group_class=cls_name,
        quantile=q,
    )
