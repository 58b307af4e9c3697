"""Analyze and compose steps: traffic graph -> communities and hubs -> groups with stable ids.

Thin adapters over ``reconciler.analysis`` and ``reconciler.groups``: map the policy onto their
configs, keep the traffic graph for remediation's drift check and the report, and turn the
composer's groups into the step view.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from providers.models import Resource
from reconciler.analysis import (
    AnalysisConfig,
    AnalysisResult,
    TrafficGraph,
    analyze_graph,
    build_traffic_graph,
)
from reconciler.groups import (
    ComposerConfig,
    ComposerState,
    GroupKind,
    ManualGroup,
    compose,
    resolve_members,
)
from reconciler.steps.types import Analysis, Group, GroupChange, GroupSet

if TYPE_CHECKING:
    from reconciler.state import GroupRecord

__all__ = [
    "analysis_config",
    "class_of",
    "composer_config",
    "manual_groups",
    "membership_drift",
    "run_analysis",
    "run_compose",
]

_KIND = {
    GroupKind.DISCOVERED: "application",
    GroupKind.MANUAL: "manual",
    GroupKind.TENANT: "tenant",
    GroupKind.SHARED_SERVICES: "shared",
}


def analysis_config(policy: Any, *, hub_min_partners: int | None = None) -> AnalysisConfig:
    """The analysis parameters the policy's ``group_selection`` names."""
    sel = policy.group_selection
    return AnalysisConfig(
        lookback=sel.traffic.lookback,
        half_life=sel.traffic.decay_half_life,
        leiden_resolution=sel.traffic.resolution,
        hard_tag_keys=tuple(sel.tag_keys.hard),
        soft_tag_keys=tuple(k for k in sel.tag_keys.soft if k not in sel.tag_keys.hard),
        hub_min_partners=hub_min_partners or max(2, min(sel.traffic.hub_min_degree, 8)),
    )


def composer_config(policy: Any) -> ComposerConfig:
    sel = policy.group_selection
    return ComposerConfig(
        form_cycles=sel.traffic.form_cycles,
        dissolve_cycles=sel.traffic.dissolve_cycles,
        tenant_tag_keys=tuple(sel.tenant_tag_keys),
    )


def manual_groups(
    policy: Any, inventory: Sequence[Resource], operator: Sequence[GroupRecord] = ()
) -> list[ManualGroup]:
    """The policy's manual groups, then the groups an operator made through the API
    (``operator``, oldest first), each with its class and its members (tag matches resolved
    against the inventory). A resource an earlier group holds is left out of an API group, so
    one operator's overlap cannot fail the cycle."""
    out: list[ManualGroup] = []
    for mg in policy.group_selection.manual_groups:
        members = resolve_members(mg.members, mg.match_tags, inventory)
        if members:
            out.append(
                ManualGroup(id=f"manual-{mg.name}", members=members, group_class=mg.group_class)
            )
    claimed = {m for g in out for m in g.members}
    for rec in sorted(operator, key=lambda r: (r.created_at, r.id)):
        members = tuple(
            m for m in resolve_members(rec.members, rec.tag_selector, inventory) if m not in claimed
        )
        if members:
            claimed.update(members)
            out.append(
                ManualGroup(
                    id=rec.id,
                    name=rec.name,
                    members=members,
                    group_class=rec.policy_class,
                    reason=f"made through the API as {rec.name!r}",
                )
            )
    return out


def class_of(policy: Any, group_class: str | None) -> str:
    """The policy class a group is allocated in: the one it was given, when the policy has it,
    else the policy's default class."""
    if group_class is not None and group_class in policy.group_classes:
        return group_class
    return str(policy.default_class)


def run_analysis(
    edges: pl.DataFrame,
    inventory: Sequence[Resource],
    now: datetime,
    config: AnalysisConfig,
    group_of: dict[str, str] | None = None,
) -> tuple[Analysis, TrafficGraph]:
    """The traffic graph, its communities and hubs, and each resource's traffic anomalies in
    ``edges`` (``group_of``: resource -> the group it was in, to name it in each anomaly)."""
    from reconciler.analysis import resource_anomalies
    from reconciler.steps.types import Anomaly

    graph = build_traffic_graph(edges, inventory, now=now, config=config)
    result = analyze_graph(graph, config=config)
    found = resource_anomalies(
        edges, [r.id for r in inventory], now=now, config=config, group_of=group_of
    )
    return (
        Analysis(
            nodes=result.node_count,
            edges=result.edge_count,
            anomaly_events=tuple(
                Anomaly(
                    kind=e.kind,
                    resource_id=e.resource_id,
                    group_id=e.group_id,
                    at=e.at,
                    score=e.score,
                    value=e.value,
                    expected=e.expected,
                    reason=e.reason,
                )
                for e in found
            ),
            graph_edges=graph.edges.select("src", "dst", "bytes"),
            raw=result,
        ),
        graph,
    )


def run_compose(
    prev: Any,
    result: AnalysisResult,
    inventory: Sequence[Resource],
    now: datetime,
    policy: Any,
    operator: Sequence[GroupRecord] = (),
) -> GroupSet:
    """Compose this cycle's groups from the previous composer state (JSON or model), keeping
    the groups an operator made through the API (``operator``) as manual groups. Every group
    gets its class: a manual group the one it was declared with, the others the default."""
    state = ComposerState.model_validate(prev) if prev else None
    if state is not None and state.at is not None and now <= state.at:
        state = state.model_copy(update={"at": None})  # a replayed cycle: keep ids, not time
    new, events = compose(
        state,
        [c.members for c in result.communities],
        at=now,
        config=composer_config(policy),
        weights=result.strength,
        confidence=[c.confidence for c in result.communities],
        hubs=result.hub_nodes,
        manual=manual_groups(policy, inventory, operator),
        inventory=inventory,
    )
    region_of = {r.id: r.region for r in inventory}
    kind_of = {r.id: r.kind for r in operator}  # an API "tenant" group stays one
    groups = []
    for g in sorted(new.groups.values(), key=lambda g: g.id):
        regions = [region_of[m] for m in g.members if m in region_of]
        region = max(set(regions), key=regions.count) if regions else "unknown"
        groups.append(
            Group(
                id=g.id,
                kind=kind_of.get(g.id) or _KIND.get(g.kind, str(g.kind)),
                members=tuple(g.members),
                region=region,
                confidence=g.confidence,
                name=g.name,
                group_class=class_of(policy, g.group_class),
            )
        )
    changes = tuple(GroupChange(e.group_id, str(e.kind), e.reason) for e in events)
    dissolved = tuple(e.group_id for e in events if str(e.kind) == "dissolved")
    return GroupSet(
        groups=tuple(groups),
        events=changes,
        dissolved=dissolved,
        state=new.model_dump(mode="json"),
        raw=events,
    )


def membership_drift(graph: TrafficGraph, groups: GroupSet, hubs: set[str]) -> dict[str, float]:
    """Per application group: the share of its members' traffic (hubs and external excluded)
    that crosses the group boundary. High drift means membership no longer matches traffic."""
    owner = {m: g.id for g in groups.groups if g.kind == "application" for m in g.members}
    if not owner or graph.edges.height == 0:
        return {}
    e = graph.edges.filter(~pl.col("src").is_in(hubs) & ~pl.col("dst").is_in(hubs))
    e = e.filter(~pl.col("src").str.starts_with("external:"))
    e = e.filter(~pl.col("dst").str.starts_with("external:"))
    mapping = pl.DataFrame({"node": list(owner), "g": list(owner.values())})
    e = e.join(mapping.rename({"node": "src", "g": "gs"}), on="src", how="left")
    e = e.join(mapping.rename({"node": "dst", "g": "gd"}), on="dst", how="left")
    rows = (
        pl.concat(
            [
                e.select(
                    pl.col("gs").alias("g"), (pl.col("gs") != pl.col("gd")).alias("x"), "weight"
                ),
                e.select(
                    pl.col("gd").alias("g"), (pl.col("gs") != pl.col("gd")).alias("x"), "weight"
                ),
            ]
        )
        .drop_nulls("g")
        .with_columns(pl.col("x").fill_null(True))
        .group_by("g")
        .agg(
            (pl.col("weight") * pl.col("x").cast(pl.Float64)).sum().alias("cross"),
            pl.col("weight").sum().alias("total"),
        )
    )
    return {
        str(g): (c / t if t > 0 else 0.0)
        for g, c, t in rows.select("g", "cross", "total").iter_rows()
    }
