"""Second validation pass: does a structurally valid policy make sense for this provider?

Two kinds of check. Those that need no provider always run: budgets add up (regional guarantees
fit the global pool, class guarantees fit the pools), edge caches sit in regions with a pool and
name a well-formed ElastiCache node type, routing has regions to route between. Those that need
the provider run when its catalog (and regions) are given: instance families exist, the
``largest_size`` cap leaves each allowed family a size, pools are in regions the provider serves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from policies.actions import EdgeCacheAction, ResizeAction, RoutingAction
from policies.check_azure import azure_issues
from policies.check_gcp import gcp_issues
from policies.loader import PolicyIssue
from policies.schema import Policy
from providers.models import InstanceType
from providers.sizes import size_rank

__all__ = ["CACHE_NODE_TYPE", "check_against"]

_EPS = 1e-9

#: ElastiCache node types are ``cache.<family>.<size>``: a family such as ``t4g``, ``m7g``,
#: ``r6gd`` or ``c7gn`` (letters, generation digits, attribute letters) and a size ``micro``,
#: ``small``, ``medium``, ``large``, ``xlarge`` or ``<n>xlarge``. The provider contract exposes
#: no cache node catalog, so this is the check; ElastiCache rejects a well-formed name it lacks.
CACHE_NODE_TYPE = re.compile(
    r"cache\.[a-z]+[0-9]+[a-z]*\.(?:micro|small|medium|large|[0-9]*xlarge)"
)


def check_against(
    policy: Policy,
    catalog: Mapping[str, InstanceType] | None,
    regions: Iterable[str] = (),
    *,
    source: str = "<policy>",
) -> list[PolicyIssue]:
    """Every meaning problem of ``policy``.

    The provider-independent checks always run. ``catalog`` None skips the instance family and
    size checks; empty ``regions`` skips the check that pools are in served regions.
    """
    issues: list[PolicyIssue] = []

    def add(path: str, message: str) -> None:
        issues.append(PolicyIssue(source, None, path, message))

    known_regions = set(regions)
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
    per_region: dict[str, float] = {}
    for group in policy.group_selection.manual_groups:
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

    for i, action in enumerate(policy.actions):
        path = f"actions[{i}]"
        if isinstance(action, ResizeAction) and catalog is not None:
            for field, message in _resize_problems(action, catalog):
                add(f"{path}.{field}", message)
        elif isinstance(action, EdgeCacheAction):
            for cache_region in action.regions:
                if cache_region not in pools.regions:
                    add(f"{path}.regions", f"region {cache_region!r} has no pool in pools.regions")
            if not CACHE_NODE_TYPE.fullmatch(action.node_type):
                add(
                    f"{path}.node_type",
                    f"{action.node_type!r} is not an ElastiCache node type "
                    "(cache.<family>.<size>, e.g. cache.r7g.large)",
                )
        elif isinstance(action, RoutingAction) and len(pools.regions) < 2:
            add(path, "routing across regions needs at least two regional pools")
    issues += gcp_issues(policy, catalog, known_regions, source=source)  # GCP names
    issues += azure_issues(policy, catalog, known_regions, source=source)  # Azure names
    return issues


def _resize_problems(
    action: ResizeAction, catalog: Mapping[str, InstanceType]
) -> list[tuple[str, str]]:
    """(field, message) for families missing from the catalog and a cap that admits nothing.

    The planner caps each family by size order (``providers.sizes.size_rank``), so a family
    without the exact ``largest_size`` is still capped; what cannot work is a size name outside
    the naming scheme that no allowed family has, or a family with no size at or below the cap.
    """
    sizes: dict[str, set[str]] = {}
    for t in catalog.values():
        sizes.setdefault(t.family.lower(), set()).add(t.size)  # policy families are lower-case
    out: list[tuple[str, str]] = []
    cap = action.largest_size
    limit = size_rank(cap) if cap is not None else None
    known = [fam for fam in action.families if fam in sizes]
    for fam in action.families:
        if fam not in sizes:
            out.append(("families", f"instance family {fam!r} is not in the catalog"))
    if cap is None or not known:
        return out
    if limit is None:
        if not any(cap in sizes[fam] for fam in known):
            out.append(
                (
                    "largest_size",
                    f"size {cap!r} is not a known size name and no allowed family has it "
                    f"(families: {', '.join(known)})",
                )
            )
        return out
    for fam in known:
        ranks = [r for r in (size_rank(s) for s in sizes[fam]) if r is not None]
        if ranks and min(ranks) > limit:
            out.append(
                (
                    "largest_size",
                    f"family {fam!r} has no size at or below {cap!r} "
                    f"(catalog sizes: {', '.join(sorted(sizes[fam]))})",
                )
            )
    return out
