"""Turn forecasts into allocator input: pick the class's quantile, add headroom, attach terms.

Prediction, sizing and policy capping stay apart (VPA's estimator / capping split): this module
only chooses a quantile and adds the policy's margin; ceilings are the allocator's job.
"""

from __future__ import annotations

from policies.schema import Policy
from reconciler.allocation.models import GroupDemand
from reconciler.allocation.quantile import QuantileMap, provisioning_quantile, quantile_at

__all__ = ["demand_for"]


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
    sized = provisioning_quantile(policy, cls_name, "network_gbps")
    value = quantile_at(quantiles, sized.quantile)
    return GroupDemand(
        group_id=group_id,
        region=region,
        demand_gbps=max(0.0, policy.headroom.apply(value)),
        guarantee_gbps=cls.guarantee_gbps,
        ceiling_gbps=cls.ceiling_gbps,
        priority=cls.priority,
        weight=cls.weight,
        group_class=cls_name,
        quantile=sized.quantile,
        quantile_basis=sized.basis,
    )
