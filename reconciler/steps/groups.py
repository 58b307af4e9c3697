"""Analyze and compose steps: traffic graph -> communities and hubs -> groups with stable ids.

Thin adapters over ``reconciler.analysis`` and ``reconciler.groups``: map the policy onto their
configs, keep the traffic graph for remediation's drift check and the report, and turn the
composer's groups into the step view.

Remediation records a ``remediate.recompose`` action (status ``planned``) when a congested
group's membership no longer matches its traffic; the next compose step takes it up: the
composer re-forms that group from the cycle's communities at once, and the action is marked
applied with the events it caused, or skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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
    GroupEvent,
    GroupKind,
    ManualGroup,
    compose,
    resolve_members,
)
from reconciler.steps.types import Analysis, Group, GroupChange, GroupSet, Recomposed

if TYPE_CHECKING:
    from reconciler.state import CommandRecord, GroupRecord, StateStore

__all__ = [
    "RECOMPOSE_COMMAND",
    "PendingRecomposes",
    "Recomposed",
    "analysis_config",
    "class_of",
    "composer_config",
    "manual_groups",
    "membership_drift",
    "pending_recomposes",
    "run_analysis",
    "run_compose",
]


#: How the recorder stores remediation's recompose action (``remediate.<kind>``).
RECOMPOSE_COMMAND = "remediate.recompose"
#: Stored group events that change a group's membership (not an operator's ``overridden``).
_COMPOSITION_EVENTS = frozenset({"formed", "grew", "shrank", "merged", "split", "dissolved"})


@dataclass(frozen=True)
class PendingRecomposes:
    """The recompose actions the compose step takes up this cycle, and those it skips because
    their group's membership has changed since they were recorded (``superseded``)."""

    actions: tuple[CommandRecord, ...] = ()
    superseded: tuple[Recomposed, ...] = ()


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
                ManualGroup(
                    id=f"manual-{mg.name}",
                    name=mg.name,
                    members=members,
                    group_class=mg.group_class,
                )
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
            result=result,
        ),
        graph,
    )


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def pending_recomposes(store: StateStore) -> PendingRecomposes:
    """The recompose actions remediation recorded and no cycle has taken up: ``planned``, of
    runs that succeeded (not dry runs), and no older than their group's last composition (its
    newest stored membership event); an older one is superseded by that change."""
    actions: list[CommandRecord] = []
    superseded: list[Recomposed] = []
    last: dict[str, tuple[str, datetime] | None] = {}
    for action in store.planned_commands(RECOMPOSE_COMMAND):
        gid = action.target
        if gid not in last:
            events = store.recent_events(gid, 20)
            last[gid] = next(
                ((e.kind, _utc(e.at)) for e in events if e.kind in _COMPOSITION_EVENTS), None
            )
        changed, made = last[gid], action.created_at
        if action.id is None:
            continue
        if changed is not None and made is not None and _utc(made) < changed[1]:
            why = f"superseded: {gid} {changed[0]} at {changed[1].isoformat()}, after it was made"
            superseded.append(Recomposed(action.id, gid, "skipped", why))
        else:
            actions.append(action)
    return PendingRecomposes(tuple(actions), tuple(superseded))


def _recompose_outcomes(
    prev: ComposerState | None,
    actions: Sequence[CommandRecord],
    events: Sequence[GroupEvent],
    cycle: int,
) -> list[Recomposed]:
    """Each action applied, with the events its group's re-formation caused; or skipped when
    its group is gone or is not composed from traffic."""
    out: list[Recomposed] = []
    for a in actions:
        assert a.id is not None
        gid = a.target
        group = prev.groups.get(gid) if prev is not None else None
        if group is None:
            why = f"{gid} no longer exists: dissolved or merged before the recompose was taken up"
            out.append(Recomposed(a.id, gid, "skipped", why))
            continue
        if group.kind != GroupKind.DISCOVERED:
            why = f"{gid} is a {group.kind} group: its members are not composed from traffic"
            out.append(Recomposed(a.id, gid, "skipped", why))
            continue
        had = set(group.members)
        caused = [
            f"{e.kind} {e.group_id}: {e.reason}"
            for e in events
            if e.group_id == gid or gid in e.related or had & set(e.added)
        ]
        done = "; ".join(caused) or "its membership already matched its community"
        out.append(Recomposed(a.id, gid, "applied", f"recomposed at cycle {cycle}: {done}"))
    return out


def run_compose(
    prev: Any,
    result: AnalysisResult,
    inventory: Sequence[Resource],
    now: datetime,
    policy: Any,
    operator: Sequence[GroupRecord] = (),
    recompose: PendingRecomposes | None = None,
    names: Mapping[str, str] | None = None,
) -> GroupSet:
    """Compose this cycle's groups from the previous composer state (JSON or model), keeping
    the groups an operator made through the API (``operator``) as manual groups. Every group
    gets its class: a manual group the one it was declared with, the others the default. The
    groups of the ``recompose`` actions are re-formed from this cycle's communities at once.
    Every group keeps its name; ``names`` (group id -> name) are the operators' renames."""
    state = ComposerState.model_validate(prev) if prev else None
    if state is not None and state.at is not None and now <= state.at:
        state = state.model_copy(update={"at": None})  # a replayed cycle: keep ids, not time
    pending = recompose or PendingRecomposes()
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
        recompose=sorted({a.target for a in pending.actions}),
        names=names,
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
    outcomes = _recompose_outcomes(state, pending.actions, events, new.cycle)
    return GroupSet(
        groups=tuple(groups),
        events=changes,
        dissolved=dissolved,
        state=new.model_dump(mode="json"),
        composer_events=tuple(events),
        recomposes=(*pending.superseded, *outcomes),
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
