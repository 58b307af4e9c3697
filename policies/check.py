"""Second validation pass: does a structurally valid policy make sense for this provider?

Checks instance families and sizes against the provider's catalog, regions against the regions
the provider serves, and that budgets add up (regional guarantees fit the global pool, class
guarantees fit the pools, edge cache node types exist).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from policies.actions import EdgeCacheAction, ResizeAction, RoutingAction
from policies.loader import PolicyIssue
from policies.schema import Policy
from providers.models import InstanceType

__all__ = ["check_against"]

_EPS = 1e-9


def check_against(
    policy: Policy,
    catalog: Mapping[str, InstanceType],
    regions: Iterable[str],
    *,
    source: str = "<policy>",
) -> list[PolicyIssue]:
    """Every meaning problem of ``policy`` given the provider's catalog and regions."""
    known_regions = set(regions)
    issues: list[PolicyIssue] = []

    def add(path: str, message: str) -> None:
        issues.append(PolicyIssue(source, None, path, message))

    pools = policy.pools
    for name, pool in pools.regions.items():
        if known_regions and name not in known_regions:
            add(f"pools.regions.{name}", f"region {name!r} is not served by the provider")
        if pool.capacity_gbps > pools.global_gbps + _EPS:
            add(
                f"pools.regions.{name}.capacity_gbps",
                f"{pool.capacity_gbps} Gbps is above the global pool {pools.global_gbps} Gbps",
            )
    guaranteed = sum(r.guaranteed_gbps for r in pools.regions.values())
    if guaranteed > pools.global_gbps + _EPS:
        add(
            "pools.regions",
            f"regional guarantees add up to {guaranteed:g} Gbps, above the global pool "
            f"{pools.global_gbps:g} Gbps",
        )
    smallest_region = min(r.capacity_gbps for r in pools.regions.values())
    for name, cls in policy.group_classes.items():
        if cls.guarantee_gbps > smallest_region + _EPS:
            add(
                f"group_classes.{name}.guarantee_gbps",
                f"{cls.guarantee_gbps:g} Gbps cannot fit the smallest regional pool "
                f"({smallest_region:g} Gbps)",
            )
    manual = policy.group_selection.manual_groups
    per_region: dict[str, float] = {}
    for group in manual:
        cls = policy.group_class(group.group_class)
        where = group.region or "*"
        per_region[where] = per_region.get(where, 0.0) + cls.guarantee_gbps
    for where, total in per_region.items():
        capacity = pools.global_gbps if where == "*" else pools.regions[where].capacity_gbps
        if total > capacity + _EPS:
            add(
                "group_selection.manual_groups",
                f"manual groups in {where} guarantee {total:g} Gbps, above capacity {capacity:g}",
            )

    families = {t.family for t in catalog.values()}
    for i, action in enumerate(policy.actions):
        path = f"actions[{i}]"
        if isinstance(action, ResizeAction):
            for fam in action.families:
                if fam not in families:
                    add(f"{path}.families", f"instance family {fam!r} is not in the catalog")
            if action.largest_size is not None:
                sizes = {t.size for t in catalog.values() if t.family in action.families}
                if sizes and action.largest_size not in sizes:
                    add(
                        f"{path}.largest_size",
                        f"size {action.largest_size!r} does not exist in {action.families}",
                    )
        elif isinstance(action, EdgeCacheAction):
            for cache_region in action.regions:
                if cache_region not in pools.regions:
                    add(f"{path}.regions", f"region {cache_region!r} has no pool in pools.regions")
        elif isinstance(action, RoutingAction) and len(pools.regions) < 2:
            add(path, "routing across regions needs at least two regional pools")
    return issues
