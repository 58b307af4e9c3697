"""Read a group's need for one metric: the class's forecast quantile plus policy headroom."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.allocation.quantile import normalize_quantiles, provisioning_quantile, quantile_at
from reconciler.planning.models import Evidence, PlanGroup, PlanInput, PlanMetric

__all__ = ["Need", "need_of"]


@dataclass(frozen=True)
class Need:
    """A sized need and the evidence behind it (the chosen quantile and the interval)."""

    value: float
    evidence: Evidence


def need_of(
    inp: PlanInput, group: PlanGroup, metric: PlanMetric, *, headroom: bool = True
) -> Need | None:
    """The group's need for ``metric``, or None when there is no forecast for it."""
    fc = inp.forecasts.get(group.group_id, {}).get(metric)
    if fc is None or not fc.quantiles:
        return None
    policy = inp.policy
    cls = group.group_class or policy.default_class
    sized = provisioning_quantile(policy, cls, str(metric))
    q, value = sized.quantile, quantile_at(fc.quantiles, sized.quantile)
    qs = normalize_quantiles(fc.quantiles)
    interval = (min(qs.values()), max(qs.values()))
    if headroom:
        absolute = policy.headroom.absolute_gbps if metric == PlanMetric.NETWORK_GBPS else 0.0
        value = policy.headroom.apply(value, absolute=absolute)
    evidence = Evidence(
        metric=str(metric),
        forecast=dict(fc.quantiles),
        interval=interval,
        quantile=q,
        peak_at=fc.peak_at,
    )
    return Need(max(0.0, value), evidence)
